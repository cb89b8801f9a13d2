"""services.restrict_es_domain_policy (ELASTICSEARCH_1) and services.encrypt_es_domain
(ELASTICSEARCH_3, manual by default)."""

from __future__ import annotations

import json

import pytest

from lw_map_aws_services.remediations.encrypt_in_place import DOMAIN_ENCRYPTION
from lw_map_aws_services.remediations.es_access import REMEDIATION
from lw_remediate import ResourceChanged, RevertNotSupported, Status

RULE = "LW_AWS_ELASTICSEARCH_1"
RESOURCE = "arn:aws:es:us-east-1:123456789012:domain/search/*"
PUBLIC = {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "es:*", "Resource": RESOURCE}
OFFICE = {
    "Effect": "Allow",
    "Principal": "*",
    "Action": "es:ESHttpGet",
    "Resource": RESOURCE,
    "Condition": {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
}
TEAM = {
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::123456789012:role/search-team"},
    "Action": "es:*",
    "Resource": RESOURCE,
}


def doc(*statements):
    return {"Version": "2012-10-17", "Id": "search-policy", "Statement": list(statements)}


async def test_public_statement_removed_others_kept_and_undo(
    domain, access_policy, violation, run_remediation, revert_action, writes
):
    arn = domain("search", doc(PUBLIC, OFFICE, TEAM))
    record = await run_remediation(REMEDIATION, violation(RULE, arn))
    assert record.status is Status.REMEDIATED, record.detail
    assert access_policy("search") == doc(OFFICE, TEAM)
    assert writes(record) == ["UpdateDomainConfig"]
    assert record.plan.changes[0].before == PUBLIC
    await revert_action(REMEDIATION, record)
    assert access_policy("search") == doc(PUBLIC, OFFICE, TEAM)


async def test_only_public_statement_becomes_own_account_only(
    domain, access_policy, violation, run_remediation
):
    arn = domain("search", doc(PUBLIC))
    record = await run_remediation(REMEDIATION, violation(RULE, arn))
    assert record.status is Status.REMEDIATED, record.detail
    assert access_policy("search")["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
            "Action": "es:*",
            "Resource": f"{arn}/*",
        }
    ]
    assert any("own account only" in note for note in record.plan.notes)


async def test_conditioned_or_absent_policy_and_gone_domain_are_resolved(
    domain, violation, run_remediation, writes
):
    narrowed = domain("search", doc(OFFICE, TEAM))
    bare = domain("bare")
    for arn in (narrowed, bare, bare.replace("bare", "gone")):
        record = await run_remediation(REMEDIATION, violation(RULE, arn))
        assert record.status is Status.RESOLVED, (arn, record.detail)
        assert writes(record) == []


async def test_undo_refuses_when_the_policy_changed_since(
    admin_client, domain, violation, run_remediation, revert_action
):
    arn = domain("search", doc(PUBLIC, TEAM))
    record = await run_remediation(REMEDIATION, violation(RULE, arn))
    admin_client("opensearch").update_domain_config(
        DomainName="search", AccessPolicies=json.dumps(doc(TEAM, OFFICE))
    )
    with pytest.raises(ResourceChanged):
        await revert_action(REMEDIATION, record)


async def test_not_json_policy_is_refused(admin_client, domain, violation, run_remediation):
    arn = domain("search")
    admin_client("opensearch").update_domain_config(DomainName="search", AccessPolicies="{oops")
    record = await run_remediation(REMEDIATION, violation(RULE, arn))
    assert record.status is Status.REFUSED
    assert "not a JSON policy document" in record.detail


# -- ELASTICSEARCH_3 ----------------------------------------------------------------------


def encrypted(admin_client):
    status = admin_client("opensearch").describe_domain(DomainName="search")["DomainStatus"]
    return status["EncryptionAtRestOptions"]["Enabled"]


async def test_encryption_is_manual_by_default(
    admin_client, domain, violation, run_remediation, writes
):
    arn = domain("search")
    record = await run_remediation(DOMAIN_ENCRYPTION, violation("LW_AWS_ELASTICSEARCH_3", arn))
    assert record.status is Status.MANUAL
    assert "--domain-name search" in record.detail
    assert writes(record) == []
    assert encrypted(admin_client) is False


async def test_enforce_encrypts_irreversibly(
    admin_client, domain, violation, run_remediation, revert_action, writes
):
    arn = domain("search")
    record = await run_remediation(
        DOMAIN_ENCRYPTION, violation("LW_AWS_ELASTICSEARCH_3", arn), options={"enforce": True}
    )
    assert record.status is Status.REMEDIATED, record.detail
    assert encrypted(admin_client) is True
    assert record.plan.irreversible
    assert writes(record) == ["UpdateDomainConfig"]
    with pytest.raises(RevertNotSupported):
        await revert_action(DOMAIN_ENCRYPTION, record, options={"enforce": True})
    again = await run_remediation(
        DOMAIN_ENCRYPTION, violation("LW_AWS_ELASTICSEARCH_3", arn), options={"enforce": True}
    )
    assert again.status is Status.RESOLVED
