"""LW_S3_1 ... LW_S3_10: s3.remove_public_acl_grants against moto."""

from __future__ import annotations

import asyncio

import pytest
from moto.s3.exceptions import S3ClientError
from moto.s3.models import (
    OWNER,
    PERMISSION_FULL_CONTROL,
    FakeAcl,
    FakeGrant,
    FakeGrantee,
    S3Backend,
)

from lw_map_s3.remediations.public_acl import ALL_USERS, AUTHENTICATED_USERS, REMEDIATION, RULES
from lw_remediate import ResourceChanged, Status
from lw_remediate.maps import RuleIndex

BUCKET = "legacy-acl-bucket"
LOG_DELIVERY = "http://acs.amazonaws.com/groups/s3/LogDelivery"
PARTNER = "b" * 64  # a named account's canonical user id
PERMISSIONS = ("READ", "WRITE", "READ_ACP", "WRITE_ACP", "FULL_CONTROL")


def group(uri, permission):
    return {"Grantee": {"Type": "Group", "URI": uri}, "Permission": permission}


def legitimate_grants(owner_id):
    return [
        {"Grantee": {"Type": "CanonicalUser", "ID": owner_id}, "Permission": "FULL_CONTROL"},
        group(LOG_DELIVERY, "WRITE"),
        group(LOG_DELIVERY, "READ_ACP"),
        {"Grantee": {"Type": "CanonicalUser", "ID": PARTNER}, "Permission": "READ"},
    ]


def grant_keys(grants):
    return {
        (g["Grantee"]["Type"], g["Grantee"].get("URI") or g["Grantee"].get("ID"), g["Permission"])
        for g in grants
    }


@pytest.fixture
def acl_bucket(s3):
    """A bucket whose ACL grants every permission to both public groups, plus legitimate grants."""
    s3.create_bucket(Bucket=BUCKET)
    owner = s3.get_bucket_acl(Bucket=BUCKET)["Owner"]
    public = [group(uri, p) for uri in (ALL_USERS, AUTHENTICATED_USERS) for p in PERMISSIONS]
    s3.put_bucket_acl(
        Bucket=BUCKET,
        AccessControlPolicy={"Owner": owner, "Grants": legitimate_grants(owner["ID"]) + public},
    )
    return owner


def live_grants(s3):
    return grant_keys(s3.get_bucket_acl(Bucket=BUCKET)["Grants"])


ENFORCED = {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}


class AwsObjectOwnership:
    """moto answering as AWS documents for a bucket whose ACLs are disabled.

    With Object Ownership ``BucketOwnerEnforced`` AWS still answers ``GetBucketAcl``,
    always with the owner's FULL_CONTROL grant only, and refuses an ACL write granting
    anything else with ``AccessControlListNotSupported`` (Amazon S3 User Guide, Object Ownership,
    "Troubleshooting"). moto 5.2 answers the stored grants and accepts every write, and
    it lets ``BucketOwnerEnforced`` be set over public grants (AWS refuses that with
    ``InvalidBucketAclWithObjectOwnership``), so a test can also stand for the moment
    between a read that still saw the grants and a write after ACLs were disabled.
    Each switch patches moto's S3 backend (the test double), never the remediation.
    """

    def __init__(self, monkeypatch):
        self.monkeypatch = monkeypatch

    @staticmethod
    def _enforced(backend, bucket_name):
        return backend.get_bucket(bucket_name).ownership_rule == "BucketOwnerEnforced"

    def owner_only_reads(self):
        original = S3Backend.get_bucket_acl

        def get_bucket_acl(backend, bucket_name):
            if self._enforced(backend, bucket_name):
                owner = FakeGrantee(grantee_id=OWNER)  # moto's owner of every bucket
                return FakeAcl([FakeGrant([owner], [PERMISSION_FULL_CONTROL])])
            return original(backend, bucket_name)

        self.monkeypatch.setattr(S3Backend, "get_bucket_acl", get_bucket_acl)

    def refused_writes(self):
        original = S3Backend.put_bucket_acl

        def owner_full_control_only(acl):
            return all(
                g.permissions == [PERMISSION_FULL_CONTROL]
                and all(grantee.id == OWNER for grantee in g.grantees)
                for g in (acl.grants if acl else [])
            )

        def put_bucket_acl(backend, bucket_name, acl):
            if self._enforced(backend, bucket_name) and not owner_full_control_only(acl):
                raise S3ClientError(
                    "AccessControlListNotSupported", "The bucket does not allow ACLs"
                )
            return original(backend, bucket_name, acl)

        self.monkeypatch.setattr(S3Backend, "put_bucket_acl", put_bucket_acl)

    def disabled_right_after_the_ownership_read(self):
        """Another actor disables ACLs just after the remediation read Object Ownership."""
        original = S3Backend.get_bucket_ownership_controls

        def get_bucket_ownership_controls(backend, bucket_name):
            answer = original(backend, bucket_name)
            backend.get_bucket(bucket_name).ownership_rule = "BucketOwnerEnforced"
            return answer

        self.monkeypatch.setattr(
            S3Backend, "get_bucket_ownership_controls", get_bucket_ownership_controls
        )


