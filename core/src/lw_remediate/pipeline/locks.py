"""One action per resource at a time.

In this process an asyncio lock per resource (so one waiter per resource reaches the
store), then the store's own lock: nothing on SQLite (one daemon per file), an
advisory lock on PostgreSQL, held across every instance sharing the database and
released by the server if the instance dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator

from ..model import Violation
from ..store import Store


class ResourceLocks:
    """The per-resource locks of one engine."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    @contextlib.asynccontextmanager
    async def hold(self, violation: Violation) -> AsyncIterator[None]:
        """Held while an action changes ``violation``'s resource."""
        key = f"{violation.account_id}|{violation.resource_arn}"
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        async with lock, self.store.resource_lock(key):
            yield
