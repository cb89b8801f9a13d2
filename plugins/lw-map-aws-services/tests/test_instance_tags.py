"""services.tag_untagged_instance (GENERAL_SECURITY_1): manual by default."""

from __future__ import annotations

import pydantic
import pytest

from lw_map_aws_services.remediations.instance_tags import REMEDIATION
from lw_remediate import ResourceChanged, Status

RULE = "LW_AWS_GENERAL_SECURITY_1"
TAGS = {"enforce": True, "default_tags": {"owner": "unassigned", "cost-center": "none"}}


def arn(instance: str) -> str:
    return f"arn:aws:ec2:us-east-1:123456789012:instance/{instance}"


def tags(ec2, instance):
    [reservation] = ec2.describe_instances(InstanceIds=[instance])["Reservations"]
    return {t["Key"]: t["Value"] for t in reservation["Instances"][0].get("Tags", [])}


async def test_manual_by_default_reads_only(instance, violation, run_remediation, writes):
    record = await run_remediation(REMEDIATION, violation(RULE, arn(instance)))
    assert record.status is Status.MANUAL
    assert f"--resources {instance}" in record.detail
    assert writes(record) == []


async def test_enforce_adds_the_default_tags_and_undo(
    ec2, instance, violation, run_remediation, revert_action, writes
):
    record = await run_remediation(REMEDIATION, violation(RULE, arn(instance)), options=TAGS)
    assert record.status is Status.REMEDIATED, record.detail
    assert tags(ec2, instance) == TAGS["default_tags"]
    assert writes(record) == ["CreateTags"]
    assert {c.target for c in record.plan.changes} == {
        f"{instance} tag owner",
        f"{instance} tag cost-center",
    }
    await revert_action(REMEDIATION, record, options=TAGS)
    assert tags(ec2, instance) == {}


async def test_tagged_instance_is_resolved(ec2, instance, violation, run_remediation, writes):
    ec2.create_tags(Resources=[instance], Tags=[{"Key": "team", "Value": "search"}])
    record = await run_remediation(REMEDIATION, violation(RULE, arn(instance)), options=TAGS)
    assert record.status is Status.RESOLVED
    assert writes(record) == []
    assert tags(ec2, instance) == {"team": "search"}


async def test_enforce_without_tags_refuses(instance, violation, run_remediation, writes):
    record = await run_remediation(
        REMEDIATION, violation(RULE, arn(instance)), options={"enforce": True}
    )
    assert record.status is Status.REFUSED
    assert "no default_tags configured" in record.detail
    assert writes(record) == []


async def test_gone_instance_is_resolved(violation, run_remediation, moto_server):
    record = await run_remediation(
        REMEDIATION, violation(RULE, arn("i-0123456789abcdef0")), options=TAGS
    )
    assert record.status is Status.RESOLVED


async def test_undo_keeps_a_tag_somebody_changed(
    ec2, instance, violation, run_remediation, revert_action
):
    record = await run_remediation(REMEDIATION, violation(RULE, arn(instance)), options=TAGS)
    ec2.create_tags(Resources=[instance], Tags=[{"Key": "owner", "Value": "search-team"}])
    with pytest.raises(ResourceChanged, match="owner"):
        await revert_action(REMEDIATION, record, options=TAGS)
    assert tags(ec2, instance)["owner"] == "search-team"


@pytest.mark.parametrize(
    "bad", [{"aws:owner": "x"}, {"": "x"}, {"k" * 129: "x"}, {"owner": "v" * 257}]
)
def test_bad_default_tags_are_rejected(bad):
    with pytest.raises(pydantic.ValidationError):
        REMEDIATION.parse_options({"enforce": True, "default_tags": bad})