@pytest.fixture
def aws_ownership(moto_server, monkeypatch):
    return AwsObjectOwnership(monkeypatch)


def test_moto_still_differs_from_aws_where_aws_ownership_stands_in(s3, acl_bucket):
    # The reason AwsObjectOwnership exists: if moto starts answering as AWS documents,
    # this fails and the tests above can use moto as it is.
    s3.put_bucket_ownership_controls(Bucket=BUCKET, OwnershipControls=ENFORCED)  # AWS: refused
    assert ("Group", ALL_USERS, "READ") in live_grants(s3)  # AWS: the owner's grant only
    s3.put_bucket_acl(Bucket=BUCKET, ACL="public-read")  # AWS: AccessControlListNotSupported


@pytest.mark.parametrize("rule_id", sorted(RULES, key=lambda r: int(r.rsplit("_", 1)[1])))
async def test_removes_only_the_rules_grants(
    rule_id, s3, acl_bucket, make_violation, run_remediation
):
    uri, permission = RULES[rule_id]
    before = live_grants(s3)
    record = await run_remediation(REMEDIATION, make_violation(rule_id, BUCKET))
    assert record.status is Status.REMEDIATED, record.detail
    removed = {("Group", uri, permission), ("Group", uri, "FULL_CONTROL")}
    assert live_grants(s3) == before - removed
    # The owner, LogDelivery and the named account survive; so does the other group.
    assert grant_keys(legitimate_grants(acl_bucket["ID"])) <= live_grants(s3)
    assert {c.before["Permission"] for c in record.plan.changes} == {permission, "FULL_CONTROL"}
    assert all(c.operation == "remove_acl_grant" for c in record.plan.changes)
    # 4 requests: check reads the ACL (plan builds on it), apply re-reads it and writes it,
    # verify reads it again; Object Ownership is not read on this path
    assert [c.operation for c in record.calls] == [
        "GetBucketAcl",
        "GetBucketAcl",
        "PutBucketAcl",
        "GetBucketAcl",
    ]


async def test_before_image_is_the_full_acl_and_revert_restores_it(
    s3, acl_bucket, make_violation, run_remediation, revert_action
):
    original = s3.get_bucket_acl(Bucket=BUCKET)
    record = await run_remediation(REMEDIATION, make_violation("LW_S3_2", BUCKET))
    assert record.before_image["Owner"]["ID"] == original["Owner"]["ID"]
    assert grant_keys(record.before_image["Grants"]) == grant_keys(original["Grants"])
    assert ("Group", ALL_USERS, "WRITE") not in live_grants(s3)

    detail = await revert_action(REMEDIATION, record)
    assert "restored" in detail
    assert live_grants(s3) == grant_keys(original["Grants"])
    assert record.status is Status.REVERTED


async def test_revert_refuses_when_the_acl_changed_since(
    s3, acl_bucket, make_violation, run_remediation, revert_action
):
    record = await run_remediation(REMEDIATION, make_violation("LW_S3_1", BUCKET))
    s3.put_bucket_acl(Bucket=BUCKET, ACL="private")
    with pytest.raises(ResourceChanged):
        await revert_action(REMEDIATION, record)
    assert ("Group", ALL_USERS, "READ") not in live_grants(s3)


async def test_dry_run_plans_exact_grants_and_changes_nothing(
    s3, acl_bucket, make_violation, run_remediation, writes
):
    before = live_grants(s3)
    record = await run_remediation(REMEDIATION, make_violation("LW_S3_6", BUCKET), mode="dry-run")
    assert record.status is Status.PLANNED
    assert "AuthenticatedUsers READ" in record.detail
    assert "AuthenticatedUsers FULL_CONTROL" in record.detail
    assert [c.before for c in record.plan.changes] == [
        group(AUTHENTICATED_USERS, "READ"),
        group(AUTHENTICATED_USERS, "FULL_CONTROL"),
    ]
    assert live_grants(s3) == before
    assert writes(record) == []
    # plan builds on the ACL check read in this run (ctx.checked): one read, not two
    assert [c.operation for c in record.calls] == ["GetBucketAcl"]


