"""Prometheus metrics of one daemon (own registry, so tests can run several)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


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
