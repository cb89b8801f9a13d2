"""The ``lw-remediate`` command line (click).

:mod:`.main` holds the group and its entry point and registers the commands: one module
per command group (:mod:`.serve`, :mod:`.replay`, :mod:`.maps`, :mod:`.policy`,
:mod:`.control` the operator controls, :mod:`.sweep`, ...); :mod:`.options` holds the
options and output helpers they share.
"""

from __future__ import annotations

from .main import cli, main

__all__ = ["cli", "main"]
