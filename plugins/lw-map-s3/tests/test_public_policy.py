"""LW_S3_11: s3.remove_public_policy_statements against moto (and its interplay with LW_S3_15)."""

from __future__ import annotations

import asyncio
import json

import pytest

from lw_map_s3.remediations import public_policy, secure_transport
from lw_map_s3.remediations.public_policy import REMEDIATION
from lw_remediate import ResourceChanged, Status

BUCKET = "shared-data"
ARN = f"arn:aws:s3:::{BUCKET}"

PUBLIC_READ = {
    "Sid": "PublicRead",
    "Effect": "Allow",
    "Principal": "*",
    "Action": "s3:GetObject",
    "Resource": f"{ARN}/*",
}
PUBLIC_LIST = {
    "Effect": "Allow",
    "Principal": {"AWS": ["*"]},
    "Action": ["s3:ListBucket"],
    "Resource": ARN,
}
CROSS_ACCOUNT = {
    "Sid": "PartnerRead",
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
    "Action": ["s3:GetObject", "s3:ListBucket"],
    "Resource": [ARN, f"{ARN}/*"],
}
OFFICE_ONLY = {
    "Sid": "OfficeRead",
    "Effect": "Allow",
    "Principal": "*",
    "Action": "s3:GetObject",
    "Resource": f"{ARN}/*",
    "Condition": {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
}
TLS_ONLY_PUBLIC = {
    "Sid": "TlsRead",
    "Effect": "Allow",
    "Principal": "*",
    "Action": "s3:GetObject",
    "Resource": f"{ARN}/*",
    "Condition": {"Bool": {"aws:SecureTransport": "true"}},
}
DENY_DELETE = {
    "Sid": "NoDelete",
    "Effect": "Deny",
    "Principal": "*",
    "Action": "s3:DeleteBucket",
    "Resource": ARN,
}


@pytest.fixture
def seed(bucket, put_policy):
    """``seed(*statements)``: the bucket with a legacy-looking policy (an ``Id``, indented)
    of these statements, or with ``text`` verbatim; returns the policy text."""

    def _seed(*statements, text=None):
        if text is not None:
            bucket.put_bucket_policy(Bucket=BUCKET, Policy=text)
            return text
        return put_policy(BUCKET, *statements, indent=4, Id="legacy-policy")

    return _seed


async def test_drops_only_unconditioned_public_allows(
    policy_of, make_violation, run_remediation, seed
):
    seed(PUBLIC_READ, CROSS_ACCOUNT, PUBLIC_LIST, OFFICE_ONLY, TLS_ONLY_PUBLIC, DENY_DELETE)
    record = await run_remediation(REMEDIATION, make_violation("LW_S3_11", BUCKET))
    assert record.status is Status.REMEDIATED, record.detail
    policy = policy_of(BUCKET)
    assert policy["Statement"] == [CROSS_ACCOUNT, OFFICE_ONLY, TLS_ONLY_PUBLIC, DENY_DELETE]
    assert policy["Version"] == "2012-10-17" and policy["Id"] == "legacy-policy"
    assert [c.before for c in record.plan.changes] == [PUBLIC_READ, PUBLIC_LIST]
    assert all(c.operation == "remove_policy_statement" for c in record.plan.changes)


async def test_restrictive_conditions_option_also_drops_weakly_conditioned_statements(
    policy_of, make_violation, run_remediation, seed
):
    seed(PUBLIC_READ, CROSS_ACCOUNT, OFFICE_ONLY, TLS_ONLY_PUBLIC)
    record = await run_remediation(
        REMEDIATION,
        make_violation("LW_S3_11", BUCKET),
        options={"conditioned_statements": "public_unless_restrictive"},
    )
    assert record.status is Status.REMEDIATED
    assert policy_of(BUCKET)["Statement"] == [CROSS_ACCOUNT, OFFICE_ONLY]


async def test_policy_is_deleted_when_nothing_is_left_and_revert_restores_it_verbatim(
    s3, policy_of, make_violation, run_remediation, revert_action, seed
):
    original = seed(PUBLIC_READ, PUBLIC_LIST)
    record = await run_remediation(REMEDIATION, make_violation("LW_S3_11", BUCKET))
    assert record.status is Status.REMEDIATED
    assert policy_of(BUCKET) is None
    assert record.plan.changes[-1].operation == "delete_bucket_policy"
    assert record.before_image == {"Policy": original}

    await revert_action(REMEDIATION, record)
    assert s3.get_bucket_policy(Bucket=BUCKET)["Policy"] == original  # byte for byte


async def test_revert_refuses_when_the_policy_changed_since(
    s3, policy_of, make_violation, run_remediation, revert_action, seed
):
    seed(PUBLIC_READ, CROSS_ACCOUNT)
    record = await run_remediation(REMEDIATION, make_violation("LW_S3_11", BUCKET))
    changed = {"Version": "2012-10-17", "Statement": [CROSS_ACCOUNT, DENY_DELETE]}
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(changed))
    with pytest.raises(ResourceChanged):
        await revert_action(REMEDIATION, record)
    assert policy_of(BUCKET) == changed


