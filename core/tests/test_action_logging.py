"""Every log line of one action carries its alert id, action id and remediation id,
bound once through structlog's contextvars (the remediation's own ctx.log included)."""

from __future__ import annotations

import types

import structlog

from lw_remediate import (
    Change,
    CheckResult,
    IamPolicy,
    Mode,
    Plan,
    Remediation,
    Status,
    VerifyResult,
    Violation,
    hookimpl,
)
from lw_remediate.config import Config
from lw_remediate.plugins import load_maps
from lw_remediate.runtime import Runtime

ACCOUNT = "123456789012"


async def check(ctx, violation):
    ctx.log.info("looked_at_the_bucket")
    return CheckResult.violating("still public")


async def plan(ctx, violation):
    ctx.log.info("planned_the_change")
    return Plan(
        "make it private", [Change("put_bucket_acl", violation.resource_arn, "public", "private")]
    )


async def apply(ctx, plan):
    return {}


async def verify(ctx, violation):
    return VerifyResult.verified("private")


REMEDIATION = Remediation(
    id="test.log_a_lot",
    rules=("LW_S3_16",),
    title="logs from inside the remediation",
    policy=IamPolicy.allow(["s3:GetBucketVersioning"], ["arn:aws:s3:::*"]),
    check=check,
    plan=plan,
    apply=apply,
    verify=verify,
)


@hookimpl
def lw_remediate_remediations():
    return [REMEDIATION]


async def test_every_line_of_one_action_carries_its_ids(moto_server, tmp_path):
    plugin = types.SimpleNamespace(lw_remediate_remediations=lw_remediate_remediations)
    registry = load_maps(extra_plugins=[("test-logging", plugin)], entry_points=False)
    config = Config.model_validate(
        {
            "aws": {"region": "us-east-1", "endpoint_url": moto_server.endpoint_url},
            "store": {"path": str(tmp_path / "s.sqlite3")},
        }
    )
    violation = Violation(
        "LW_S3_16", "arn:aws:s3:::some-bucket", ACCOUNT, "us-east-1", alert_id="alert-77"
    )
    with structlog.testing.capture_logs(
        processors=[structlog.contextvars.merge_contextvars]
    ) as events:
        async with Runtime(config, registry=registry) as rt:
            (record,) = await rt.engine.handle_violation(violation, mode=Mode.DRY_RUN)
        structlog.get_logger("after").info("after_the_action")
    assert record.status is Status.PLANNED
    by_name = {e["event"]: e for e in events}
    for name in ("looked_at_the_bucket", "planned_the_change", "action_finished"):
        assert by_name[name]["action_id"] == record.id
        assert by_name[name]["remediation_id"] == "test.log_a_lot"
        assert by_name[name]["alert_id"] == "alert-77"
    # The binding ends with the action.
    assert "action_id" not in by_name["after_the_action"]
