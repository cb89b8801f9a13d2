"""Long-lived AWS clients: one per (account, region, service, credentials, endpoint).

Creating an aiobotocore client costs milliseconds of CPU (event-hook registration,
endpoint ruleset, credential resolution, TLS context); an action needs a few calls.
The :class:`ClientPool` keeps each client for as long as its credentials are good:
an entry whose credentials expire is closed once no action holds it, and
:meth:`ClientPool.close` closes them all at shutdown.

Clients are shared between concurrent actions, so the per-action call recording
(audit trail, least-privilege kit) is not a hook per client: the hooks every client
gets read the recording of the action that is running from a :mod:`contextvars`
variable (:func:`recording`), which each asyncio task carries on its own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Hashable, Iterator, Mapping, Sequence
from contextlib import (
    AbstractAsyncContextManager,
    AsyncExitStack,
    asynccontextmanager,
    contextmanager,
)
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from ..calls import AwsCall
from ..model import RecordedCall
from .iam_actions import dependent_actions, resolve

CallSink = Callable[[RecordedCall], None]


@dataclass(frozen=True)
class Recording:
    """Where the AWS calls of the running action go, and how to name their resources."""

    sink: CallSink
    account: str
    region: str
    partition: str = "aws"
    declared: Sequence[AwsCall] = ()


_RECORDING: ContextVar[Recording | None] = ContextVar("lw_remediate_aws_recording", default=None)


@contextmanager
def recording(value: Recording | None) -> Iterator[None]:
    """Record the AWS calls made in this block (this task and tasks it starts) into
    ``value`` (None: record nothing), whichever client makes them."""
    token = _RECORDING.set(value)
    try:
        yield
    finally:
        _RECORDING.reset(token)


def attach_recorder(client: Any, service: str) -> None:
    """Register, once per client, the hooks that record each call into the current
    :class:`Recording` (calls made outside any recording are not recorded)."""

    def before(params: Mapping[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        rec = _RECORDING.get()
        if rec is None:
            return
        action, resource = resolve(
            service,
            model.name,
            params,
            account=rec.account,
            partition=rec.partition,
            region=rec.region,
            declared=rec.declared,
        )
        # Dependent actions AWS checks inside the call are recorded next to it.
        dependent = dependent_actions(
            service,
            model.name,
            params,
            account=rec.account,
            partition=rec.partition,
            region=rec.region,
            declared=rec.declared,
        )
        context["lw_remediate_call"] = (
            rec,
            model.name,
            [(action, resource, False), *((a, r, True) for a, r in dependent)],
        )

    def after(parsed: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
        call = context.get("lw_remediate_call")
        if call is None:
            return
        rec, operation, authorised = call
        error = parsed.get("Error", {}).get("Code") if isinstance(parsed, Mapping) else None
        for action, resource, dependent in authorised:
            rec.sink(
                RecordedCall(
                    service=service,
                    operation=operation,
                    action=action,
                    resource=resource,
                    error=error,
                    dependent=dependent,
                )
            )

    events = client.meta.events
    events.register("before-parameter-build", before)
    events.register("after-call", after)


@dataclass
class _Entry:
    client: Any
    stack: AsyncExitStack
    expires_at: float | None
    in_use: int = 0
    retired: bool = False

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at


@dataclass
class ClientPool:
    """Clients reused across actions until their credentials expire or the pool closes."""

    clock: Callable[[], float] = time.monotonic
    _entries: dict[Hashable, _Entry] = field(default_factory=dict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _retired: list[_Entry] = field(default_factory=list)
    #: Clients created so far (for tests and the benchmarks).
    created: int = 0

    def __len__(self) -> int:
        return len(self._entries)

    @asynccontextmanager
    async def lease(
        self,
        key: Hashable,
        make: Callable[[], AbstractAsyncContextManager[Any]],
        *,
        expires_at: float | None = None,
    ) -> AsyncIterator[Any]:
        """The client for ``key``, made with ``make()`` when there is none (or it expired)."""
        entry = self._live(key)
        if entry is None:
            async with self._lock:
                entry = self._live(key)
                if entry is None:
                    stack = AsyncExitStack()
                    client = await stack.enter_async_context(make())
                    entry = self._entries[key] = _Entry(client, stack, expires_at)
                    self.created += 1
        entry.in_use += 1
        try:
            yield entry.client
        finally:
            entry.in_use -= 1
            await self._close_retired()

    def _live(self, key: Hashable) -> _Entry | None:
        now = self.clock()
        for k, entry in list(self._entries.items()):
            if entry.expired(now):
                del self._entries[k]
                entry.retired = True
                self._retired.append(entry)
        return self._entries.get(key)

    async def _close_retired(self) -> None:
        idle = [e for e in self._retired if e.in_use == 0]
        if not idle:
            return
        self._retired = [e for e in self._retired if e.in_use > 0]
        for entry in idle:
            await entry.stack.aclose()

    async def close(self) -> None:
        """Close every client (at shutdown); the pool can be used again afterwards."""
        entries = [*self._entries.values(), *self._retired]
        self._entries.clear()
        self._retired = []
        for entry in entries:
            await entry.stack.aclose()
