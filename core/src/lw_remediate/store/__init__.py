"""The store: inbox, violations, actions, the safety envelope, sweeps and the audit
trail, behind one interface.

The pipeline, the safety envelope and the operator tools are typed against the
:class:`Store` protocol (``base.py``); SQLite (one WAL file, ``sqlite*.py``) is the
embedded default. A second backend implements the protocol and is chosen in
:class:`lw_remediate.runtime.Runtime`; nothing else needs to change.
"""

from __future__ import annotations

from .base import ActionRow, AuditEvent, InboxRow, Store, StoreJournal
from .postgres import PostgresStore
from .sqlite import SqliteStore

__all__ = [
    "ActionRow",
    "AuditEvent",
    "InboxRow",
    "PostgresStore",
    "SqliteStore",
    "Store",
    "StoreJournal",
]