async def test_dry_run_changes_nothing(s3, make_violation, run_remediation, writes, seed):
    original = seed(PUBLIC_READ, CROSS_ACCOUNT)
    record = await run_remediation(REMEDIATION, make_violation("LW_S3_11", BUCKET), mode="dry-run")
    assert record.status is Status.PLANNED
    assert "'PublicRead'" in record.detail and "keep the other 1 statement" in record.detail
    assert s3.get_bucket_policy(Bucket=BUCKET)["Policy"] == original
    assert writes(record) == []


@pytest.mark.parametrize(
    "statements", [(CROSS_ACCOUNT, OFFICE_ONLY, DENY_DELETE), None], ids=["compliant", "no-policy"]
)
async def test_compliant_bucket_is_resolved_without_a_write(
    statements, make_violation, run_remediation, writes, seed
):
    if statements is not None:
        seed(*statements)
    record = await run_remediation(REMEDIATION, make_violation("lacework-global-140", BUCKET))
    assert record.status is Status.RESOLVED
    assert writes(record) == []


async def test_unparseable_policy_is_refused_untouched(
    make_violation, run_remediation, writes, seed
):
    seed(text='{"Version": "2012-10-17", "Statement": [')  # moto stores it; AWS would not
    record = await run_remediation(REMEDIATION, make_violation("LW_S3_11", BUCKET))
    assert record.status is Status.REFUSED
    assert "not a JSON policy document" in record.detail
    assert writes(record) == []


async def test_least_privilege_including_revert(make_violation, least_privilege, seed):
    seed(PUBLIC_READ)  # apply deletes the policy, revert puts it back
    report = await least_privilege.run(REMEDIATION, make_violation("LW_S3_11", BUCKET), revert=True)
    assert report.used == {"s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy"}


# -- LW_S3_11 and LW_S3_15 from one alert edit the same policy --------------------------


def assert_both_took_effect(policy):
    sids = [s.get("Sid") for s in policy["Statement"]]
    assert "PublicRead" not in sids  # LW_S3_11
    assert "LWDenyInsecureTransport" in sids  # LW_S3_15
    assert "PartnerRead" in sids  # untouched


@pytest.mark.parametrize("order", ["11-then-15", "15-then-11"])
async def test_public_policy_and_secure_transport_in_sequence_both_take_effect(
    order, policy_of, make_violation, run_remediation, seed
):
    seed(PUBLIC_READ, CROSS_ACCOUNT)
    pairs = [
        (public_policy.REMEDIATION, "LW_S3_11"),
        (secure_transport.REMEDIATION, "LW_S3_15"),
    ]
    for remediation, rule in pairs if order == "11-then-15" else reversed(pairs):
        record = await run_remediation(remediation, make_violation(rule, BUCKET))
        assert record.status is Status.REMEDIATED, record.detail
    assert_both_took_effect(policy_of(BUCKET))


async def test_public_policy_and_secure_transport_concurrently_both_take_effect(
    policy_of, make_violation, run_remediation, seed
):
    seed(PUBLIC_READ, CROSS_ACCOUNT)
    records = await asyncio.gather(
        run_remediation(public_policy.REMEDIATION, make_violation("LW_S3_11", BUCKET)),
        run_remediation(secure_transport.REMEDIATION, make_violation("LW_S3_15", BUCKET)),
    )
    assert [r.status for r in records] == [Status.REMEDIATED, Status.REMEDIATED]
    assert_both_took_effect(policy_of(BUCKET))


async def test_revert_of_the_first_refuses_once_the_second_edited_the_policy(
    make_violation, run_remediation, revert_action, seed
):
    seed(PUBLIC_READ, CROSS_ACCOUNT)
    first = await run_remediation(public_policy.REMEDIATION, make_violation("LW_S3_11", BUCKET))
    await run_remediation(secure_transport.REMEDIATION, make_violation("LW_S3_15", BUCKET))
    with pytest.raises(ResourceChanged):
        await revert_action(public_policy.REMEDIATION, first)
