"""The SQLite store's thread: order, results and failures per call, batching."""

from __future__ import annotations

import asyncio
import threading

import pytest

from lw_remediate.store.sqlite_thread import StoreThread


async def test_calls_run_in_order_each_with_its_own_result_or_error() -> None:
    thread = StoreThread()
    seen: list[int] = []

    def call(i: int) -> int:
        seen.append(i)
        if i % 7 == 3:
            raise ValueError(f"call {i} failed")
        return i * 10

    futures = [thread.run(lambda i=i: call(i)) for i in range(40)]
    results = await asyncio.gather(*futures, return_exceptions=True)
    thread.shutdown()
    assert seen == list(range(40))
    for i, result in enumerate(results):
        if i % 7 == 3:
            assert isinstance(result, ValueError) and str(result) == f"call {i} failed"
        else:
            assert result == i * 10


async def test_calls_queued_while_the_thread_is_busy_share_one_batch() -> None:
    thread = StoreThread()
    started, release = threading.Event(), threading.Event()

    def blocker() -> str:
        started.set()
        release.wait(timeout=30)
        return "first"

    first = thread.run(blocker)
    await asyncio.to_thread(started.wait, 30)
    rest = [thread.run(lambda i=i: i) for i in range(25)]
    release.set()
    assert await first == "first"
    assert await asyncio.gather(*rest) == list(range(25))
    thread.shutdown()
    assert thread.batches == 2  # the blocker alone, then the 25 queued behind it


async def test_a_cancelled_caller_does_not_stop_the_others() -> None:
    thread = StoreThread()
    started, release = threading.Event(), threading.Event()

    def blocker() -> None:
        started.set()
        release.wait(timeout=30)

    first = thread.run(blocker)
    await asyncio.to_thread(started.wait, 30)
    ran: list[str] = []
    cancelled = thread.run(lambda: ran.append("cancelled caller's call"))
    kept = thread.run(lambda: ran.append("kept") or "kept")
    cancelled.cancel()
    release.set()
    await first
    assert await kept == "kept"
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    thread.shutdown()
    # the call itself still ran (as with run_in_executor): only its answer is dropped
    assert ran == ["cancelled caller's call", "kept"]


async def test_a_call_after_shutdown_fails_at_once_and_so_does_the_next() -> None:
    thread = StoreThread()
    assert await thread.run(lambda: "before") == "before"
    thread.shutdown()
    for _ in range(2):  # the second is refused too, instead of waiting for ever
        with pytest.raises(RuntimeError, match="shutdown"):
            thread.run(lambda: "after")
