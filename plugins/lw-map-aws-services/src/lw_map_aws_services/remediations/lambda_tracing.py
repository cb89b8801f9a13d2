"""LW_AWS_SERVERLESS_4: a Lambda function has X-Ray tracing disabled.

Sets ``TracingConfig.Mode = Active`` (with the ``RevisionId`` just read, so a concurrent
update is not overwritten). Traces only arrive when the function's execution role may
call ``xray:PutTraceSegments`` and ``xray:PutTelemetryRecords``: the plan reads the role's
attached and inline policies and says whether it can. With ``attach_xray_policy`` a role
that cannot gets the AWS-managed ``AWSXRayDaemonWriteAccess`` policy (every function
sharing the role gains it; the plan says so). Without it, tracing is still turned on and
the plan notes that traces will not be delivered until the role can write them.

The role check reads identity policies only (attached and inline, ``Allow`` statements on
``*``); permission boundaries, SCPs and explicit denies are not evaluated.

Undo sets the recorded mode back and detaches the policy if the action attached it.
"""

from __future__ import annotations

import fnmatch
import json
import urllib.parse
from collections.abc import Mapping
from typing import Any

from lw_remediate import (
    ActionRecord,
    Change,
    CheckResult,
    IamPolicy,
    Plan,
    Remediation,
    RemediationContext,
    RemediationOptions,
    ResourceChanged,
    Violation,
)

from .._common import FUNCTION, ROLE, as_list, verify_by
from .._lambda import configuration, function_name, role_name

XRAY_ACTIONS = ("xray:PutTraceSegments", "xray:PutTelemetryRecords")
XRAY_POLICY = "AWSXRayDaemonWriteAccess"
#: AWS-managed policies that grant both X-Ray write actions.
_XRAY_MANAGED = frozenset(
    {XRAY_POLICY, "AWSXrayWriteOnlyAccess", "AWSXrayFullAccess", "AdministratorAccess"}
)


class Options(RemediationOptions):
    #: Attach the AWS-managed AWSXRayDaemonWriteAccess policy to a role that cannot write
    #: traces (default: only say so in the plan).
    attach_xray_policy: bool = False


def _xray_policy_arn(violation: Violation) -> str:
    return f"arn:{violation.arn.partition}:iam::aws:policy/{XRAY_POLICY}"


def _mode(config: Mapping[str, Any]) -> str:
    return str((config.get("TracingConfig") or {}).get("Mode") or "PassThrough")


def _grants_xray(document: Any) -> set[str]:
    """The X-Ray write actions an identity policy document allows on ``*``."""
    if isinstance(document, str):
        document = json.loads(urllib.parse.unquote(document))
    granted: set[str] = set()
    for st in as_list((document or {}).get("Statement")):
        if st.get("Effect") != "Allow" or "*" not in as_list(st.get("Resource")):
            continue
        for pattern in as_list(st.get("Action")):
            granted |= {a for a in XRAY_ACTIONS if fnmatch.fnmatch(a.lower(), str(pattern).lower())}
    return granted


async def role_can_write_traces(ctx: RemediationContext[Any], role_arn: str) -> bool:
    """True when the role's attached or inline policies allow both X-Ray write actions."""
    role = role_name(role_arn)
    granted: set[str] = set()
    async with ctx.aws.client("iam") as iam:
        attached = await iam.list_attached_role_policies(RoleName=role)
        for policy in attached.get("AttachedPolicies", []):
            arn = policy["PolicyArn"]
            if ":iam::aws:policy/" in arn:
                if arn.rsplit("/", 1)[-1] in _XRAY_MANAGED:
                    return True
                continue
            meta = await iam.get_policy(PolicyArn=arn)
            version = await iam.get_policy_version(
                PolicyArn=arn, VersionId=meta["Policy"]["DefaultVersionId"]
            )
            granted |= _grants_xray(version["PolicyVersion"]["Document"])
        inline = await iam.list_role_policies(RoleName=role)
        for name in inline.get("PolicyNames", []):
            doc = await iam.get_role_policy(RoleName=role, PolicyName=name)
            granted |= _grants_xray(doc["PolicyDocument"])
    return granted == set(XRAY_ACTIONS)