async def test_compliant_acl_is_resolved_without_a_write(
    s3, make_violation, run_remediation, writes
):
    s3.create_bucket(Bucket=BUCKET)
    owner = s3.get_bucket_acl(Bucket=BUCKET)["Owner"]
    grants = [*legitimate_grants(owner["ID"]), group(ALL_USERS, "WRITE")]
    s3.put_bucket_acl(Bucket=BUCKET, AccessControlPolicy={"Owner": owner, "Grants": grants})
    # LW_S3_1 is about READ: a public WRITE grant is another rule's business.
    record = await run_remediation(REMEDIATION, make_violation("LW_S3_1", BUCKET))
    assert record.status is Status.RESOLVED
    assert record.detail == "the ACL grants no AllUsers READ or FULL_CONTROL"
    assert writes(record) == []


async def test_acls_disabled_bucket_reads_as_no_public_grant_and_is_resolved(
    s3, acl_bucket, make_violation, run_remediation, writes, aws_ownership
):
    s3.put_bucket_ownership_controls(Bucket=BUCKET, OwnershipControls=ENFORCED)
    aws_ownership.owner_only_reads()
    aws_ownership.refused_writes()
    record = await run_remediation(REMEDIATION, make_violation("LW_S3_1", BUCKET))
    assert record.status is Status.RESOLVED
    # true of what S3 answers, and S3 ignores the ACL of such a bucket anyway
    assert record.detail == "the ACL grants no AllUsers READ or FULL_CONTROL"
    assert [c.operation for c in record.calls] == ["GetBucketAcl"]
    assert writes(record) == []


@pytest.mark.parametrize("options", [{}, {"apply_public_access_block": True}])
async def test_acls_disabled_between_read_and_write_is_refused_and_nothing_changes(
    options, s3, acl_bucket, make_violation, run_remediation, writes, aws_ownership
):
    # moto keeps answering the public grants (the read before ACLs were disabled); the
    # write is refused as AWS refuses it
    s3.put_bucket_ownership_controls(Bucket=BUCKET, OwnershipControls=ENFORCED)
    aws_ownership.refused_writes()
    before = live_grants(s3)
    record = await run_remediation(REMEDIATION, make_violation("LW_S3_1", BUCKET), options=options)
    assert record.status is Status.REFUSED, record.detail
    assert "AccessControlListNotSupported" in record.detail
    assert record.detail.endswith("nothing was changed")
    assert writes(record) == ["PutBucketAcl"]  # refused; the block is never written
    assert live_grants(s3) == before
    with pytest.raises(s3.exceptions.ClientError):
        s3.get_public_access_block(Bucket=BUCKET)


async def test_group_scope_removes_every_grant_of_that_group_only(
    s3, acl_bucket, make_violation, run_remediation
):
    record = await run_remediation(
        REMEDIATION, make_violation("LW_S3_4", BUCKET), options={"acl_scope": "group"}
    )
    assert record.status is Status.REMEDIATED
    grants = live_grants(s3)
    assert not any(uri == ALL_USERS for _, uri, _ in grants)
    assert {p for _, uri, p in grants if uri == AUTHENTICATED_USERS} == set(PERMISSIONS)
    assert grant_keys(legitimate_grants(acl_bucket["ID"])) <= grants


async def test_public_access_block_option_merges_flags_and_revert_restores_both(
    s3, acl_bucket, make_violation, run_remediation, revert_action
):
    s3.put_public_access_block(
        Bucket=BUCKET,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": False,
            "IgnorePublicAcls": False,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": False,
        },
    )
    original = live_grants(s3)
    options = {"apply_public_access_block": True}
    record = await run_remediation(REMEDIATION, make_violation("LW_S3_1", BUCKET), options=options)
    assert record.status is Status.REMEDIATED
    pab = s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
    assert pab == {
        "BlockPublicAcls": True,
        "IgnorePublicAcls": True,
        "BlockPublicPolicy": True,  # already on: kept
        "RestrictPublicBuckets": False,
    }
    assert [c.operation for c in record.plan.changes][-1] == "put_public_access_block"

    await revert_action(REMEDIATION, record, options=options)
    pab = s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
    assert pab["BlockPublicAcls"] is False and pab["BlockPublicPolicy"] is True
    assert live_grants(s3) == original


