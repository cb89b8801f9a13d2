"""Finishing what a dead instance left, on a store several instances share (PostgreSQL).

Every unfinished action carries its owner's lease, renewed while the owner lives. The
worker of every instance asks the store, every half lease, for the actions whose lease
ran out (:meth:`Store.orphaned_actions` hands each to one instance) and finishes each
like a restart would: verify first when its apply had started, else run it again from
``check``. On SQLite there are never any (one daemon per file; a restart resumes).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import structlog

from ..model import ActionRecord
from .runner import describe_error

if TYPE_CHECKING:
    from .engine import Engine

log = structlog.get_logger(__name__)


async def take_over(engine: Engine) -> list[asyncio.Task[None]]:
    """Start finishing every action a dead process left; the tasks doing it."""
    try:
        orphaned = await engine.store.orphaned_actions()
    except Exception as exc:  # noqa: BLE001 - the store may come back; next round
        log.error("take_over_failed", error=describe_error(exc))
        return []
    if orphaned:
        log.info("taking_over", unfinished_actions=len(orphaned))
    return [asyncio.create_task(resume_orphan(engine, row.record)) for row in orphaned]


async def resume_orphan(engine: Engine, record: ActionRecord) -> None:
    """Finish one; its holder may only have been slow to renew, so once the resource
    lock is free, only if it is still unfinished (never run a done one again)."""
    try:
        async with engine.resource_lock(record.violation):
            row = await engine.store.get_action(record.id or "")
        if row is None or row.record.state in ("done", "awaiting_approval"):
            return
        await engine.resume(row.record)
    except Exception as exc:  # noqa: BLE001 - one action, never the worker
        log.error("resume_failed", action_id=record.id, error=describe_error(exc))
