"""AWS_CIS_1_20: a security contact is registered for the account.

When the account has no SECURITY alternate contact, set it from the options (name,
title, e-mail -- a distribution list -- and phone). An existing contact is never
overwritten: somebody entered it. Undo deletes the contact the action created.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pydantic
from botocore.exceptions import ClientError

from lw_remediate import (
    ActionRecord,
    Change,
    CheckResult,
    IamPolicy,
    Plan,
    Remediation,
    RemediationContext,
    RemediationOptions,
    RemediationRefused,
    ResourceChanged,
    VerifyResult,
    Violation,
)

from .._iam import error_code

CONTACT_TYPE = "SECURITY"
ACCOUNT_ARNS = ("arn:{partition}:account::{account}:account",)
#: Restricts every contact action to the SECURITY contact.
SECURITY_ONLY = {"ForAllValues:StringEquals": {"account:AlternateContactTypes": [CONTACT_TYPE]}}
FIELDS = ("Name", "Title", "EmailAddress", "PhoneNumber")


class Options(RemediationOptions):
    """The contact to register; all four are required before anything is written."""

    name: str | None = pydantic.Field(None, min_length=1, max_length=64)
    title: str | None = pydantic.Field(None, min_length=1, max_length=50)
    #: Prefer a distribution list over a person's mailbox.
    email: str | None = pydantic.Field(
        None, min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
    )
    phone: str | None = pydantic.Field(None, min_length=1, max_length=25, pattern=r"^[\s0-9()+-]+$")


def _wanted(options: Options) -> dict[str, str] | None:
    values = (options.name, options.title, options.email, options.phone)
    if any(v is None for v in values):
        return None
    return dict(zip(FIELDS, (str(v) for v in values), strict=True))


async def read_contact(ctx: RemediationContext[Any]) -> dict[str, str] | None:
    """The SECURITY alternate contact, or None when the account has none."""
    async with ctx.aws.client("account") as account:
        try:
            response = await account.get_alternate_contact(AlternateContactType=CONTACT_TYPE)
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return None
            raise
    contact = response.get("AlternateContact", {})
    return {k: str(contact[k]) for k in FIELDS if k in contact}


def _target(violation: Violation) -> str:
    return f"arn:{violation.arn.partition}:account::{violation.account_id}:account"


async def check(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    contact = await read_contact(ctx)
    if contact is not None:
        return CheckResult.compliant(
            f"account {violation.account_id} has a security contact ({contact.get('EmailAddress')})",
            contact=contact,
        )
    return CheckResult.violating(
        f"account {violation.account_id} has no security contact", contact=None
    )


async def plan(ctx: RemediationContext[Any], violation: Violation) -> Plan:
    # check read the contact in this run: no second GetAlternateContact (apply re-reads)
    if await ctx.checked_or_read("contact", lambda: read_contact(ctx)) is not None:
        return Plan("the account already has a security contact")
    wanted = _wanted(ctx.options)
    if wanted is None:
        raise RemediationRefused(
            "no security contact configured: set name, title, email and phone under "
            '[remediation."cis_iam.set_security_contact"]'
        )
    return Plan(
        summary=f"register {wanted['Name']} <{wanted['EmailAddress']}> as the security "
        f"contact of account {violation.account_id}",
        changes=[Change("put_alternate_contact", f"{_target(violation)} SECURITY", None, wanted)],
        data={"contact": wanted},
        notes=["reversible: undo deletes the security contact again"],
    )


async def apply(ctx: RemediationContext[Any], plan: Plan) -> Mapping[str, Any]:
    current = await read_contact(ctx)  # re-read right before writing
    if current is not None:
        return {"contact": current}  # somebody registered one meanwhile: never overwrite
    wanted: dict[str, str] = dict(plan.data["contact"])
    await ctx.record_before({"contact": None})
    async with ctx.aws.client("account") as account:
        await account.put_alternate_contact(AlternateContactType=CONTACT_TYPE, **wanted)
    ctx.log.info("security_contact_set", email=wanted["EmailAddress"])
    return {"contact": wanted}


async def verify(ctx: RemediationContext[Any], violation: Violation) -> VerifyResult:
    contact = await read_contact(ctx)
    if contact is None:
        return VerifyResult.failed("the account still has no security contact")
    return VerifyResult.verified(f"security contact: {contact.get('EmailAddress')}")


async def revert(ctx: RemediationContext[Any], record: ActionRecord) -> str:
    written = (record.after_image or {}).get("contact")
    current = await read_contact(ctx)
    if current is None or current != written:
        raise ResourceChanged("the security contact changed since the action; not reverting")
    async with ctx.aws.client("account") as account:
        await account.delete_alternate_contact(AlternateContactType=CONTACT_TYPE)
    return "security contact deleted (the account had none before)"


REMEDIATION = Remediation(
    id="cis_iam.set_security_contact",
    rules=("AWS_CIS_1_20",),
    title="Register the account's security contact when it has none",
    description=(
        "Sets the SECURITY alternate contact from the options (name, title, email, phone) "
        "only when none exists; never overwrites one. Refused until the options are set."
    ),
    resource_type="iam:account",
    policy=IamPolicy.allow(
        ["account:GetAlternateContact", "account:PutAlternateContact"],
        ACCOUNT_ARNS,
        conditions=SECURITY_ONLY,
    ),
    revert_policy=IamPolicy.allow(
        ["account:DeleteAlternateContact"], ACCOUNT_ARNS, conditions=SECURITY_ONLY
    ),
    check=check,
    plan=plan,
    apply=apply,
    verify=verify,
    revert=revert,
    options=Options,
)
