"""AWS_CIS_1_16: IAM policies attached only to groups or roles.

Manual by default. The opt-in ``migrate`` moves the user's managed and inline policies
to a per-user group ``<group_prefix><user>`` on ``group_path`` with **no permission gap at
any moment**: the group is created, every policy is granted to it and the user joins it;
those grants are read back; only then are the policies removed from the user. If any
grant fails, the grants made so far are rolled back and the user keeps everything.

PRIVILEGE-SENSITIVE: ``iam:AttachGroupPolicy``, ``iam:PutGroupPolicy`` and
``iam:AddUserToGroup`` together can hand any policy to any user. Run this remediation
under a separate, permission-bounded role (``lw-remediate policy`` shows its actions).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

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
    RemediationError,
    RemediationOptions,
    RemediationRefused,
    ResourceChanged,
    VerifyResult,
    Violation,
)

from .._iam import (
    USER_ARNS,
    entity_on_path,
    error_code,
    iam_arn,
    in_group,
    is_no_such_entity,
    normal_path,
    path_arns,
    policies_of,
    unless_missing,
    user_arn,
)


class Options(RemediationOptions):
    """Notify by default; or migrate the policies to a per-user group."""

    action: Literal["notify", "migrate"] = "notify"
    #: The per-user group is ``<group_prefix><user name>``.
    group_prefix: str = pydantic.Field("lw-user-", pattern=r"^[A-Za-z0-9_+=,.@-]{1,60}$")
    #: Groups cannot be tagged: this path marks the groups lw-remediate owns.
    group_path: str = pydantic.Field("/lw-remediation/", pattern=r"^/([\x21-\x7e]*/)?$")


@dataclass
class Policies:
    """Managed policy ARNs and inline policy documents of a user or group."""

    attached: list[str] = field(default_factory=list)
    inline: dict[str, Any] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.attached or self.inline)


def _doc(document: Any) -> Any:
    """A policy document as a JSON value (botocore usually decodes it already)."""
    return json.loads(document) if isinstance(document, str) else document


async def read_user_policies(iam: Any, user: str) -> Policies | None:
    """The user's attached and inline policies; None when the user does not exist."""
    found = await unless_missing(policies_of(iam, "user", user))
    if found is None:
        return None
    attached, inline = found
    return Policies(attached, dict.fromkeys(inline))


async def read_inline_documents(iam: Any, user: str, policies: Policies) -> None:
    for name in list(policies.inline):
        response = await iam.get_user_policy(UserName=user, PolicyName=name)
        policies.inline[name] = _doc(response["PolicyDocument"])


@dataclass
class GroupState:
    name: str
    arn: str
    exists: bool
    attached: list[str] = field(default_factory=list)
    inline: list[str] = field(default_factory=list)
    member: bool = False


def _group_name(options: Options, user: str) -> str:
    return f"{options.group_prefix}{user}"


async def read_group(
    iam: Any, options: Options, user: str, violation: Violation, *, name: str | None = None
) -> GroupState:
    """The per-user group; refuses when a same-named group exists off our path."""
    path = normal_path(options.group_path)
    name = name or _group_name(options, user)
    group = await entity_on_path(
        iam, "group", name, path, otherwise="it is not lw-remediate's; not using it"
    )
    if group is None:
        return GroupState(name, iam_arn(violation, f"group{path}{name}"), exists=False)
    attached, inline = await policies_of(iam, "group", name)
    member = await in_group(iam, user, name)
    return GroupState(name, str(group["Arn"]), True, attached, inline, member)


