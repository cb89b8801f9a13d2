"""Delivery of notifications: the fan-out to every configured channel, and Slack.

The types (:class:`Notification`, :class:`Notifier`) are part of the public contract
(:mod:`lw_remediate.notification`). Notifiers are registered through the
``lw_remediate_notifiers`` hook. The core calls :meth:`Notifier.notify` for every
outcome and safety decision; a notifier that fails is logged and never blocks or fails
the action.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable

import structlog

from ..errors import NotificationFailed
from ..metrics import Metrics
from ..notification import Notification, NotificationKind, Notifier
from ..redact import redact, redact_value

log = structlog.get_logger(__name__)

__all__ = ["Notification", "NotificationKind", "Notifier", "Notifiers"]


class Notifiers:
    """Fan-out to every configured notifier, isolating their failures.

    With ``metrics``, each delivery is counted (``lw_remediate_notifications_sent_total``,
    ``lw_remediate_notify_failures_total``) and the notifier's last result kept as the
    dependency ``notify.<name>`` (shown on ``/readyz``).
    """

    def __init__(
        self,
        notifiers: Iterable[Notifier] = (),
        *,
        timeout: float = 10.0,
        metrics: Metrics | None = None,
    ) -> None:
        self.notifiers = list(notifiers)
        self.timeout = timeout
        self.metrics = metrics

    async def send(self, notification: Notification) -> None:
        if not self.notifiers:
            return
        notification = dataclasses.replace(
            notification,
            text=redact(notification.text),
            detail=redact(notification.detail),
            data=redact_value(dict(notification.data)),
        )
        await asyncio.gather(*(self._one(n, notification) for n in self.notifiers))

    async def _one(self, notifier: Notifier, notification: Notification) -> None:
        wants = getattr(notifier, "wants", None)
        if callable(wants) and not wants(notification):
            return
        try:
            async with asyncio.timeout(self.timeout):
                await notifier.notify(notification)
        except Exception as exc:  # noqa: BLE001 - a broken channel must not fail an action
            error = redact(str(exc)) or type(exc).__name__  # a TimeoutError has no message
            fields = exc.fields if isinstance(exc, NotificationFailed) else {}
            log.warning(
                "notify_failed",
                notifier=notifier.name,
                kind=str(notification.kind),
                error=error,
                **fields,
            )
            if self.metrics is not None:
                self.metrics.notify_failures.labels(notifier=notifier.name).inc()
                self.metrics.dependency_failed(
                    f"notify.{notifier.name}", f"{notification.kind} not delivered: {error}"
                )
            return
        if self.metrics is not None:
            self.metrics.notifications_sent.labels(notifier=notifier.name).inc()
            self.metrics.dependency_ok(f"notify.{notifier.name}")
