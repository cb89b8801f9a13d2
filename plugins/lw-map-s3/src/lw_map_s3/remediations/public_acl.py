"""LW_S3_1 ... LW_S3_10: remove the public-group grants a rule is about from the bucket ACL.

Each rule names one group (AllUsers for 1-5, AuthenticatedUsers for 6-10) and one
permission; the grants removed are that group's grants of that permission and of
FULL_CONTROL (which implies it). Every other grant -- the owner, LogDelivery, named
accounts, the group's other permissions -- is written back unchanged.

``check``, ``apply`` and ``verify`` read the ACL alone (``GetBucketAcl``), not Object
Ownership first: when a bucket's ACLs are disabled (Object Ownership
``BucketOwnerEnforced``), S3 still answers ``GetBucketAcl``, always with the bucket
owner's FULL_CONTROL grant only, and refuses any other ACL write with
``AccessControlListNotSupported`` (400); S3 also refuses to disable the ACLs of a
bucket whose ACL grants anyone else (``InvalidBucketAclWithObjectOwnership``). Amazon
S3 User Guide, "Troubleshooting" under Object Ownership:
https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-ownership-error-responses.html
So a bucket with ACLs disabled reads as an ACL without any public grant: ``check``
finds it compliant ("the ACL grants no AllUsers READ or FULL_CONTROL", which is what
S3 answers) and nothing is written; if ACLs are disabled between ``apply``'s read and
its write, S3 refuses the write and the action ends ``refused``, nothing changed.
A sweep therefore costs 4 requests per public bucket: ``GetBucketAcl`` (check; plan
builds on it), ``GetBucketAcl`` + ``PutBucketAcl`` (apply), ``GetBucketAcl`` (verify).

``revert`` (rare, operator-driven) still reads Object Ownership first, so that a bucket
whose ACLs were disabled since is refused before anything is written (with the
``apply_public_access_block`` option undo rewrites the Public Access Block before the
ACL); ``s3:GetBucketOwnershipControls`` is therefore declared as an undo-only action.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

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

from .._s3 import (
    bucket_args,
    bucket_policy,
    canonical,
    changed_since,
    error_code,
    get_or_none,
    locked_client,
    put_or_delete,
    resolves_missing_bucket,
)

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"

#: Rule -> (grantee group URI, permission the rule is about).
RULES: Mapping[str, tuple[str, str]] = {
    "LW_S3_1": (ALL_USERS, "READ"),
    "LW_S3_2": (ALL_USERS, "WRITE"),
    "LW_S3_3": (ALL_USERS, "READ_ACP"),
    "LW_S3_4": (ALL_USERS, "WRITE_ACP"),
    "LW_S3_5": (ALL_USERS, "FULL_CONTROL"),
    "LW_S3_6": (AUTHENTICATED_USERS, "READ"),
    "LW_S3_7": (AUTHENTICATED_USERS, "WRITE"),
    "LW_S3_8": (AUTHENTICATED_USERS, "READ_ACP"),
    "LW_S3_9": (AUTHENTICATED_USERS, "WRITE_ACP"),
    "LW_S3_10": (AUTHENTICATED_USERS, "FULL_CONTROL"),
}

#: What the ``apply_public_access_block`` option turns on (merged into the current flags).
PAB_FLAGS: Mapping[str, bool] = {"BlockPublicAcls": True, "IgnorePublicAcls": True}
_PAB_KEYS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


class Options(RemediationOptions):
    """How much to remove."""

    #: ``rule``: the group's grants of the rule's permission and FULL_CONTROL;
    #: ``group``: every grant to the rule's group.
    acl_scope: Literal["rule", "group"] = "rule"
    #: Also turn on BlockPublicAcls and IgnorePublicAcls in the bucket's Public Access
    #: Block (merged: flags already on stay on), so a public ACL cannot come back.
    apply_public_access_block: bool = False


@dataclass(frozen=True)
class AclState:
    """The bucket's ACL as read (with ACLs disabled: the owner's FULL_CONTROL grant only)."""

    owner: Mapping[str, Any]
    grants: Sequence[Mapping[str, Any]]


def group_name(uri: str) -> str:
    return uri.rsplit("/", 1)[-1]


def rule_target(violation: Violation) -> tuple[str, str]:
    try:
        return RULES[violation.rule_id]
    except KeyError:
        raise RemediationError(
            f"{violation.rule_id} is not an ACL rule of this remediation"
        ) from None


def is_offending(grant: Mapping[str, Any], rule_id: str, scope: str) -> bool:
    """True when ``grant`` is one the rule (with this scope) says must go."""
    uri, permission = RULES[rule_id]
    grantee = grant.get("Grantee", {})
    if grantee.get("Type") != "Group" or grantee.get("URI") != uri:
        return False
    return scope == "group" or grant.get("Permission") in {permission, "FULL_CONTROL"}


def clean_grant(grant: Mapping[str, Any]) -> dict[str, Any]:
    """A grant as ``PutBucketAcl`` takes it: grantee type and identifier, and the permission."""
    grantee = grant.get("Grantee", {})
    clean = {"Type": grantee["Type"]}
    for key in ("ID", "URI", "EmailAddress"):
        if key in grantee:
            clean[key] = grantee[key]
    return {"Grantee": clean, "Permission": grant["Permission"]}


def describe_grant(grant: Mapping[str, Any]) -> str:
    grantee = grant.get("Grantee", {})
    if "URI" in grantee:
        who = group_name(str(grantee["URI"]))
    elif "ID" in grantee:
        who = f"canonical user {str(grantee['ID'])[:12]}..."
    else:
        who = str(grantee.get("EmailAddress", grantee.get("Type", "?")))
    return f"{who} {grant.get('Permission')}"


def grant_set(grants: Sequence[Mapping[str, Any]]) -> list[str]:
    """Grants in a comparable form (identity and permission only, order ignored)."""
    return sorted(canonical(clean_grant(g)) for g in grants)


async def read_acl(s3: Any, violation: Violation) -> AclState:
    """The ACL (one ``GetBucketAcl``; S3 answers it whether or not ACLs are disabled)."""
    acl = await s3.get_bucket_acl(**bucket_args(violation))
    return AclState(dict(acl.get("Owner", {})), list(acl.get("Grants", [])))


async def acls_disabled(s3: Any, violation: Violation) -> bool:
    """True when Object Ownership is ``BucketOwnerEnforced`` (read by ``revert`` only)."""
    controls = await get_or_none(
        s3.get_bucket_ownership_controls, violation, "OwnershipControlsNotFoundError"
    )
    rules = (controls or {}).get("OwnershipControls", {}).get("Rules", [])
    return any(r.get("ObjectOwnership") == "BucketOwnerEnforced" for r in rules)


def acl_write_refused(exc: ClientError) -> bool:
    """S3's answer to an ACL write on a bucket whose ACLs are disabled."""
    return error_code(exc) == "AccessControlListNotSupported"


