"""The old name of :mod:`lw_remediate.plugins`, kept because map test suites import it.

New code imports :mod:`lw_remediate.plugins`.
"""

from __future__ import annotations

from .plugins import MapRegistry, RuleIndex, load_maps, load_notifiers, plugin_manager

__all__ = ["MapRegistry", "RuleIndex", "load_maps", "load_notifiers", "plugin_manager"]
