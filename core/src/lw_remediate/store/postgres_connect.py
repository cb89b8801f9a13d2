"""Connecting to the PostgreSQL store: TLS, who an instance is, and the schema check
the start-up runs before the store opens (see :mod:`.postgres`)."""

from __future__ import annotations

import os
import socket
import ssl
import uuid

import asyncpg

from ..errors import StoreUnavailable
from ..redact import redact
from .postgres_schema import LATEST, current_version


def instance_id() -> str:
    """Who holds a lease: host, process and a random part (a restarted process is new)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def ssl_context(root_cert: str | None) -> ssl.SSLContext | None:
    """TLS that verifies the server against ``root_cert`` (a CA bundle file), or None
    to let the URL's ``sslmode`` decide."""
    if not root_cert:
        return None
    return ssl.create_default_context(cafile=root_cert)


async def schema_status(
    url: str, *, ssl_root_cert: str | None = None, timeout: float = 10.0
) -> tuple[int, int]:
    """Connect once, as the daemon would, and read the schema version: (the database's,
    this release's). Raise :class:`StoreUnavailable` with the reason (no secrets)."""
    ctx = ssl_context(ssl_root_cert)
    try:
        conn = await asyncpg.connect(url, timeout=timeout, **({"ssl": ctx} if ctx else {}))
    except TimeoutError:
        raise StoreUnavailable(f"cannot connect: no answer within {timeout:g} s") from None
    except (OSError, ValueError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise StoreUnavailable(f"cannot connect: {redact(str(exc))}") from None
    try:
        return await current_version(conn), LATEST
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise StoreUnavailable(f"cannot read the schema version: {redact(str(exc))}") from None
    finally:
        await conn.close()