async def read_public_access_block(s3: Any, violation: Violation) -> dict[str, Any] | None:
    response = await get_or_none(
        s3.get_public_access_block, violation, "NoSuchPublicAccessBlockConfiguration"
    )
    return None if response is None else dict(response.get("PublicAccessBlockConfiguration", {}))


def merged_public_access_block(current: Mapping[str, Any] | None) -> dict[str, bool]:
    merged = {key: bool((current or {}).get(key, False)) for key in _PAB_KEYS}
    merged.update(PAB_FLAGS)
    return merged


async def write_public_access_block(
    s3: Any, violation: Violation, config: Mapping[str, Any] | None
) -> None:
    await put_or_delete(
        s3.put_public_access_block,
        s3.delete_public_access_block,
        violation,
        "PublicAccessBlockConfiguration",
        None if config is None else dict(config),
    )


def acl_image(owner: Mapping[str, Any], grants: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The after-image of an ACL: its owner and its grants as ``PutBucketAcl`` takes them."""
    return {"Owner": dict(owner), "Grants": [clean_grant(g) for g in grants]}


async def write_acl(
    s3: Any, violation: Violation, owner: Mapping[str, Any], grants: Sequence[Mapping[str, Any]]
) -> None:
    policy = {"Owner": {"ID": owner["ID"]}, "Grants": [clean_grant(g) for g in grants]}
    await s3.put_bucket_acl(**bucket_args(violation), AccessControlPolicy=policy)


def _split(
    state: AclState, violation: Violation, options: Options
) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    removed = [g for g in state.grants if is_offending(g, violation.rule_id, options.acl_scope)]
    kept = [g for g in state.grants if not is_offending(g, violation.rule_id, options.acl_scope)]
    return removed, kept


def _offending_text(violation: Violation, options: Options) -> str:
    """What the rule (with this scope) forbids, e.g. ``AllUsers READ or FULL_CONTROL``."""
    uri, permission = rule_target(violation)
    if options.acl_scope == "group":
        return f"any permission to {group_name(uri)}"
    if permission == "FULL_CONTROL":
        return f"{group_name(uri)} FULL_CONTROL"
    return f"{group_name(uri)} {permission} or FULL_CONTROL"


def _write_refused(violation: Violation) -> str:
    return (
        f"S3 refused the ACL write on bucket {violation.resource_name} with "
        "AccessControlListNotSupported: its ACLs were disabled (Object Ownership "
        "BucketOwnerEnforced) after the ACL was read, so S3 ignores ACL grants"
    )


@resolves_missing_bucket
async def check(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    forbidden = _offending_text(violation, ctx.options)
    async with ctx.aws.client("s3") as s3:
        state = await read_acl(s3, violation)
    removed, _ = _split(state, violation, ctx.options)
    grants = [clean_grant(g) for g in state.grants]
    if not removed:
        return CheckResult.compliant(f"the ACL grants no {forbidden}", grants=grants)
    return CheckResult.violating(
        "the ACL grants " + ", ".join(describe_grant(g) for g in removed), grants=grants
    )


def _checked_state(ctx: RemediationContext[Any]) -> AclState | None:
    """The ACL ``check`` read moments ago in this run (None: ``plan`` runs alone)."""
    checked = ctx.checked
    if checked is None:
        return None
    grants = checked.observed.get("grants")
    return None if grants is None else AclState({}, list(grants))


async def plan(ctx: RemediationContext[Any], violation: Violation) -> Plan:
    async with ctx.aws.client("s3") as s3:
        # check read the ACL in this run: no second read of it (apply re-reads)
        state = _checked_state(ctx) or await read_acl(s3, violation)
        removed, kept = _split(state, violation, ctx.options)
        if not removed:
            return Plan("no offending grant in the ACL")
        changes = [
            Change("remove_acl_grant", violation.resource_arn, clean_grant(g), None)
            for g in removed
        ]
        summary = (
            f"remove {len(removed)} grant(s) from the ACL of bucket {violation.resource_name}: "
            + ", ".join(describe_grant(g) for g in removed)
            + f"; keep the other {len(kept)} grant(s)"
        )
        if kept:
            summary += " (" + ", ".join(describe_grant(g) for g in kept) + ")"
        if ctx.options.apply_public_access_block:
            current = await read_public_access_block(s3, violation)
            wanted = merged_public_access_block(current)
            if wanted != current:
                changes.append(
                    Change("put_public_access_block", violation.resource_arn, current, wanted)
                )
                summary += "; turn on BlockPublicAcls and IgnorePublicAcls"
    return Plan(
        summary=summary,
        changes=changes,
        notes=[
            "undo writes the recorded ACL back; on AWS it fails while BlockPublicAcls is on "
            "for the bucket or the account, or once ACLs are disabled",
        ],
    )


async def apply(ctx: RemediationContext[Any], plan: Plan) -> Mapping[str, Any]:
    violation = ctx.violation
    async with locked_client(ctx, violation) as s3:
        state = await read_acl(s3, violation)  # re-read right before writing
        removed, kept = _split(state, violation, ctx.options)
        after = acl_image(state.owner, kept)
        if not removed:
            return after
        before: dict[str, Any] = {"Owner": dict(state.owner), "Grants": list(state.grants)}
        if ctx.options.apply_public_access_block:
            before["PublicAccessBlock"] = await read_public_access_block(s3, violation)
        await ctx.record_before(before)
        try:
            await write_acl(s3, violation, state.owner, kept)
        except ClientError as exc:
            if acl_write_refused(exc):
                raise RemediationRefused(
                    f"{_write_refused(violation)}; nothing was changed"
                ) from exc
            raise
        if ctx.options.apply_public_access_block:
            wanted = merged_public_access_block(before["PublicAccessBlock"])
            if wanted != before["PublicAccessBlock"]:
                await write_public_access_block(s3, violation, wanted)
            after["PublicAccessBlock"] = wanted
    return after


async def verify(ctx: RemediationContext[Any], violation: Violation) -> VerifyResult:
    async with ctx.aws.client("s3") as s3:
        state = await read_acl(s3, violation)
    removed, kept = _split(state, violation, ctx.options)
    if removed:
        return VerifyResult.failed(
            "the ACL still grants " + ", ".join(describe_grant(g) for g in removed)
        )
    return VerifyResult.verified(
        f"the ACL grants no {_offending_text(violation, ctx.options)}; "
        f"{len(kept)} other grant(s) kept"
    )


async def revert(ctx: RemediationContext[Any], record: ActionRecord) -> str:
    violation = record.violation
    before = record.before_image or {}
    after = record.after_image or {}
    name = violation.resource_name
    async with locked_client(ctx, violation) as s3:
        # Object Ownership first: S3 would refuse the ACL write, and with the Public Access
        # Block option undo writes the block before the ACL; refuse before any write.
        if await acls_disabled(s3, violation):
            raise ResourceChanged(
                f"ACLs are now disabled on bucket {name} (Object Ownership "
                "BucketOwnerEnforced); not reverting, nothing was changed"
            )
        state = await read_acl(s3, violation)
        if grant_set(state.grants) != grant_set(after.get("Grants", [])):
            raise changed_since(violation, "the ACL")
        unblocked: dict[str, Any] | None = None  # the block this undo lifted, if it did
        if "PublicAccessBlock" in before:
            live = await read_public_access_block(s3, violation)
            if live != after.get("PublicAccessBlock"):
                raise changed_since(violation, "the Public Access Block")
            # Undo the block first: with BlockPublicAcls on, AWS rejects a public ACL.
            if live != before["PublicAccessBlock"]:
                await write_public_access_block(s3, violation, before["PublicAccessBlock"])
                unblocked = live
        try:
            await write_acl(s3, violation, before["Owner"], before["Grants"])
        except ClientError as exc:
            if not acl_write_refused(exc):
                raise
            # ACLs were disabled since the ownership read: no half-applied undo.
            left = "nothing was changed"
            if unblocked is not None:
                await write_public_access_block(s3, violation, unblocked)
                left = "the Public Access Block was put back as the remediation left it"
            raise ResourceChanged(
                f"ACLs were disabled on bucket {name} while reverting (S3 refused the ACL "
                f"write with AccessControlListNotSupported); not reverted, {left}"
            ) from exc
    return f"restored the ACL of bucket {name} ({len(before['Grants'])} grants)"


def option_policy(options: Options) -> IamPolicy:
    if options.apply_public_access_block:
        return bucket_policy("s3:GetBucketPublicAccessBlock", "s3:PutBucketPublicAccessBlock")
    return IamPolicy()


REMEDIATION = Remediation(
    id="s3.remove_public_acl_grants",
    rules=tuple(RULES),
    title="Remove public-group grants from an S3 bucket ACL",
    description=(
        "Removes only the AllUsers / AuthenticatedUsers grants the rule is about (plus "
        "FULL_CONTROL); owner, LogDelivery and named-account grants are kept."
    ),
    resource_type="s3:bucket",
    policy=bucket_policy("s3:GetBucketAcl", "s3:PutBucketAcl"),
    # only undo reads Object Ownership (to refuse before writing anything)
    revert_policy=bucket_policy("s3:GetBucketOwnershipControls"),
    check=check,
    plan=plan,
    apply=apply,
    verify=verify,
    revert=revert,
    options=Options,
    option_policy=option_policy,
)
