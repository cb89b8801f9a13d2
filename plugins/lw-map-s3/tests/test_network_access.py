"""LW_S3_17: s3.restrict_network_access against moto.

moto ignores policy conditions (an IP/VPCE Deny blocks all object I/O there), so the
network semantics are checked on the statement itself; no object I/O after applying.
"""

from __future__ import annotations

import pydantic
import pytest

from lw_map_s3.remediations.network_access import REMEDIATION, principal_patterns
from lw_remediate import ResourceChanged, Status

BUCKET = "internal-reports"
ARN = f"arn:aws:s3:::{BUCKET}"
ENFORCE = {
    "enforce": True,
    "allowed_cidrs": ["203.0.113.0/24", "198.51.100.7"],
    "allowed_vpce_ids": ["vpce-0abc123"],
    "exempt_principal_arns": ["arn:aws:iam::123456789012:role/break-glass"],
}
CROSS_ACCOUNT = {
    "Sid": "PartnerRead",
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
    "Action": "s3:GetObject",
    "Resource": f"{ARN}/*",
}


async def test_manual_by_default_with_the_statement_in_the_runbook(
    bucket, make_violation, run_remediation, writes
):
    assert REMEDIATION.manual_by_default
    record = await run_remediation(REMEDIATION, make_violation("LW_S3_17", BUCKET))
    assert record.status is Status.MANUAL
    assert f'"Resource": ["{ARN}", "{ARN}/*"]' in record.detail
    assert '"NotIpAddress": {"aws:SourceIp": CIDRS}' in record.detail
    assert "allowed_cidrs" in record.detail and "break-glass" in record.detail
    assert writes(record) == []


async def test_manual_runbook_lists_the_configured_networks_and_principals(
    bucket, make_violation, run_remediation, writes
):
    options = {k: v for k, v in ENFORCE.items() if k != "enforce"}  # configured, still manual
    record = await run_remediation(REMEDIATION, make_violation("LW_S3_17", BUCKET), options=options)
    assert record.status is Status.MANUAL
    assert '"aws:SourceIp": ["203.0.113.0/24", "198.51.100.7/32"]' in record.detail
    assert '"aws:SourceVpce": ["vpce-0abc123"]' in record.detail
    assert (
        '"aws:PrincipalArn": ["arn:aws:iam::123456789012:role/break-glass", DAEMON_ROLE]'
        in record.detail
    )
    assert "CIDRS" not in record.detail and "VPCES" not in record.detail
    assert "arn:aws:iam::123456789012:role/lw-remediate" in record.detail
    assert writes(record) == []


async def test_enforce_merges_the_deny_with_every_exemption(
    bucket, policy_of, make_violation, run_remediation, put_policy
):
    put_policy(BUCKET, CROSS_ACCOUNT)
    record = await run_remediation(REMEDIATION, make_violation("LW_S3_17", BUCKET), options=ENFORCE)
    assert record.status is Status.REMEDIATED, record.detail
    kept, added = policy_of(BUCKET)["Statement"]
    assert kept == CROSS_ACCOUNT
    assert added == {
        "Sid": "LWDenyOutsideAllowedNetworks",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [ARN, f"{ARN}/*"],
        "Condition": {
            "NotIpAddress": {"aws:SourceIp": ["203.0.113.0/24", "198.51.100.7/32"]},
            "StringNotEqualsIfExists": {"aws:SourceVpce": ["vpce-0abc123"]},
            "Bool": {"aws:ViaAWSService": "false", "aws:PrincipalIsAWSService": "false"},
            "ArnNotLike": {
                "aws:PrincipalArn": [
                    "arn:aws:iam::123456789012:role/break-glass",
                    # the principal the daemon ran as (moto's default identity here)
                    "arn:aws:sts::123456789012:user/moto",
                ]
            },
        },
    }


def test_a_role_session_is_exempted_as_its_role_with_or_without_a_path():
    assert principal_patterns("arn:aws:sts::123456789012:assumed-role/lw-remediate/i-0abc") == [
        "arn:aws:iam::123456789012:role/lw-remediate",
        "arn:aws:iam::123456789012:role/*/lw-remediate",
    ]
    assert principal_patterns("arn:aws:iam::123456789012:user/ops") == [
        "arn:aws:iam::123456789012:user/ops"
    ]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"enforce": True}, "needs allowed_cidrs"),
        ({"allowed_cidrs": ["10.0.0.300/8"]}, "does not appear to be an IPv4 or IPv6 network"),
        ({"allowed_vpce_ids": ["vpc-123"]}, "not a VPC endpoint id"),
    ],
)
def test_options_are_validated(options, message):
    with pytest.raises(pydantic.ValidationError, match=message):
        REMEDIATION.parse_options(options)


async def test_existing_network_deny_is_resolved_without_a_write(
    bucket, make_violation, run_remediation, writes, put_policy
):
    deny = {
        "Sid": "CorpOnly",
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "*",
        "Resource": [ARN, f"{ARN}/*"],
        "Condition": {"NotIpAddress": {"aws:SourceIp": "192.0.2.0/24"}},
    }
    put_policy(BUCKET, deny)
    record = await run_remediation(REMEDIATION, make_violation("LW_S3_17", BUCKET), options=ENFORCE)
    assert record.status is Status.RESOLVED
    assert writes(record) == []


async def test_dry_run_with_enforce_changes_nothing(
    bucket, policy_of, make_violation, run_remediation, writes
):
    record = await run_remediation(
        REMEDIATION, make_violation("LW_S3_17", BUCKET), options=ENFORCE, mode="dry-run"
    )
    assert record.status is Status.PLANNED
    assert "203.0.113.0/24" in record.detail and "vpce-0abc123" in record.detail
    assert policy_of(BUCKET) is None
    assert writes(record) == []


async def test_revert_deletes_the_new_policy_and_refuses_after_a_change(
    bucket, policy_of, make_violation, run_remediation, revert_action, put_policy
):
    record = await run_remediation(REMEDIATION, make_violation("LW_S3_17", BUCKET), options=ENFORCE)
    assert record.before_image == {"Policy": None}
    await revert_action(REMEDIATION, record, options=ENFORCE)
    assert policy_of(BUCKET) is None

    record = await run_remediation(REMEDIATION, make_violation("LW_S3_17", BUCKET), options=ENFORCE)
    put_policy(BUCKET, CROSS_ACCOUNT)
    with pytest.raises(ResourceChanged):
        await revert_action(REMEDIATION, record, options=ENFORCE)


async def test_least_privilege_manual_default(bucket, make_violation, least_privilege):
    report = await least_privilege.run(
        REMEDIATION, make_violation("LW_S3_17", BUCKET), expect=Status.MANUAL
    )
    assert report.used == {"s3:GetBucketPolicy"}


async def test_least_privilege_enforce_including_revert(bucket, make_violation, least_privilege):
    report = await least_privilege.run(
        REMEDIATION, make_violation("LW_S3_17", BUCKET), options=ENFORCE, revert=True
    )
    assert report.used == {
        "s3:GetBucketPolicy",
        "s3:PutBucketPolicy",
        "s3:DeleteBucketPolicy",
        "sts:GetCallerIdentity",
    }
    # Under a role, the daemon exempts its role (by name, with and without a path).
    exempt = report.record.plan.data["exempt_principal_arns"]
    assert exempt[0] == "arn:aws:iam::123456789012:role/break-glass"
    assert exempt[1].startswith("arn:aws:iam::123456789012:role/lw-remediate-least-privilege-")