async def test_revert_refuses_once_acls_are_disabled_before_writing_anything(
    s3, acl_bucket, make_violation, run_remediation, revert_action, aws_ownership
):
    options = {"apply_public_access_block": True}
    record = await run_remediation(REMEDIATION, make_violation("LW_S3_1", BUCKET), options=options)
    assert record.status is Status.REMEDIATED
    s3.put_bucket_ownership_controls(Bucket=BUCKET, OwnershipControls=ENFORCED)
    aws_ownership.refused_writes()
    after_grants = live_grants(s3)
    after_block = s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
    with pytest.raises(ResourceChanged, match=r"ACLs are now disabled.*nothing was changed"):
        await revert_action(REMEDIATION, record, options=options)
    assert live_grants(s3) == after_grants
    pab = s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
    assert pab == after_block


async def test_revert_puts_the_block_back_when_acls_are_disabled_while_reverting(
    s3, acl_bucket, make_violation, run_remediation, revert_action, aws_ownership
):
    options = {"apply_public_access_block": True}
    record = await run_remediation(REMEDIATION, make_violation("LW_S3_1", BUCKET), options=options)
    assert record.status is Status.REMEDIATED
    after_grants = live_grants(s3)
    after_block = s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
    aws_ownership.disabled_right_after_the_ownership_read()
    aws_ownership.refused_writes()
    with pytest.raises(ResourceChanged, match="Public Access Block was put back"):
        await revert_action(REMEDIATION, record, options=options)
    assert live_grants(s3) == after_grants
    pab = s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
    assert pab == after_block  # lifted for the ACL write, then put back


async def test_two_rules_on_one_bucket_concurrently_both_take_effect(
    s3, acl_bucket, make_violation, run_remediation
):
    records = await asyncio.gather(
        run_remediation(REMEDIATION, make_violation("LW_S3_1", BUCKET)),
        run_remediation(REMEDIATION, make_violation("LW_S3_7", BUCKET)),
    )
    assert [r.status for r in records] == [Status.REMEDIATED, Status.REMEDIATED]
    grants = live_grants(s3)
    for gone_grant in [
        ("Group", ALL_USERS, "READ"),
        ("Group", ALL_USERS, "FULL_CONTROL"),
        ("Group", AUTHENTICATED_USERS, "WRITE"),
        ("Group", AUTHENTICATED_USERS, "FULL_CONTROL"),
    ]:
        assert gone_grant not in grants
    assert ("Group", ALL_USERS, "WRITE") in grants


async def test_least_privilege_without_revert_needs_no_ownership_read(
    s3, acl_bucket, make_violation, least_privilege
):
    report = await least_privilege.run(REMEDIATION, make_violation("LW_S3_1", BUCKET))
    assert report.used == {"s3:GetBucketAcl", "s3:PutBucketAcl"}
    assert ("Group", ALL_USERS, "READ") not in live_grants(s3)


async def test_least_privilege_including_revert(s3, acl_bucket, make_violation, least_privilege):
    report = await least_privilege.run(REMEDIATION, make_violation("LW_S3_1", BUCKET), revert=True)
    # only undo reads Object Ownership (declared as an undo action)
    assert report.used == {"s3:GetBucketOwnershipControls", "s3:GetBucketAcl", "s3:PutBucketAcl"}
    assert ("Group", ALL_USERS, "READ") in live_grants(s3)  # reverted


async def test_least_privilege_with_public_access_block_option(
    s3, acl_bucket, make_violation, least_privilege
):
    report = await least_privilege.run(
        REMEDIATION,
        make_violation("LW_S3_8", BUCKET),
        options={"apply_public_access_block": True},
        revert=True,
    )
    assert {"s3:GetBucketPublicAccessBlock", "s3:PutBucketPublicAccessBlock"} <= report.used
    assert "DeletePublicAccessBlock" in {c.operation for c in report.calls}


def test_every_acl_rule_and_its_alias_reach_this_remediation():
    index = RuleIndex([REMEDIATION])
    for number, rule in enumerate(sorted(RULES, key=lambda r: int(r.rsplit("_", 1)[1])), 130):
        assert index.lookup(rule).remediations == (REMEDIATION,)
        assert index.lookup(f"lacework-global-{number}").remediations == (REMEDIATION,)
