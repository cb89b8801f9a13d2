"""The test kit works for a map author outside this repository (pytest11 plugin only)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.slow

MAP = """
from lw_remediate import (CheckResult, Change, IamPolicy, Plan, Remediation, VerifyResult)


async def _tags(ctx):
    async with ctx.aws.client("s3") as s3:
        try:
            return (await s3.get_bucket_tagging(Bucket=ctx.violation.resource_name))["TagSet"]
        except Exception:
            return []


async def check(ctx, violation):
    tags = await _tags(ctx)
    if any(t["Key"] == "owner" for t in tags):
        return CheckResult.compliant("has an owner tag")
    return CheckResult.violating("no owner tag")


async def plan(ctx, violation):
    return Plan("tag the bucket", [Change("put_bucket_tagging", violation.resource_arn, None, "owner=unknown")])


async def apply(ctx, plan):
    tags = await _tags(ctx)
    await ctx.record_before({"TagSet": tags})
    async with ctx.aws.client("s3") as s3:
        await s3.put_bucket_tagging(Bucket=ctx.violation.resource_name,
                                    Tagging={"TagSet": [*tags, {"Key": "owner", "Value": "unknown"}]})
    return {"owner": "unknown"}


async def verify(ctx, violation):
    tags = await _tags(ctx)
    return VerifyResult.verified() if any(t["Key"] == "owner" for t in tags) else VerifyResult.failed("no tag")


REMEDIATION = Remediation(
    id="community.tag_owner", rules=("COMMUNITY_1",), title="Tag buckets with an owner",
    resource_type="s3:bucket",
    policy=IamPolicy.allow(["s3:GetBucketTagging", "s3:PutBucketTagging"], ["arn:{partition}:s3:::*"]),
    check=check, plan=plan, apply=apply, verify=verify,
)
"""

TEST = """
import pytest
from community_map import REMEDIATION
from lw_remediate import IamPolicy
from lw_remediate.testing.least_privilege import LeastPrivilegeError


async def test_tags_the_bucket(admin_client, make_violation, run_remediation, least_privilege):
    admin_client("s3").create_bucket(Bucket="community-bucket")
    violation = make_violation("COMMUNITY_1", "arn:aws:s3:::community-bucket")
    report = await least_privilege.run(REMEDIATION, violation)
    assert report.used == {"s3:GetBucketTagging", "s3:PutBucketTagging"}
    again = await run_remediation(REMEDIATION, violation)
    assert again.status == "resolved"


async def test_missing_action_is_caught(admin_client, make_violation, least_privilege):
    admin_client("s3").create_bucket(Bucket="community-bucket")
    violation = make_violation("COMMUNITY_1", "arn:aws:s3:::community-bucket")
    with pytest.raises(LeastPrivilegeError):
        await least_privilege.run(REMEDIATION, violation,
                                  policy=IamPolicy.allow(["s3:GetBucketTagging"], ["arn:aws:s3:::*"]))
"""


def test_a_map_outside_the_repository_uses_the_kit(tmp_path):
    (tmp_path / "community_map.py").write_text(textwrap.dedent(MAP))
    (tmp_path / "test_community.py").write_text(textwrap.dedent(TEST))
    (tmp_path / "pytest.ini").write_text("[pytest]\nasyncio_mode = auto\n")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path), "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "2 passed" in result.stdout
