"""Prometheus metrics of one daemon (own registry, so tests can run several)."""

from __future__ import annotations

import datetime
import time
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


@dataclass(frozen=True)
class DependencyState:
    """What the daemon last saw of one dependency (``/readyz`` shows it)."""

    #: ``ok`` or ``failing``.
    state: str
    #: Why it failed (one line, no secrets), empty when ok.
    detail: str
    #: Since when (epoch seconds) it has been in this state.
    since: float
    #: When it was last seen (epoch seconds).
    checked: float
    #: Failures in a row.
    failures: int
    #: It cannot recover without an operator (readiness fails).
    fatal: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "detail": self.detail,
            "since": _iso(self.since),
            "checked": _iso(self.checked),
            "failures": self.failures,
            "fatal": self.fatal,
        }


def _iso(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).isoformat(timespec="seconds")


class Metrics:
    """The daemon's metrics; ``render()`` is the /metrics body."""

    def __init__(self) -> None:
        self._received: dict[tuple[str, str], Any] = {}
        self.registry = CollectorRegistry()
        self.alerts_received = Counter(
            "lw_remediate_alerts_received",
            "Webhook deliveries by payload shape and result",
            ["shape", "result"],
            registry=self.registry,
        )
        self.actions = Counter(
            "lw_remediate_actions",
            "Finished actions by status and remediation",
            ["status", "remediation_id"],
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "lw_remediate_queue_depth", "Inbox entries by state", ["state"], registry=self.registry
        )
        self.ingest_latency = Histogram(
            "lw_remediate_ingest_seconds",
            "Time from request to durable commit and answer",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )
        self.action_latency = Histogram(
            "lw_remediate_action_seconds",
            "Time to run one action (check to verify)",
            ["mode"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
            registry=self.registry,
        )
        self.enrich_failures = Counter(
            "lw_remediate_enrich_failures",
            "Lacework enrichment attempts that failed",
            ["reason"],
            registry=self.registry,
        )

        self.inbox_dead = Counter(
            "lw_remediate_inbox_dead",
            "Inbox entries ended dead (not enrichable, unreadable, or failed to process)",
            registry=self.registry,
        )
        self.worker_restarts = Counter(
            "lw_remediate_worker_restarts",
            "Times the supervisor restarted a crashed worker",
            registry=self.registry,
        )

        self.dependency_up = Gauge(
            "lw_remediate_dependency_up",
            "1 when the dependency last answered as expected, 0 when it last failed",
            ["dependency"],
            registry=self.registry,
        )
        self.notifications_sent = Counter(
            "lw_remediate_notifications_sent",
            "Notifications delivered, by notifier",
            ["notifier"],
            registry=self.registry,
        )
        self.notify_failures = Counter(
            "lw_remediate_notify_failures",
            "Notifications that could not be delivered (after the notifier's retries)",
            ["notifier"],
            registry=self.registry,
        )
        #: Dependency name -> its last known state (``/readyz`` shows them).
        self.dependencies: dict[str, DependencyState] = {}

    def dependency_ok(self, name: str) -> None:
        """``name`` (``lacework``, ``notify.slack``, ...) just answered as expected."""
        self._set_dependency(name, "ok", "", fatal=False)

    def dependency_failed(self, name: str, detail: str, *, fatal: bool = False) -> None:
        """``name`` just failed. ``fatal``: it cannot work until an operator acts (the
        Lacework key was rejected), and ``/readyz`` answers 503 until it recovers."""
        self._set_dependency(name, "failing", detail, fatal=fatal)

    def _set_dependency(self, name: str, state: str, detail: str, *, fatal: bool) -> None:
        old = self.dependencies.get(name)
        now = time.time()
        failures = 0
        if state == "failing":
            failures = 1 + (old.failures if old and old.state == "failing" else 0)
        since = old.since if old and old.state == state else now
        self.dependencies[name] = DependencyState(state, detail, since, now, failures, fatal)
        self.dependency_up.labels(dependency=name).set(1 if state == "ok" else 0)

    def received(self, shape: str, result: str) -> Any:
        """The alerts-received counter child for (shape, result), cached (hot path)."""
        key = (shape, result)
        child = self._received.get(key)
        if child is None:
            child = self._received[key] = self.alerts_received.labels(shape=shape, result=result)
        return child

    def set_queue(self, counts: dict[str, int]) -> None:
        for state in ("queued", "processing", "done", "dead"):
            self.queue_depth.labels(state=state).set(counts.get(state, 0))

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))