async def check(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    user = violation.resource_name
    async with ctx.aws.client("iam") as iam:
        policies = await read_user_policies(iam, user)
    if policies is None:
        return CheckResult.compliant(f"user {user} no longer exists")
    if not policies:
        return CheckResult.compliant(f"{user} has no policy attached directly")
    parts = [f"managed {', '.join(policies.attached)}"] if policies.attached else []
    parts += [f"inline {', '.join(policies.inline)}"] if policies.inline else []
    return CheckResult.violating(
        f"{user} has policies attached directly: {'; '.join(parts)}",
        attached=policies.attached,
        inline=list(policies.inline),
    )


async def plan(ctx: RemediationContext[Any], violation: Violation) -> Plan:
    user = violation.resource_name
    async with ctx.aws.client("iam") as iam:
        # check listed the user's policies in this run: not again (apply re-reads them and
        # reads the inline documents before writing)
        checked = ctx.checked
        if checked is not None and "attached" in checked.observed:
            seen = checked.observed
            policies = Policies(list(seen["attached"]), dict.fromkeys(seen["inline"]))
        else:
            policies = await read_user_policies(iam, user) or Policies()
        if not policies:
            return Plan(f"{user} has no policy attached directly")
        group = await read_group(iam, ctx.options, user, violation)
    clash = sorted(set(policies.inline) & set(group.inline))
    if clash:
        raise RemediationRefused(
            f"group {group.name} already has inline policies named {', '.join(clash)}"
        )
    uarn = user_arn(violation, user)
    changes: list[Change] = []
    if not group.exists:
        changes.append(
            Change("create_group", group.arn, None, {"Path": normal_path(ctx.options.group_path)})
        )
    changes += [
        Change("attach_group_policy", group.arn, None, arn)
        for arn in policies.attached
        if arn not in group.attached
    ]
    changes += [Change("put_group_policy", group.arn, None, name) for name in policies.inline]
    if not group.member:
        changes.append(Change("add_user_to_group", uarn, None, group.arn))
    changes += [Change("detach_user_policy", uarn, arn, None) for arn in policies.attached]
    changes += [Change("delete_user_policy", uarn, name, None) for name in policies.inline]
    moved = policies.attached + [f"inline {n}" for n in policies.inline]
    return Plan(
        summary=f"move the policies of {user} ({', '.join(moved)}) to group {group.arn} "
        "and add the user to it; grants first, removals last",
        changes=changes,
        data={"user": user, "attached": policies.attached, "inline": list(policies.inline)},
        notes=[
            "no permission gap: the group gets every policy and the user joins it, and this "
            "is read back, before anything is removed from the user",
            "PRIVILEGE-SENSITIVE: this changes IAM structure (group grants and membership)",
            "reversible: undo re-attaches the policies to the user, then removes the user "
            "from the group, the group's policies and the group if lw-remediate created it",
        ],
    )


async def _rollback(
    ctx: RemediationContext[Any], iam: Any, user: str, group: str, made: list[tuple[str, str]]
) -> list[str]:
    """Undo the grants made so far, newest first; the user still has every policy.

    Best effort (it needs the undo actions, which ``lw-remediate policy`` includes by
    default): returns what could not be undone, for the error message.
    """
    left: list[str] = []
    for kind, what in reversed(made):
        try:
            if kind == "member":
                await iam.remove_user_from_group(GroupName=group, UserName=user)
            elif kind == "inline":
                await iam.delete_group_policy(GroupName=group, PolicyName=what)
            elif kind == "attached":
                await iam.detach_group_policy(GroupName=group, PolicyArn=what)
            elif kind == "group":
                await iam.delete_group(GroupName=group)
        except ClientError as exc:
            if not is_no_such_entity(exc):
                ctx.log.warning("rollback_step_failed", group=group, step=kind, target=what)
                left.append(f"{kind} {what} ({error_code(exc)})")
    return left


async def apply(ctx: RemediationContext[Any], plan: Plan) -> Mapping[str, Any]:
    violation, options = ctx.violation, ctx.options
    user = str(plan.data["user"])
    async with ctx.aws.client("iam") as iam:
        live = await read_user_policies(iam, user)  # re-read right before writing
        if live is None:
            raise RemediationRefused(f"user {user} disappeared before the change")
        # only what was planned and is still there; anything attached since stays put
        attached = [a for a in plan.data["attached"] if a in live.attached]
        inline = Policies(inline={n: None for n in plan.data["inline"] if n in live.inline})
        await read_inline_documents(iam, user, inline)
        group = await read_group(iam, options, user, violation)
        if not attached and not inline.inline:
            return {"user": user, "group": group.name, "moved": {"attached": [], "inline": []}}
        if set(inline.inline) & set(group.inline):
            raise RemediationRefused(f"group {group.name} gained a clashing inline policy")
        await ctx.record_before(
            {
                "user": user,
                "attached": attached,
                "inline": inline.inline,
                "group": group.name,
                "group_path": normal_path(options.group_path),
                "group_existed": group.exists,
                "group_attached": group.attached,
                "group_inline": group.inline,
                "member": group.member,
            }
        )
        made: list[tuple[str, str]] = []
        try:
            if not group.exists:
                await iam.create_group(GroupName=group.name, Path=normal_path(options.group_path))
                made.append(("group", group.name))
            for arn in attached:
                if arn not in group.attached:
                    await iam.attach_group_policy(GroupName=group.name, PolicyArn=arn)
                    made.append(("attached", arn))
            for name, document in inline.inline.items():
                await iam.put_group_policy(
                    GroupName=group.name, PolicyName=name, PolicyDocument=json.dumps(document)
                )
                made.append(("inline", name))
            if not group.member:
                await iam.add_user_to_group(GroupName=group.name, UserName=user)
                made.append(("member", user))
            granted = await read_group(iam, options, user, violation)
            missing = [a for a in attached if a not in granted.attached]
            missing += [n for n in inline.inline if n not in granted.inline]
            if missing or not granted.member:
                raise RemediationError(
                    f"group {group.name} does not show {', '.join(missing) or 'the membership'} "
                    "after granting; nothing was removed from the user"
                )
        except Exception as exc:
            left = await _rollback(ctx, iam, user, group.name, made)
            if left:
                raise RemediationError(
                    f"granting to group {group.name} failed ({exc}); nothing was removed from "
                    f"{user}; rollback could not undo: {', '.join(left)}"
                ) from exc
            raise
        # every grant is in place: now remove the policies from the user (gone already: fine)
        for arn in attached:
            await unless_missing(iam.detach_user_policy(UserName=user, PolicyArn=arn))
        for name in inline.inline:
            await unless_missing(iam.delete_user_policy(UserName=user, PolicyName=name))
    ctx.log.info("user_policies_moved_to_group", user=user, group=group.name)
    return {
        "user": user,
        "group": group.name,
        "moved": {"attached": attached, "inline": list(inline.inline)},
        "user_policies": {
            "attached": sorted(a for a in live.attached if a not in attached),
            "inline": sorted(n for n in live.inline if n not in inline.inline),
        },
        "group_policies": {
            "attached": sorted(set(group.attached) | set(attached)),
            "inline": sorted(set(group.inline) | set(inline.inline)),
        },
    }


async def verify(ctx: RemediationContext[Any], violation: Violation) -> VerifyResult:
    user = violation.resource_name
    async with ctx.aws.client("iam") as iam:
        policies = await read_user_policies(iam, user)
        if policies is None:
            return VerifyResult.verified(f"user {user} no longer exists")
        if policies:
            left = policies.attached + [f"inline {n}" for n in policies.inline]
            return VerifyResult.failed(f"{user} still has policies attached: {', '.join(left)}")
        group = await read_group(iam, ctx.options, user, violation)
    if not group.member:
        return VerifyResult.failed(f"{user} is not in group {group.name}")
    return VerifyResult.verified(
        f"{user} gets its permissions from group {group.arn} only "
        f"({len(group.attached)} managed, {len(group.inline)} inline)"
    )


async def revert(ctx: RemediationContext[Any], record: ActionRecord) -> str:
    before = record.before_image or {}
    after = record.after_image
    if after is None:
        raise ResourceChanged(
            "the migration did not complete (it rolls its grants back on failure); "
            "nothing to revert"
        )
    user, group = str(before["user"]), str(before["group"])
    attached: list[str] = list(before.get("attached", []))
    inline: Mapping[str, Any] = before.get("inline", {})
    async with ctx.aws.client("iam") as iam:
        live_user = await read_user_policies(iam, user)
        if live_user is None:
            raise ResourceChanged(f"user {user} no longer exists; not reverting")
        try:
            live_group = await read_group(
                iam,
                ctx.options.model_copy(update={"group_path": before.get("group_path", "/")}),
                user,
                record.violation,
                name=group,
            )
        except RemediationRefused as exc:
            raise ResourceChanged(str(exc)) from exc
        now = {
            "user_policies": {
                "attached": sorted(live_user.attached),
                "inline": sorted(live_user.inline),
            },
            "group_policies": {
                "attached": sorted(live_group.attached),
                "inline": sorted(live_group.inline),
            },
            "member": live_group.member and live_group.exists,
        }
        left = {
            "user_policies": after.get("user_policies"),
            "group_policies": after.get("group_policies"),
            "member": True,
        }
        if now != left:
            raise ResourceChanged(
                f"the policies of {user} or group {group} changed since the action; not reverting"
            )
        # grant back to the user first, then take the group's grants away
        for arn in attached:
            await iam.attach_user_policy(UserName=user, PolicyArn=arn)
        for name, document in inline.items():
            await iam.put_user_policy(
                UserName=user, PolicyName=name, PolicyDocument=json.dumps(document)
            )
        if not before.get("member"):
            await iam.remove_user_from_group(GroupName=group, UserName=user)
        for arn in attached:
            if arn not in before.get("group_attached", []):
                await iam.detach_group_policy(GroupName=group, PolicyArn=arn)
        for name in inline:
            await iam.delete_group_policy(GroupName=group, PolicyName=name)
        deleted = ""
        if not before.get("group_existed"):
            try:
                await iam.delete_group(GroupName=group)
                deleted = f"; group {group} deleted"
            except ClientError as exc:
                if error_code(exc) != "DeleteConflict":
                    raise
                deleted = f"; group {group} kept (it has other members or policies now)"
    return f"policies of {user} restored to the user{deleted}"


def _group_arns(options: Options) -> tuple[str, ...]:
    return path_arns("group", options.group_path, f"{options.group_prefix}*")


def _option_policy(options: Options) -> IamPolicy:
    if options.action != "migrate":
        return IamPolicy()
    groups = _group_arns(options)
    return IamPolicy.allow(
        [
            "iam:GetUserPolicy",
            "iam:ListGroupsForUser",
            "iam:DetachUserPolicy",
            "iam:DeleteUserPolicy",
        ],
        USER_ARNS,
    ) + IamPolicy.allow(
        [
            "iam:GetGroup",
            "iam:CreateGroup",
            "iam:AttachGroupPolicy",
            "iam:PutGroupPolicy",
            "iam:AddUserToGroup",
            "iam:ListAttachedGroupPolicies",
            "iam:ListGroupPolicies",
        ],
        groups,
    )


def _revert_policy(options: Options) -> IamPolicy:
    if options.action != "migrate":
        return IamPolicy()
    return IamPolicy.allow(
        ["iam:AttachUserPolicy", "iam:PutUserPolicy"], USER_ARNS
    ) + IamPolicy.allow(
        [
            "iam:RemoveUserFromGroup",
            "iam:DetachGroupPolicy",
            "iam:DeleteGroupPolicy",
            "iam:DeleteGroup",
        ],
        _group_arns(options),
    )


RUNBOOK = """\
IAM user {resource_name} in account {account} has policies attached directly ({rule_id}).
Move them to a group without a permission gap -- grant first, remove last:
1. aws iam list-attached-user-policies --user-name {resource_name}
   aws iam list-user-policies --user-name {resource_name}
2. Pick (or create) a group that matches the user's role:
   aws iam create-group --group-name <group> --path /
3. For each managed policy:  aws iam attach-group-policy --group-name <group> --policy-arn <arn>
   For each inline policy:   aws iam get-user-policy --user-name {resource_name} --policy-name <name>
                             aws iam put-group-policy --group-name <group> --policy-name <name> --policy-document file://doc.json
4. aws iam add-user-to-group --group-name <group> --user-name {resource_name}
5. Only now remove them from the user:
   aws iam detach-user-policy --user-name {resource_name} --policy-arn <arn>
   aws iam delete-user-policy --user-name {resource_name} --policy-name <name>
The option action = "migrate" does exactly this with the per-user group
{options.group_path}{options.group_prefix}{resource_name} (privilege-sensitive: run it under a
separate role)."""


REMEDIATION = Remediation(
    id="cis_iam.move_user_policies_to_group",
    rules=("AWS_CIS_1_16",),
    title="Move a user's directly attached policies to a per-user group (no permission gap)",
    description=(
        "PRIVILEGE-SENSITIVE (can grant policies through group membership; run it under a "
        "separate role). Manual by default. The opt-in migrate copies the user's managed and "
        "inline policies to group <prefix><user> and adds the user, reads that back, and only "
        "then removes them from the user. Undo restores the user's policies first."
    ),
    resource_type="iam:user",
    policy=IamPolicy.allow(["iam:ListAttachedUserPolicies", "iam:ListUserPolicies"], USER_ARNS),
    option_policy=_option_policy,
    revert_policy=_revert_policy,
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
