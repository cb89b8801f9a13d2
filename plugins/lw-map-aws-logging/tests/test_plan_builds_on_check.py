"""``plan`` builds on what ``check`` read moments ago in the same run (``ctx.checked``).

A dry-run reads the trail once (CIS 2.2, 2.7), and on a trail's bucket (CIS 2.3, 2.6) the
trail and each lw-map-s3 part's state once: the parts' plans build on the parts' checks.
``plan`` on its own (``ctx.checked`` None) still reads all of it itself and plans
exactly the same change.
"""

from __future__ import annotations

import json

from lw_map_aws_logging.remediations import log_file_validation, trail_bucket, trail_encryption

TRAIL_BUCKET = "cloudtrail-logs-123456789012"


async def test_log_file_validation(trail, trail_violation, plans_on_check):
    operations, alone = await plans_on_check(
        log_file_validation.REMEDIATION, trail_violation("AWS_CIS_2_2")
    )
    assert operations == alone == ["GetTrail"]


async def test_trail_encryption(admin_client, trail, trail_violation, plans_on_check):
    cloudtrail_may_use = {
        "Effect": "Allow",
        "Principal": {"Service": "cloudtrail.amazonaws.com"},
        "Action": ["kms:GenerateDataKey*", "kms:DescribeKey"],
        "Resource": "*",
    }
    policy = json.dumps({"Version": "2012-10-17", "Statement": [cloudtrail_may_use]})
    key = admin_client("kms").create_key(Policy=policy)["KeyMetadata"]["Arn"]
    operations, alone = await plans_on_check(
        trail_encryption.REMEDIATION,
        trail_violation("AWS_CIS_2_7"),
        options={"kms_key_arn": key},
    )
    assert operations.count("GetTrail") == 1 and alone.count("GetTrail") == 1
    assert operations == alone


async def test_public_trail_bucket(s3, trail, trail_violation, plans_on_check):
    owner = s3.get_bucket_acl(Bucket=TRAIL_BUCKET)["Owner"]
    public_read = {
        "Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"},
        "Permission": "READ",
    }
    s3.put_bucket_acl(
        Bucket=TRAIL_BUCKET,
        AccessControlPolicy={"Owner": owner, "Grants": [public_read]},
    )
    statement = {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{TRAIL_BUCKET}/*",
    }
    s3.put_bucket_policy(
        Bucket=TRAIL_BUCKET,
        Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]}),
    )
    operations, alone = await plans_on_check(
        trail_bucket.REMEDIATION_PUBLIC, trail_violation("AWS_CIS_2_3")
    )
    # the trail, then each part's check (AllUsers and AuthenticatedUsers read the ACL each);
    # the parts' plans read nothing more
    assert operations == alone == ["GetTrail", "GetBucketAcl", "GetBucketAcl", "GetBucketPolicy"]


async def test_trail_bucket_logging(s3, trail, trail_violation, plans_on_check):
    target = "access-logs-123456789012-us-east-1"
    s3.create_bucket(Bucket=target)
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{target}/*",
    }
    s3.put_bucket_policy(
        Bucket=target, Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    )
    operations, alone = await plans_on_check(
        trail_bucket.REMEDIATION_LOGGING,
        trail_violation("AWS_CIS_2_6"),
        options={"target_bucket": "access-logs-{account}-{region}"},
    )
    # the trail and the logging (check), the two buckets' regions (plan)
    assert (
        operations
        == alone
        == ["GetTrail", "GetBucketLogging", "GetBucketLocation", "GetBucketLocation"]
    )
