"""The store: inbox, violations, actions and the audit trail, behind one interface.

SQLite (one WAL file) is the embedded default; the :class:`Store` protocol is what
the daemon uses, so a PostgreSQL backend can follow without touching the pipeline.
"""

from __future__ import annotations

from .base import ActionRow, AuditEvent, InboxRow, Store
from .sqlite import SqliteStore

__all__ = ["ActionRow", "AuditEvent", "InboxRow", "SqliteStore", "Store", "open_store"]


def open_store(path: str) -> SqliteStore:
    """The default store for a path (``:memory:`` for a throwaway one)."""
    return SqliteStore(path)
