"""Fixtures shared by the lw-map-aws-activity tests (the kit's fixtures come from
lw_remediate.testing)."""

from __future__ import annotations

import pytest

from lw_remediate import ActivityEvent, ActivityResource

ACCOUNT = "123456789012"
REGION = "us-east-1"
WRITE_PREFIXES = ("Get", "List", "Describe", "Head")


def _event(*apis: str, resources=(), **fields) -> ActivityEvent:
    """An activity event in ACCOUNT/REGION by ``alice`` from 203.0.113.7."""
    base = {
        "alert_id": "918400",
        "account_id": ACCOUNT,
        "region": REGION,
        "user": "alice",
        "source_ips": ("203.0.113.7",),
        "time": "2026-12-03T11:00:00.000Z",
        "apis": apis,
        "resources": tuple(ActivityResource(n, v) for n, v in resources),
    }
    return ActivityEvent(**{**base, **fields})


@pytest.fixture
def event():
    """``event("StopLogging", resources=[("name", "main")], user="bob")``: an ActivityEvent."""
    return _event


@pytest.fixture
def writes():
    """``writes(record)``: the operations of a record's calls that change something."""

    def _writes(record):
        return [c.operation for c in record.calls if not c.operation.startswith(WRITE_PREFIXES)]

    return _writes
