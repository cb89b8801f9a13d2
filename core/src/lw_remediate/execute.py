"""The old name of :mod:`lw_remediate.pipeline.runner`, kept because map test suites
import :class:`Runner` from it.

New code imports :mod:`lw_remediate.pipeline.runner`.
"""

from __future__ import annotations

from .pipeline.runner import Runner

__all__ = ["Runner"]
