"""The SQLite store's own thread: every statement runs on it, in the order asked for.

The event loop never waits on disk. Calls that arrive while the thread is busy are
taken together: the thread is woken once per batch and hands the batch's results back
to the event loop in one callback, instead of one wake-up and one callback per call
(``run_in_executor``). Under load that is most of what a store call costs the event
loop. Each call still runs alone, in order, and gets its own result or exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

_Call = tuple[Callable[[], Any], "asyncio.Future[Any]", asyncio.AbstractEventLoop]
_Done = tuple["asyncio.Future[Any]", bool, Any]


class StoreThread:
    """One worker thread that runs callables in FIFO order, in batches."""

    def __init__(self, name: str = "lw-store") -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._lock = threading.Lock()
        self._queue: deque[_Call] = deque()
        self._busy = False
        #: Batches run so far (for tests: calls queued while one ran share the next).
        self.batches = 0

    def run(self, fn: Callable[[], T]) -> asyncio.Future[T]:
        """Queue ``fn`` for the thread; the future resolves on the calling loop."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        with self._lock:
            self._queue.append((fn, fut, loop))
            if self._busy:  # the running batch loop picks it up
                return fut
            self._busy = True
        try:
            self._executor.submit(self._drain)
        except RuntimeError:  # shut down: nothing will run this call, or any after it
            with self._lock:
                self._queue.clear()
                self._busy = False
            raise
        return fut

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True)

    def _drain(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    self._busy = False
                    return
                batch = list(self._queue)
                self._queue.clear()
            self.batches += 1
            done: dict[asyncio.AbstractEventLoop, list[_Done]] = {}
            for fn, fut, loop in batch:
                try:
                    outcome: _Done = (fut, True, fn())
                except BaseException as exc:  # noqa: BLE001 - handed to its caller
                    outcome = (fut, False, exc)
                done.setdefault(loop, []).append(outcome)
            for loop, outcomes in done.items():
                with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits
                    loop.call_soon_threadsafe(_deliver, outcomes)


def _deliver(outcomes: list[_Done]) -> None:
    for fut, ok, value in outcomes:
        if fut.done():  # the caller was cancelled
            continue
        if ok:
            fut.set_result(value)
        else:
            fut.set_exception(value)
