"""Closing the PostgreSQL store when the server stopped answering finishes: every
connection the store made so far goes through a TCP relay on 127.0.0.1 that then
silently drops what they carry (``Relay.cut``: no close or reset reaches either side,
as after a fail-over that leaves the old primary's connections hanging). asyncpg's
graceful close would wait for ever for the server to acknowledge the end of each
connection; the store waits ``close_timeout`` (1 s here) and then drops them. Each
``close()`` is awaited with a bound far above that (:data:`BOUND`): a test of "it
finishes", not of how fast."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
import structlog

from lw_remediate.store import PostgresStore

from .pg_relay import Relay

#: What a query on a dropped connection raises.
CONNECTION_GONE = (asyncpg.PostgresConnectionError, asyncpg.InterfaceError)

#: Seconds a close may take before the test calls it hung (the store's bound is 1 s).
BOUND = 30.0


def store_tasks() -> list[str]:
    """The store's own background tasks still running."""
    return sorted(
        t.get_name()
        for t in asyncio.all_tasks()
        if t.get_name().startswith("lw-store-") and not t.done()
    )


def timeouts(logs: list[dict[str, Any]]) -> list[str]:
    events = [e for e in logs if e["event"] == "store_close_timeout"]
    assert all(e["log_level"] == "warning" and e["timeout"] == 1.0 for e in events)
    return [e["part"] for e in events]


async def opened(relay: Relay, url: str, **options: Any) -> PostgresStore:
    store = PostgresStore(relay.url(url), owner="vm-b", close_timeout=1.0, **options)
    await store.open()
    return store


async def test_close_answered_by_the_server_drops_nothing(postgres_url):
    async with Relay.before(postgres_url) as relay:
        store = await opened(relay, postgres_url)
        async with store.resource_lock("arn:aws:s3:::b"):
            pass
        with structlog.testing.capture_logs() as logs:
            await asyncio.wait_for(store.close(), BOUND)
    assert timeouts(logs) == []
    assert not relay.dropped.is_set()
    assert store_tasks() == []


async def test_close_after_a_silent_cut_drops_the_idle_connections(postgres_url):
    """The pool, the lock pool (after an action's advisory lock) and the LISTEN
    connection each hold an idle connection when the network goes silent."""
    async with Relay.before(postgres_url) as relay:
        store = await opened(relay, postgres_url)
        async with store.resource_lock("arn:aws:s3:::b"):
            pass
        assert await store.count_actions() == 0
        relay.cut()
        with structlog.testing.capture_logs() as logs:
            await asyncio.wait_for(store.close(), BOUND)
        assert not store.is_open
        assert relay.dropped.is_set()  # the graceful goodbyes went nowhere
    assert timeouts(logs) == ["listen", "lock_pool", "pool"]
    assert store_tasks() == []


async def test_close_after_a_silent_cut_during_a_lease_renewal(postgres_url):
    """The heartbeat's renewal is sent and never answered: close() drops the pool it
    holds a connection of, then cancels it."""
    async with Relay.before(postgres_url) as relay:
        store = await opened(relay, postgres_url, lease_seconds=0.3)  # renews every 0.1 s
        relay.cut()
        await asyncio.wait_for(relay.dropped.wait(), BOUND)  # a renewal is in flight
        with structlog.testing.capture_logs() as logs:
            await asyncio.wait_for(store.close(), BOUND)
    assert "pool" in timeouts(logs)
    assert store_tasks() == []


async def test_close_after_a_silent_cut_during_a_commit(postgres_url):
    """A delivery's commit is sent and never answered: close() waits for it as long
    as it may, then drops the connections; the delivery's caller hears it failed
    (it was never committed, and its sender is told so)."""
    async with Relay.before(postgres_url) as relay:
        store = await opened(relay, postgres_url)
        relay.cut()
        delivery = asyncio.create_task(store.enqueue([("classic:1", "classic", "1", {})]))
        await asyncio.wait_for(relay.dropped.wait(), BOUND)  # the commit is in flight
        with structlog.testing.capture_logs() as logs:
            await asyncio.wait_for(store.close(), BOUND)
        with pytest.raises(CONNECTION_GONE):
            await delivery
    parts = timeouts(logs)
    assert parts[0] == "enqueue" and "pool" in parts
    assert store_tasks() == []


async def test_close_after_a_silent_cut_while_an_advisory_lock_is_held(postgres_url):
    """An action holds its resource lock when the network goes silent: close() drops
    the lock pool (the server frees a session's advisory locks when it ends it), and
    the action's unlock fails rather than hangs."""
    async with Relay.before(postgres_url) as relay:
        store = await opened(relay, postgres_url)
        locked, finish = asyncio.Event(), asyncio.Event()

        async def action() -> None:
            async with store.resource_lock("arn:aws:s3:::b"):
                locked.set()
                await finish.wait()

        running = asyncio.create_task(action())
        await asyncio.wait_for(locked.wait(), BOUND)
        relay.cut()
        with structlog.testing.capture_logs() as logs:
            await asyncio.wait_for(store.close(), BOUND)
        finish.set()
        with pytest.raises(CONNECTION_GONE):
            await running
    assert "lock_pool" in timeouts(logs)
    assert store_tasks() == []


async def test_requeue_after_a_silent_cut_gives_up_and_leaves_the_claims(postgres_url):
    """The worker gives its claims back as it stops; unanswered, it leaves them to
    their leases (the next claim takes them once the leases run out)."""
    async with Relay.before(postgres_url) as relay:
        store = await opened(relay, postgres_url)
        await store.enqueue([("classic:1", "classic", "1", {})])
        assert [r.id for r in await store.claim_due(now=1e12, limit=10)]
        relay.cut()
        with structlog.testing.capture_logs() as logs:
            assert await asyncio.wait_for(store.requeue_processing(), BOUND) == 0
            await asyncio.wait_for(store.close(), BOUND)
    unanswered = [e for e in logs if e["event"] == "store_requeue_unanswered"]
    assert len(unanswered) == 1 and unanswered[0]["log_level"] == "warning"
    assert store_tasks() == []
    other = PostgresStore(postgres_url, owner="vm-a")
    await other.open()
    try:
        assert (await other.inbox_counts()).get("processing") == 1  # still claimed
    finally:
        await other.close()
