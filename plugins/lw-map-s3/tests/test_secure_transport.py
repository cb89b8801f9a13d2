"""LW_S3_15: s3.require_secure_transport against moto.

moto enforces a bucket-policy Deny on object requests with its conditions ignored,
so after the fix every object request to the bucket gets 403 in moto (AWS would
allow HTTPS): these tests do no object I/O after remediating.
"""

from __future__ import annotations

import pytest

from lw_map_s3.remediations.secure_transport import REMEDIATION
from lw_remediate import ResourceChanged, Status

BUCKET = "payments-export"
ARN = f"arn:aws:s3:::{BUCKET}"
EXPECTED = {
    "Sid": "LWDenyInsecureTransport",
    "Effect": "Deny",
    "Principal": "*",
    "Action": "s3:*",
    "Resource": [ARN, f"{ARN}/*"],
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}
CROSS_ACCOUNT = {
    "Sid": "PartnerRead",
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
    "Action": "s3:GetObject",
    "Resource": f"{ARN}/*",
}


async def test_creates_a_policy_when_there_is_none_and_revert_deletes_it(
    bucket, policy_of, make_violation, run_remediation, revert_action
):
    record = await run_remediation(REMEDIATION, make_violation("LW_S3_15", BUCKET))
    assert record.status is Status.REMEDIATED, record.detail
    assert policy_of(BUCKET) == {"Version": "2012-10-17", "Statement": [EXPECTED]}
    assert record.before_image == {"Policy": None}
    assert [(c.operation, c.after) for c in record.plan.changes] == [
        ("add_policy_statement", EXPECTED)
    ]

    detail = await revert_action(REMEDIATION, record)
    assert "deleted" in detail
    assert policy_of(BUCKET) is None


async def test_merges_into_the_existing_policy_and_revert_restores_it(
    bucket, policy_of, make_violation, run_remediation, revert_action, put_policy
):
    original = put_policy(BUCKET, CROSS_ACCOUNT)
    record = await run_remediation(REMEDIATION, make_violation("LW_S3_15", BUCKET))
    assert record.status is Status.REMEDIATED
    assert policy_of(BUCKET)["Statement"] == [CROSS_ACCOUNT, EXPECTED]
    await revert_action(REMEDIATION, record)
    assert bucket.get_bucket_policy(Bucket=BUCKET)["Policy"] == original


async def test_an_equivalent_deny_under_another_sid_complies(
    bucket, make_violation, run_remediation, writes, put_policy
):
    original = put_policy(BUCKET, CROSS_ACCOUNT, {**EXPECTED, "Sid": "TlsOnly"})
    record = await run_remediation(REMEDIATION, make_violation("LW_S3_15", BUCKET))
    assert record.status is Status.RESOLVED
    assert writes(record) == []
    assert bucket.get_bucket_policy(Bucket=BUCKET)["Policy"] == original


async def test_a_deny_that_does_not_cover_objects_does_not_count(
    bucket, policy_of, make_violation, run_remediation, put_policy
):
    bucket_only = {**EXPECTED, "Sid": "LWDenyInsecureTransport", "Resource": ARN}
    put_policy(BUCKET, bucket_only)
    record = await run_remediation(REMEDIATION, make_violation("LW_S3_15", BUCKET))
    assert record.status is Status.REMEDIATED
    statements = policy_of(BUCKET)["Statement"]
    assert statements[0] == bucket_only
    assert statements[1] == {**EXPECTED, "Sid": "LWDenyInsecureTransport2"}  # Sids stay unique


async def test_min_tls_version_option_adds_a_second_deny(
    bucket, policy_of, make_violation, run_remediation, put_policy
):
    put_policy(BUCKET, EXPECTED)
    record = await run_remediation(
        REMEDIATION, make_violation("LW_S3_15", BUCKET), options={"min_tls_version": "1.2"}
    )
    assert record.status is Status.REMEDIATED
    added = policy_of(BUCKET)["Statement"][1]
    assert added["Condition"] == {"NumericLessThan": {"s3:TlsVersion": "1.2"}}
    assert added["Effect"] == "Deny" and added["Resource"] == [ARN, f"{ARN}/*"]


async def test_website_bucket_is_refused_unless_allowed(
    bucket, policy_of, make_violation, run_remediation, writes
):
    bucket.put_bucket_website(
        Bucket=BUCKET, WebsiteConfiguration={"IndexDocument": {"Suffix": "index.html"}}
    )
    record = await run_remediation(REMEDIATION, make_violation("LW_S3_15", BUCKET))
    assert record.status is Status.REFUSED
    assert "static website" in record.detail
    assert writes(record) == [] and policy_of(BUCKET) is None

    record = await run_remediation(
        REMEDIATION, make_violation("LW_S3_15", BUCKET), options={"skip_website_buckets": False}
    )
    assert record.status is Status.REMEDIATED
    assert any("website" in note for note in record.plan.notes)


async def test_dry_run_changes_nothing(bucket, policy_of, make_violation, run_remediation, writes):
    record = await run_remediation(REMEDIATION, make_violation("LW_S3_15", BUCKET), mode="dry-run")
    assert record.status is Status.PLANNED
    assert "LWDenyInsecureTransport" in record.detail and "a new policy" in record.detail
    assert policy_of(BUCKET) is None
    assert writes(record) == []


async def test_compliant_bucket_is_resolved_without_a_write(
    bucket, make_violation, run_remediation, writes, put_policy
):
    put_policy(
        BUCKET,
        CROSS_ACCOUNT,
        {**EXPECTED, "Condition": {"BoolIfExists": {"aws:SecureTransport": False}}},
    )
    record = await run_remediation(REMEDIATION, make_violation("lacework-global-96", BUCKET))
    assert record.status is Status.RESOLVED
    assert writes(record) == []


async def test_revert_refuses_when_the_policy_changed_since(
    bucket, policy_of, make_violation, run_remediation, revert_action
):
    record = await run_remediation(REMEDIATION, make_violation("LW_S3_15", BUCKET))
    bucket.delete_bucket_policy(Bucket=BUCKET)
    with pytest.raises(ResourceChanged):
        await revert_action(REMEDIATION, record)
    assert policy_of(BUCKET) is None


async def test_least_privilege_including_revert(bucket, make_violation, least_privilege):
    report = await least_privilege.run(REMEDIATION, make_violation("LW_S3_15", BUCKET), revert=True)
    assert report.used == {
        "s3:GetBucketPolicy",
        "s3:GetBucketWebsite",
        "s3:PutBucketPolicy",
        "s3:DeleteBucketPolicy",
    }
