"""The PostgreSQL store LISTENs again after its LISTEN connection is lost or refused
(see also test_ha.py, where one instance's listener backend is terminated): a LISTEN
the server refuses at open is retried, and a close while it is being retried leaves
no task and no connection behind. Against the real server (``postgres_url``); the
refusal is the server's own (a role's connection limit), and a connection attempt left
unanswered goes through a small TCP relay on 127.0.0.1 that can hold new connections."""

from __future__ import annotations

import asyncio
import secrets
from urllib.parse import urlsplit

import asyncpg
import structlog

from lw_remediate.store import PostgresStore
from lw_remediate.testing.postgres import SUPERUSER

from .pg_relay import Relay

RELISTEN_TASK = "lw-store-relisten"


def relisten_tasks() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name() == RELISTEN_TASK and not t.done()]


async def limited_role(url: str, limit: int) -> tuple[str, str]:
    """A login role allowed ``limit`` connections, owning the test's database (so it
    can migrate it); its name and the database URL as that role."""
    role = f"r_{secrets.token_hex(4)}"
    database = urlsplit(url).path.lstrip("/")
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT {limit}')
        await conn.execute(f'ALTER DATABASE "{database}" OWNER TO "{role}"')
    finally:
        await conn.close()
    return role, url.replace(f"//{SUPERUSER}@", f"//{role}@", 1)


async def set_limit(url: str, role: str, limit: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'ALTER ROLE "{role}" CONNECTION LIMIT {limit}')
    finally:
        await conn.close()


async def test_a_listen_refused_at_open_is_retried_until_the_server_accepts(postgres_url):
    """The role may hold one connection: the pool's. The LISTEN connection is refused
    at open (``too many connections for role``); once the limit allows it, the store
    LISTENs, wakes its subscribers once, and is woken by a delivery through another
    instance."""
    role, url = await limited_role(postgres_url, 1)
    other = PostgresStore(postgres_url, owner="vm-a")
    store = PostgresStore(url, owner="vm-b", pool_min=1, pool_max=1)
    woken = asyncio.Event()
    store.subscribe(woken.set)
    with structlog.testing.capture_logs() as logs:
        await store.open()
        try:
            await other.open()
            failed = [e for e in logs if e["event"].startswith("store_listen")]
            assert [e["event"] for e in failed] == ["store_listen_failed"]
            assert "too many connections" in failed[0]["error"]
            assert not woken.is_set()
            await set_limit(postgres_url, role, 2)
            await asyncio.wait_for(woken.wait(), 60)  # the LISTEN is back
            assert store._listener.connection is not None
            woken.clear()
            await other.enqueue([("classic:1", "classic", "1", {})])
            await asyncio.wait_for(woken.wait(), 60)  # by NOTIFY
        finally:
            await other.close()
            await store.close()
    restored = [e for e in logs if e["event"] == "store_listen_restored"]
    assert len(restored) == 1 and restored[0]["attempts"] >= 1
    assert all(e["log_level"] == "warning" for e in logs if e["event"] == "store_relisten_failed")


async def test_close_while_the_listen_is_retried_leaves_no_task_and_no_connection(postgres_url):
    """The LISTEN is refused at open and keeps being refused: close() stops the retries."""
    _, url = await limited_role(postgres_url, 1)
    store = PostgresStore(url, owner="vm-b", pool_min=1, pool_max=1)
    await store.open()
    listener = store._listener
    assert listener.reconnecting and relisten_tasks()  # retrying in the background
    await store.close()
    assert not listener.reconnecting and listener.connection is None
    assert relisten_tasks() == []


async def test_close_while_a_new_listen_connection_hangs_closes_it(postgres_url):
    """B's LISTEN connection is lost; the server (a relay) accepts the new one but never
    answers. close() during that attempt cancels it and closes the half-open socket."""
    async with Relay.before(postgres_url) as relay:
        url = relay.url(postgres_url)
        store = PostgresStore(url, owner="vm-b")
        await store.open()
        listener = store._listener
        pid = listener.connection.get_server_pid()
        relay.hold = True
        conn = await asyncpg.connect(postgres_url)
        try:
            assert await conn.fetchval("SELECT pg_terminate_backend($1)", pid)
        finally:
            await conn.close()
        await asyncio.wait_for(relay.held.wait(), 60)  # the store is connecting again
        await store.close()
        await asyncio.wait_for(relay.released.wait(), 60)  # and gave that socket up
        assert not listener.reconnecting and listener.connection is None
        assert relisten_tasks() == []


async def test_a_listen_connection_cut_silently_is_noticed_and_replaced(postgres_url):
    """Every connection B made so far stops carrying anything, with no close or reset
    reaching either side (B's pool and LISTEN connections alike): B's probe gets no
    answer, B drops that connection and LISTENs on a new one, wakes, and is woken by
    a delivery through A again."""
    other = PostgresStore(postgres_url, owner="vm-a")
    await other.open()
    woken = asyncio.Event()
    store = None
    try:
        with structlog.testing.capture_logs() as logs:
            async with Relay.before(postgres_url) as relay:
                url = relay.url(postgres_url)
                store = PostgresStore(url, owner="vm-b", listen_probe_seconds=1.0)
                await store.open()
                store.subscribe(woken.set)
                relay.cut()
                await asyncio.wait_for(woken.wait(), 60)  # noticed, LISTENing again
                woken.clear()
                await other.enqueue([("classic:1", "classic", "1", {})])
                await asyncio.wait_for(woken.wait(), 60)  # by NOTIFY, on the new connection
    finally:
        await other.close()
        if store is not None:
            await store.close()  # after the relay: its cut connections are closed now
    events = [e["event"] for e in logs if e["event"].startswith("store_listen")]
    assert events[:3] == ["store_listen_unanswered", "store_listen_lost", "store_listen_restored"]
