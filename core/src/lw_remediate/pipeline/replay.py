"""Replay: run saved payloads through the pipeline once, now (no HTTP, no queue)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

import structlog

from ..ingest.alerts import Alert, Shape
from ..model import ActionRecord
from .engine import Engine

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class SeenDelivery:
    """A replayed alert whose delivery was already in the store (not run again)."""

    delivery_key: str
    inbox_id: int
    state: str

    def describe(self) -> str:
        return (
            f"{self.delivery_key} is already in the store (inbox {self.inbox_id}, {self.state}); "
            "not run again (pass --again to run it once more)"
        )


@dataclass
class Replayed:
    """What :meth:`Engine.replay` ran, and which alerts it left alone as already seen."""

    records: list[ActionRecord] = field(default_factory=list)
    #: Delivery keys of the alerts that ran (in order).
    ran: list[str] = field(default_factory=list)
    already_seen: list[SeenDelivery] = field(default_factory=list)


async def replay(engine: Engine, alerts: Iterable[Alert], *, again: bool = False) -> Replayed:
    """Run alerts through the pipeline once, now (no HTTP, no queue).

    An alert whose delivery (``<shape>:<event id>``) is already in the store -- replayed
    before, or received by the daemon -- is not run again and not answered with the
    earlier result: it is listed in :attr:`Replayed.already_seen`. With ``again`` it
    runs once more as a new delivery (its own inbox row, so new actions).
    """
    result = Replayed()
    for alert in alerts:
        if alert.shape is Shape.TEST:
            continue
        key = alert.delivery_key
        ((inbox_id, created),) = await engine.store.enqueue(
            [(key, str(alert.shape), alert.event_id, dict(alert.raw))]
        )
        if not created:
            earlier = await engine.store.get_inbox(inbox_id)
            if not again:
                result.already_seen.append(
                    SeenDelivery(key, inbox_id, earlier.state if earlier else "unknown")
                )
                log.info("replay_already_seen", delivery_key=key, inbox_id=inbox_id)
                continue
            ((inbox_id, _),) = await engine.store.enqueue(
                [
                    (
                        f"{key}#again-{uuid.uuid4().hex[:12]}",
                        str(alert.shape),
                        alert.event_id,
                        dict(alert.raw),
                    )
                ]
            )
            log.info("replay_again", delivery_key=key, inbox_id=inbox_id)
        enriched = await engine.enrich_alert(alert)
        result.records.extend(await engine.handle_enriched(enriched, inbox_id=inbox_id))
        await engine.store.mark_inbox(inbox_id, "done")
        result.ran.append(key)
    return result
