"""The ``lw-remediate`` command line (click).

:mod:`.main` holds the group and the commands that inspect or run the daemon,
:mod:`.control` the operator controls, :mod:`.sweep` the sweep, :mod:`.demo` the
simulated end-to-end run, :mod:`.options` the options they share.
"""

from __future__ import annotations

from .main import cli, main

__all__ = ["cli", "main"]
