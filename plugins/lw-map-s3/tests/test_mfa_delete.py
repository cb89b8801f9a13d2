"""LW_S3_12: s3.enable_mfa_delete is manual only.

moto ignores ``MFADelete`` on PUT and never returns it on GET, so a moto bucket can
never look compliant; the compliant branch is tested on the predicate instead.
"""

from __future__ import annotations

import pytest

from lw_map_s3.remediations.mfa_delete import REMEDIATION, mfa_delete_enabled
from lw_remediate import Status


async def test_ends_manual_with_the_exact_root_command(s3, make_violation, run_remediation, writes):
    s3.create_bucket(Bucket="audit-trail")
    record = await run_remediation(REMEDIATION, make_violation("LW_S3_12", "audit-trail"))
    assert record.status is Status.MANUAL
    assert (
        "aws s3api put-bucket-versioning --bucket audit-trail --expected-bucket-owner "
        "123456789012 --versioning-configuration Status=Enabled,MFADelete=Enabled "
        '--mfa "arn:aws:iam::123456789012:mfa/root-account-mfa-device 123456"'
    ) in record.detail
    assert "root user" in record.detail
    assert writes(record) == []


def test_runbook_names_the_mfa_device_in_the_buckets_partition(make_violation):
    violation = make_violation("LW_S3_12", "arn:aws-us-gov:s3:::audit-trail")
    runbook = REMEDIATION.render_runbook(violation)
    assert "arn:aws-us-gov:iam::123456789012:mfa/root-account-mfa-device" in runbook
    assert "arn:aws:" not in runbook


async def test_never_applies_even_in_auto_mode(s3, make_violation, run_remediation):
    assert not REMEDIATION.auto_remediable and REMEDIATION.apply is None
    s3.create_bucket(Bucket="audit-trail")
    s3.put_bucket_versioning(Bucket="audit-trail", VersioningConfiguration={"Status": "Enabled"})
    record = await run_remediation(REMEDIATION, make_violation("lacework-global-94", "audit-trail"))
    assert record.status is Status.MANUAL
    assert record.before_image is None


@pytest.mark.parametrize(
    ("versioning", "enabled"),
    [
        ({"Status": "Enabled", "MFADelete": "Enabled"}, True),
        ({"Status": "Enabled", "MFADelete": "Disabled"}, False),
        ({"Status": "Enabled"}, False),
        ({"Status": "Suspended", "MFADelete": "Enabled"}, True),
        ({}, False),
    ],
)
def test_compliance_predicate(versioning, enabled):
    assert mfa_delete_enabled(versioning) is enabled


async def test_least_privilege(s3, make_violation, least_privilege):
    s3.create_bucket(Bucket="audit-trail")
    report = await least_privilege.run(
        REMEDIATION, make_violation("LW_S3_12", "audit-trail"), expect=Status.MANUAL
    )
    assert report.used == {"s3:GetBucketVersioning"}
