"""AWS_CIS_1_20: cis_iam.set_security_contact against moto."""

from __future__ import annotations

import pytest

from lw_map_cis_iam.remediations.security_contact import REMEDIATION
from lw_remediate import ResourceChanged, Status

CONTACT = {
    "name": "Security Team",
    "title": "SecOps",
    "email": "security@example.com",
    "phone": "+1 555 0100",
}


def contact(admin_client):
    return admin_client("account").get_alternate_contact(AlternateContactType="SECURITY")[
        "AlternateContact"
    ]


async def test_missing_contact_is_set_from_options(
    make_violation, run_remediation, write_calls, admin_client
):
    record = await run_remediation(
        REMEDIATION, make_violation("AWS_CIS_1_20", "root"), options=CONTACT
    )
    assert record.status is Status.REMEDIATED, record.detail
    live = contact(admin_client)
    assert live["EmailAddress"] == "security@example.com" and live["Name"] == "Security Team"
    assert write_calls(record) == ["PutAlternateContact"]
    assert record.before_image == {"contact": None}
    change = record.plan.changes[0]
    assert change.target == "arn:aws:account::123456789012:account SECURITY"
    assert change.after["PhoneNumber"] == "+1 555 0100"


async def test_existing_contact_is_resolved_and_never_overwritten(
    make_violation, run_remediation, write_calls, admin_client
):
    admin_client("account").put_alternate_contact(
        AlternateContactType="SECURITY",
        Name="Human",
        Title="CISO",
        EmailAddress="ciso@example.com",
        PhoneNumber="123",
    )
    record = await run_remediation(
        REMEDIATION, make_violation("lacework-global-32", "root"), options=CONTACT
    )
    assert record.status is Status.RESOLVED
    assert write_calls(record) == []
    assert contact(admin_client)["Name"] == "Human"


async def test_without_configured_contact_it_is_refused(
    make_violation, run_remediation, write_calls
):
    record = await run_remediation(REMEDIATION, make_violation("AWS_CIS_1_20", "root"))
    assert record.status is Status.REFUSED
    assert "name, title, email and phone" in record.detail
    assert write_calls(record) == []


async def test_revert_deletes_it_unless_changed(
    make_violation, run_remediation, revert_action, admin_client
):
    record = await run_remediation(
        REMEDIATION, make_violation("AWS_CIS_1_20", "root"), options=CONTACT
    )
    admin_client("account").put_alternate_contact(
        AlternateContactType="SECURITY",
        Name="Edited",
        Title="SecOps",
        EmailAddress="security@example.com",
        PhoneNumber="+1 555 0100",
    )
    with pytest.raises(ResourceChanged):
        await revert_action(REMEDIATION, record)
    record = await run_remediation(
        REMEDIATION, make_violation("AWS_CIS_1_20", "root"), options=CONTACT
    )
    assert record.status is Status.RESOLVED  # the edited contact exists: nothing to do

    admin_client("account").delete_alternate_contact(AlternateContactType="SECURITY")
    record = await run_remediation(
        REMEDIATION, make_violation("AWS_CIS_1_20", "root"), options=CONTACT
    )
    assert await revert_action(REMEDIATION, record) == (
        "security contact deleted (the account had none before)"
    )
    with pytest.raises(admin_client("account").exceptions.ResourceNotFoundException):
        contact(admin_client)


def test_declared_policy_is_scoped_to_the_account_and_the_security_contact():
    doc = REMEDIATION.policy_for(revert=True).render(account="123456789012")
    for statement in doc["Statement"]:
        assert statement["Resource"] == "arn:aws:account::123456789012:account"
        assert statement["Condition"] == {
            "ForAllValues:StringEquals": {"account:AlternateContactTypes": ["SECURITY"]}
        }


async def test_least_privilege(make_violation, least_privilege):
    report = await least_privilege.run(
        REMEDIATION, make_violation("AWS_CIS_1_20", "root"), options=CONTACT, revert=True
    )
    assert report.used == {
        "account:GetAlternateContact",
        "account:PutAlternateContact",
        "account:DeleteAlternateContact",
    }
