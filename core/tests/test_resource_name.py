"""``Arn.resource_name`` / ``Violation.resource_name``: the resource's own name, what a
runbook's ``{resource_name}`` shows and a map passes to the service's API."""

from __future__ import annotations

import pytest

from lw_remediate import Arn, IamPolicy, Plan, Remediation, Violation

R, A = "eu-west-1", "123456789012"


@pytest.mark.parametrize(
    ("arn", "name"),
    [
        # <type>:<name>
        (f"arn:aws:rds:{R}:{A}:db:orders", "orders"),
        (f"arn:aws:rds:{R}:{A}:cluster:orders-cluster", "orders-cluster"),
        (f"arn:aws:rds:{R}:{A}:snapshot:orders-2026-12-01", "orders-2026-12-01"),
        # an automated snapshot's identifier starts with "rds:"
        (f"arn:aws:rds:{R}:{A}:snapshot:rds:orders-2026-12-01-05-10", "rds:orders-2026-12-01-05-10"),
        (f"arn:aws:rds:{R}:{A}:cluster-snapshot:nightly", "nightly"),
        (f"arn:aws:redshift:{R}:{A}:cluster:warehouse", "warehouse"),
        (f"arn:aws:elasticache:{R}:{A}:cluster:cache-1", "cache-1"),
        (f"arn:aws:cloudwatch:{R}:{A}:alarm:root-usage", "root-usage"),
        (f"arn:aws:secretsmanager:{R}:{A}:secret:db-pass-AbCdEf", "db-pass-AbCdEf"),
        # Lambda: the function, without a version or alias qualifier
        (f"arn:aws:lambda:{R}:{A}:function:fn", "fn"),
        (f"arn:aws:lambda:{R}:{A}:function:fn:3", "fn"),
        (f"arn:aws:lambda:{R}:{A}:function:fn:live", "fn"),
        # CloudWatch Logs: the group's whole name
        (f"arn:aws:logs:{R}:{A}:log-group:/aws/lambda/fn:*", "/aws/lambda/fn"),
        (f"arn:aws:logs:{R}:{A}:log-group:trail-logs", "trail-logs"),
        # <type>/<path>: the last path element, as before
        (f"arn:aws:redshift:{R}:{A}:snapshot:warehouse/before-resize", "before-resize"),
        (f"arn:aws:ec2:{R}:{A}:security-group/sg-0abc", "sg-0abc"),
        (f"arn:aws:ec2:{R}::snapshot/snap-0abc", "snap-0abc"),
        (f"arn:aws:es:{R}:{A}:domain/search", "search"),
        (f"arn:aws:iam::{A}:user/division/alice", "alice"),
        (f"arn:aws:iam::{A}:role/lw-remediation/runner", "runner"),
        (f"arn:aws:kms:{R}:{A}:key/1234abcd-12ab-34cd-56ef-1234567890ab", "1234abcd-12ab-34cd-56ef-1234567890ab"),
        (f"arn:aws:cloudtrail:{R}:{A}:trail/main", "main"),
        ("arn:aws:s3:::my-bucket", "my-bucket"),
        (f"arn:aws:sns:{R}:{A}:alerts", "alerts"),
        (f"arn:aws:iam::{A}:root", "root"),
    ],
)  # fmt: skip
def test_the_resource_name_is_the_resources_own_name(arn, name):
    assert Arn.parse(arn).resource_name == name
    assert Violation("X", arn, A, region=R).resource_name == name


async def _check(ctx, violation):  # pragma: no cover - never run
    raise AssertionError


async def _plan(ctx, violation):  # pragma: no cover - never run
    return Plan("nothing")


@pytest.mark.parametrize(
    ("arn", "command"),
    [
        (f"arn:aws:rds:{R}:{A}:db:orders", "--db-instance-identifier orders"),
        (f"arn:aws:lambda:{R}:{A}:function:fn:3", "--function-name fn"),
    ],
)
def test_a_runbook_names_the_db_or_function_itself(arn, command):
    flag = command.split()[0]
    remediation = Remediation(
        id="test.show_runbook",
        rules=("LW_AWS_RDS_1",),
        title="t",
        policy=IamPolicy(),
        check=_check,
        plan=_plan,
        auto_remediable=False,
        runbook=f"aws ... {flag} {{resource_name}} (region {{region}})",
    )
    text = remediation.render_runbook(Violation("LW_AWS_RDS_1", arn, A, region=R))
    assert text == f"aws ... {command} (region {R})"