async def check(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    name = function_name(violation)
    config = await configuration(ctx, name)
    if config is None:
        return CheckResult.compliant(f"function {name} no longer exists")
    if _mode(config) == "Active":
        return CheckResult.compliant(f"function {name} has active tracing")
    return CheckResult.violating(
        f"function {name} tracing mode is {_mode(config)}", function=_tracing(config)
    )


def _tracing(config: Mapping[str, Any]) -> dict[str, Any]:
    """What ``plan`` needs of a function's configuration: its role and tracing mode (not
    the rest: the environment variables may hold secrets)."""
    return {"Role": config.get("Role", ""), "TracingConfig": {"Mode": _mode(config)}}


async def plan(ctx: RemediationContext[Any], violation: Violation) -> Plan:
    name = function_name(violation)

    async def live() -> dict[str, Any] | None:
        config = await configuration(ctx, name)
        return None if config is None else _tracing(config)

    # check read the configuration in this run: no second GetFunctionConfiguration
    config: dict[str, Any] | None = await ctx.checked_or_read("function", live)
    if config is None or _mode(config) == "Active":
        return Plan(f"function {name} has active tracing or is gone")
    role = str(config.get("Role", ""))
    can_write = await role_can_write_traces(ctx, role)
    changes = [Change("set_tracing_mode", violation.resource_arn, _mode(config), "Active")]
    notes = ["X-Ray charges for recorded traces", "undo sets the recorded mode back"]
    attach = not can_write and ctx.options.attach_xray_policy
    if can_write:
        notes.append(f"role {role} can write traces")
    elif attach:
        changes.append(Change("attach_role_policy", role, None, _xray_policy_arn(violation)))
        notes.append(
            f"role {role} cannot write traces: {XRAY_POLICY} is attached to it (every function "
            "using this role gains xray:PutTraceSegments/PutTelemetryRecords); undo detaches it"
        )
    else:
        notes.append(
            f"role {role} cannot write traces: traces are not delivered until it may call "
            f"{' and '.join(XRAY_ACTIONS)} (set attach_xray_policy = true to attach {XRAY_POLICY})"
        )
    return Plan(
        summary=f"set tracing mode Active on function {name}"
        + (f" and attach {XRAY_POLICY} to role {role_name(role)}" if attach else ""),
        changes=changes,
        data={"role": role, "attach": attach},
        notes=notes,
    )


async def apply(ctx: RemediationContext[Any], plan: Plan) -> Mapping[str, Any]:
    name = function_name(ctx.violation)
    config = await configuration(ctx, name) or {}
    before = {"Mode": _mode(config), "Role": config.get("Role")}
    await ctx.record_before(before)
    attached = None
    if plan.data.get("attach"):
        attached = _xray_policy_arn(ctx.violation)
        async with ctx.aws.client("iam") as iam:
            await iam.attach_role_policy(
                RoleName=role_name(str(plan.data["role"])), PolicyArn=attached
            )
    if before["Mode"] != "Active":
        update: dict[str, Any] = {"FunctionName": name, "TracingConfig": {"Mode": "Active"}}
        if config.get("RevisionId"):
            update["RevisionId"] = config["RevisionId"]
        async with ctx.aws.client("lambda") as client:
            await client.update_function_configuration(**update)
    after = await configuration(ctx, name) or {}
    return {"Mode": _mode(after), "Role": after.get("Role"), "AttachedPolicy": attached}


verify = verify_by(check)


async def revert(ctx: RemediationContext[Any], record: ActionRecord) -> str:
    name = function_name(record.violation)
    before = record.before_image or {}
    after = record.after_image or {}
    live = await configuration(ctx, name)
    if live is None or _mode(live) != after.get("Mode"):
        raise ResourceChanged(f"tracing of function {name} changed since the remediation")
    done = []
    if before.get("Mode") != after.get("Mode"):
        async with ctx.aws.client("lambda") as client:
            await client.update_function_configuration(
                FunctionName=name, TracingConfig={"Mode": before.get("Mode") or "PassThrough"}
            )
        done.append(f"set tracing mode {before.get('Mode')} on function {name}")
    if after.get("AttachedPolicy"):
        async with ctx.aws.client("iam") as iam:
            await iam.detach_role_policy(
                RoleName=role_name(str(after.get("Role"))), PolicyArn=after["AttachedPolicy"]
            )
        done.append(f"detached {XRAY_POLICY} from role {role_name(str(after.get('Role')))}")
    return "; ".join(done) or "nothing to undo"


_ROLE_READS = IamPolicy.allow(
    ["iam:ListAttachedRolePolicies", "iam:ListRolePolicies", "iam:GetRolePolicy"], [ROLE]
) + IamPolicy.allow(
    ["iam:GetPolicy", "iam:GetPolicyVersion"], ["arn:{partition}:iam::{account}:policy/*"]
)
_XRAY_CONDITION = {
    "ArnEquals": {"iam:PolicyARN": f"arn:{{partition}}:iam::aws:policy/{XRAY_POLICY}"}
}


def option_policy(options: Options) -> IamPolicy:
    if not options.attach_xray_policy:
        return IamPolicy()
    return IamPolicy.allow(["iam:AttachRolePolicy"], [ROLE], conditions=_XRAY_CONDITION)


def revert_policy(options: Options) -> IamPolicy:
    if not options.attach_xray_policy:
        return IamPolicy()
    return IamPolicy.allow(["iam:DetachRolePolicy"], [ROLE], conditions=_XRAY_CONDITION)


REMEDIATION = Remediation(
    id="services.enable_lambda_tracing",
    rules=("LW_AWS_SERVERLESS_4",),
    title="Turn X-Ray active tracing on for a Lambda function (the plan checks its role can write traces)",
    description=(
        "Sets TracingConfig Active. attach_xray_policy attaches AWSXRayDaemonWriteAccess to a "
        "role that cannot write traces."
    ),
    resource_type="lambda:function",
    policy=IamPolicy.allow(
        ["lambda:GetFunctionConfiguration", "lambda:UpdateFunctionConfiguration"], [FUNCTION]
    )
    + _ROLE_READS,
    option_policy=option_policy,
    revert_policy=revert_policy,
    options=Options,
    check=check,
    plan=plan,
    apply=apply,
    verify=verify,
    revert=revert,
    privilege_sensitive=True,
)
