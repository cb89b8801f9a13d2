"""AWS_CIS_1_24: no IAM policy granting full ``"*:*"`` administrative privileges is attached.

Removing admin rights can lock an account out of administration and break pipelines, so
the default is to notify (``manual``) with the list of principals holding the policy.
The opt-in ``detach`` detaches the policy from every user, group and role except the
configured break-glass principals and the daemon's own principal; by default it refuses
unless a break-glass principal keeps the policy, so the account is never left without
an administrator. Undo re-attaches (lossless).

PRIVILEGE-SENSITIVE: the undo actions (``iam:Attach*Policy``) can grant administrator
rights. Run it under a separate role.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Mapping
from typing import Any, Literal

import pydantic

from lw_remediate import (
    ActionRecord,
    Arn,
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

from .._iam import USER_ARNS, iam_arn, unless_missing

KINDS = ("user", "group", "role")
_RESPONSE_KEYS = {"user": "PolicyUsers", "group": "PolicyGroups", "role": "PolicyRoles"}
_NAME_KEYS = {"user": "UserName", "group": "GroupName", "role": "RoleName"}
_PRINCIPAL = r"^arn:aws[a-z-]*:iam::\d{12}:(user|group|role)/.+$"
GROUP_ARNS = ("arn:{partition}:iam::{account}:group/*",)
ROLE_ARNS = ("arn:{partition}:iam::{account}:role/*",)
#: AWS managed and customer managed policies (``GetPolicy``, ``ListEntitiesForPolicy``, ...).
POLICY_ARNS = (
    "arn:{partition}:iam::aws:policy/*",
    "arn:{partition}:iam::{account}:policy/*",
)

Entities = dict[str, list[str]]  # kind -> sorted names


class Options(RemediationOptions):
    """Notify by default; or detach from everyone but the break-glass principals."""

    action: Literal["notify", "detach"] = "notify"
    #: Users, groups and roles that keep the policy (IAM ARNs; matched by kind and name).
    break_glass_principals: tuple[str, ...] = ()
    #: Refuse unless at least one break-glass principal keeps this policy.
    keep_an_administrator: bool = True

    @pydantic.field_validator("break_glass_principals")
    @classmethod
    def _arns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [v for v in value if not re.match(_PRINCIPAL, v)]
        if bad:
            raise ValueError(f"not IAM user/group/role ARNs: {', '.join(bad)}")
        return value


def _principal(arn: str) -> tuple[str, str]:
    """(kind, name) of a user/group/role ARN, ignoring its path."""
    parsed = Arn.parse(arn)
    kind = parsed.resource.split("/", 1)[0]
    return kind, parsed.resource_name


def _statements(document: Any) -> list[Mapping[str, Any]]:
    if isinstance(document, str):
        document = json.loads(urllib.parse.unquote(document))
    statements = document.get("Statement", [])
    return [statements] if isinstance(statements, Mapping) else list(statements)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def full_admin_statements(document: Any) -> list[Mapping[str, Any]]:
    """Statements that ``Allow`` action ``*`` on resource ``*``."""
    return [
        st
        for st in _statements(document)
        if st.get("Effect") == "Allow"
        and "*" in _as_list(st.get("Action", []))
        and "*" in _as_list(st.get("Resource", []))
    ]


async def read_policy(iam: Any, policy_arn: str) -> tuple[bool, Entities] | None:
    """(grants full admin, attached entities); None when the policy no longer exists."""
    policy = await unless_missing(iam.get_policy(PolicyArn=policy_arn))
    if policy is None:
        return None
    version_id = policy["Policy"]["DefaultVersionId"]
    version = await unless_missing(
        iam.get_policy_version(PolicyArn=policy_arn, VersionId=version_id)
    )
    if version is None:
        return None
    admin = bool(full_admin_statements(version["PolicyVersion"]["Document"]))
    return admin, await read_entities(iam, policy_arn)


async def read_entities(iam: Any, policy_arn: str) -> Entities:
    entities: Entities = {kind: [] for kind in KINDS}
    async for page in iam.get_paginator("list_entities_for_policy").paginate(PolicyArn=policy_arn):
        for kind in KINDS:
            entities[kind] += [e[_NAME_KEYS[kind]] for e in page.get(_RESPONSE_KEYS[kind], [])]
    return {kind: sorted(names) for kind, names in entities.items()}


def _policy_arn(violation: Violation) -> str:
    arn = violation.arn
    if arn.service != "iam" or not arn.resource.startswith("policy/"):
        raise RemediationRefused(f"{violation.resource_arn} is not an IAM policy ARN")
    return str(arn)  # with the partition, also when Lacework left it out


def _describe(entities: Entities) -> str:
    return ", ".join(f"{kind} {name}" for kind in KINDS for name in entities[kind]) or "nobody"


async def check(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    policy_arn = _policy_arn(violation)
    async with ctx.aws.client("iam") as iam:
        state = await read_policy(iam, policy_arn)
    if state is None:
        return CheckResult.compliant(f"policy {policy_arn} no longer exists")
    admin, entities = state
    if not admin:
        return CheckResult.compliant(f"policy {policy_arn} no longer grants *:*")
    if not any(entities.values()):
        return CheckResult.compliant(f"policy {policy_arn} is not attached", entities=entities)
    return CheckResult.violating(
        f"policy {policy_arn} grants *:* and is attached to {_describe(entities)}",
        entities=entities,
    )


async def _keep(
    ctx: RemediationContext[Any],
) -> tuple[set[tuple[str, str]], tuple[str, str] | None]:
    """(break-glass principals, the daemon's own principal)."""
    keep = {_principal(arn) for arn in ctx.options.break_glass_principals}
    async with ctx.aws.client("sts") as sts:
        caller = str((await sts.get_caller_identity())["Arn"])
    parsed = Arn.parse(caller)
    me: tuple[str, str] | None = None
    if parsed.resource.startswith("assumed-role/"):
        me = ("role", parsed.resource.split("/")[1])
    elif parsed.resource.startswith("user/"):
        me = ("user", parsed.resource_name)
    return keep, me


def _targets(
    entities: Entities, keep: set[tuple[str, str]], me: tuple[str, str] | None
) -> Entities:
    return {
        kind: [n for n in names if (kind, n) not in keep and (kind, n) != me]
        for kind, names in entities.items()
    }


async def plan(ctx: RemediationContext[Any], violation: Violation) -> Plan:
    policy_arn = _policy_arn(violation)
    if not ctx.options.break_glass_principals:
        raise RemediationRefused(
            "no break-glass principals configured: set break_glass_principals so the account "
            "keeps an administrator"
        )

    async def live() -> Entities | None:
        async with ctx.aws.client("iam") as iam:
            state = await read_policy(iam, policy_arn)
        return state[1] if state is not None and state[0] else None

    # check read the policy and its entities in this run (a check that records entities
    # found the policy granting *:*): no second GetPolicy/GetPolicyVersion/ListEntities
    found: Entities | None = await ctx.checked_or_read("entities", live)
    if found is None:
        return Plan(f"policy {policy_arn} no longer grants *:*")
    entities = found
    keep, me = await _keep(ctx)
    targets = _targets(entities, keep, me)
    kept = {k: [n for n in entities[k] if n not in targets[k]] for k in KINDS}
    if not any(targets.values()):
        raise RemediationRefused(
            f"policy {policy_arn} is attached only to principals that keep it: {_describe(kept)}"
        )
    if ctx.options.keep_an_administrator and not any(
        (k, n) in keep for k in KINDS for n in kept[k]
    ):
        raise RemediationRefused(
            f"no break-glass principal holds {policy_arn}: detaching it from "
            f"{_describe(targets)} could leave the account without an administrator (attach it "
            "to a break-glass principal first, or set keep_an_administrator = false)"
        )
    changes = [
        Change(f"detach_{kind}_policy", iam_arn(violation, f"{kind}/{name}"), policy_arn, None)
        for kind in KINDS
        for name in targets[kind]
    ]
    notes = [
        f"kept by: {_describe(kept)}",
        "the detached principals lose every permission this policy gave them",
        "PRIVILEGE-SENSITIVE: undo re-attaches the admin policy (lossless)",
    ]
    if me is not None and me[1] in entities[me[0]]:
        notes.append(f"the daemon's own {me[0]} {me[1]} keeps it (never detached from itself)")
    return Plan(
        summary=f"detach *:* policy {policy_arn} from {_describe(targets)}",
        changes=changes,
        data={"policy_arn": policy_arn, "targets": targets},
        notes=notes,
    )


async def apply(ctx: RemediationContext[Any], plan: Plan) -> Mapping[str, Any]:
    policy_arn = str(plan.data["policy_arn"])
    planned: Entities = plan.data["targets"]
    async with ctx.aws.client("iam") as iam:
        entities = await read_entities(iam, policy_arn)  # re-read right before writing
        keep, me = await _keep(ctx)
        live = _targets(entities, keep, me)
        targets = {k: [n for n in live[k] if n in planned.get(k, [])] for k in KINDS}
        if not any(targets.values()):
            return {"policy_arn": policy_arn, "entities": entities}
        await ctx.record_before(
            {"policy_arn": policy_arn, "entities": entities, "detached": targets}
        )
        for kind in KINDS:
            detach = getattr(iam, f"detach_{kind}_policy")
            for name in targets[kind]:
                await unless_missing(detach(**{_NAME_KEYS[kind]: name, "PolicyArn": policy_arn}))
                ctx.log.info("admin_policy_detached", policy_arn=policy_arn, kind=kind, name=name)
        remaining = {k: [n for n in entities[k] if n not in targets[k]] for k in KINDS}
    return {"policy_arn": policy_arn, "entities": remaining}


async def verify(ctx: RemediationContext[Any], violation: Violation) -> VerifyResult:
    policy_arn = _policy_arn(violation)
    async with ctx.aws.client("iam") as iam:
        state = await read_policy(iam, policy_arn)
    if state is None or not state[0]:
        return VerifyResult.verified(f"policy {policy_arn} no longer grants *:*")
    keep, me = await _keep(ctx)
    left = _targets(state[1], keep, me)
    if any(left.values()):
        return VerifyResult.failed(f"{policy_arn} is still attached to {_describe(left)}")
    return VerifyResult.verified(f"{policy_arn} is attached only to {_describe(state[1])}")


async def revert(ctx: RemediationContext[Any], record: ActionRecord) -> str:
    before, after = record.before_image or {}, record.after_image or {}
    policy_arn = str(before["policy_arn"])
    detached: Entities = before.get("detached", {})
    async with ctx.aws.client("iam") as iam:
        entities = await unless_missing(read_entities(iam, policy_arn))
        if entities is None:
            raise ResourceChanged(f"policy {policy_arn} no longer exists")
        if entities != after.get("entities"):
            raise ResourceChanged(
                f"the attachments of {policy_arn} changed since the action; not reverting"
            )
        for kind in KINDS:
            attach = getattr(iam, f"attach_{kind}_policy")
            for name in detached.get(kind, []):
                await attach(**{_NAME_KEYS[kind]: name, "PolicyArn": policy_arn})
    return f"re-attached {policy_arn} to {_describe({k: detached.get(k, []) for k in KINDS})}"


def _option_policy(options: Options) -> IamPolicy:
    if options.action != "detach":
        return IamPolicy()
    return (
        IamPolicy.allow(["sts:GetCallerIdentity"])
        + IamPolicy.allow(["iam:DetachUserPolicy"], USER_ARNS)
        + IamPolicy.allow(["iam:DetachGroupPolicy"], GROUP_ARNS)
        + IamPolicy.allow(["iam:DetachRolePolicy"], ROLE_ARNS)
    )


RUNBOOK = """\
IAM policy {resource} in account {account} allows "*" on "*" and is attached ({rule_id}).
1. See who holds it:
   aws iam list-entities-for-policy --policy-arn {resource}
2. Decide which principals really need full administration (keep one or two break-glass
   principals, ideally with MFA); give everyone else a scoped policy first.
3. Detach it from the others:
   aws iam detach-user-policy  --user-name <user>   --policy-arn {resource}
   aws iam detach-group-policy --group-name <group> --policy-arn {resource}
   aws iam detach-role-policy  --role-name <role>   --policy-arn {resource}
The option action = "detach" with break_glass_principals does step 3 for everyone not on
the list (privilege-sensitive: run it under a separate role)."""


REMEDIATION = Remediation(
    id="cis_iam.detach_admin_policy",
    rules=("AWS_CIS_1_24",),
    title='Detach a "*:*" admin policy from everyone but the break-glass principals',
    description=(
        "PRIVILEGE-SENSITIVE (undo re-attaches admin rights; run it under a separate role). "
        "Manual by default. The opt-in detach removes the policy from every user, group and "
        "role except break_glass_principals and the daemon's own principal, and refuses "
        "unless a break-glass principal keeps it. Undo re-attaches."
    ),
    resource_type="iam:policy",
    policy=IamPolicy.allow(
        ["iam:GetPolicy", "iam:GetPolicyVersion", "iam:ListEntitiesForPolicy"], POLICY_ARNS
    ),
    option_policy=_option_policy,
    revert_policy=IamPolicy.allow(["iam:AttachUserPolicy"], USER_ARNS)
    + IamPolicy.allow(["iam:AttachGroupPolicy"], GROUP_ARNS)
    + IamPolicy.allow(["iam:AttachRolePolicy"], ROLE_ARNS),
    check=check,
    plan=plan,
    apply=apply,
    verify=verify,
    revert=revert,
    options=Options,
    manual_when=lambda options: options.action == "notify",
    runbook=RUNBOOK,
    privilege_sensitive=True,
)
