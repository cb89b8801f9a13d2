"""Notifiers that ship with lw-remediate.

They are plugins like any other: each module here implements
``lw_remediate_notifiers`` and is registered by :func:`lw_remediate.plugins.load_notifiers`
before the installed plugins, through the same hook.
"""

from __future__ import annotations

#: Modules registered as built-in plugins, in this order.
BUILTIN_NOTIFIERS: tuple[str, ...] = ("lw_remediate.notify.slack",)
