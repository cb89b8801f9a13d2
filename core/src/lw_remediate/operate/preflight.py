"""``lw-remediate preflight``: can the role do what the enabled remediations declare?

Per configured account (``[aws] accounts``, else the account of the default
credentials) and per enabled remediation (mode other than ``off``):

1. Assume the role (``[aws] role_name``) without a session policy: proves the trust
   policy and the external id.
2. Check that the remediation's session policy fits AWS's limit for AssumeRole
   (2,048 characters of plain-text policy), when session policies are on.
3. Ask IAM whether the role may perform each declared action on each declared
   resource pattern: ``iam:SimulatePrincipalPolicy`` when the role may call it (IAM's
   own evaluation of the role's policies). When it cannot
   (AccessDenied, or an endpoint such as moto that does not implement it), fall
   back to reading the role's own identity policies (inline and attached) and
   evaluating them here: Allow/Deny, Action/NotAction, Resource/NotResource and
   wildcards, conditions reported as ``conditional``; SCPs, permission boundaries
   and resource policies are not seen. The report names the method used.

Nothing is changed in any account.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..aws.credentials import SESSION_POLICY_LIMIT, AwsProvider
from ..aws_errors import aws_error_code
from ..config import Config
from ..errors import RemediationRefused
from ..model import Arn, Mode
from ..pipeline.runner import describe_error
from ..plugins import MapRegistry
from ..policy import IamPolicy, action_matches, resource_matches

#: The pseudo-remediation for what the core itself needs (tag exemptions, tagging).
CORE_EXEMPTIONS = "core.exemptions"


@dataclass
class ActionCheck:
    action: str
    resource: str
    decision: str  # allowed | conditional | denied | unknown
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "resource": self.resource,
            "decision": self.decision,
            "detail": self.detail,
        }


@dataclass
class RemediationCheck:
    remediation_id: str
    actions: list[ActionCheck] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def missing(self) -> list[ActionCheck]:
        return [a for a in self.actions if a.decision in {"denied", "unknown"}]

    @property
    def ok(self) -> bool:
        return not self.missing and not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "remediation_id": self.remediation_id,
            "ok": self.ok,
            "problems": self.problems,
            "actions": [a.to_dict() for a in self.actions],
        }


@dataclass
class AccountCheck:
    account: str
    principal: str
    method: str = "none"  # simulation | static | none
    method_detail: str = ""
    error: str | None = None
    remediations: list[RemediationCheck] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None and all(r.ok for r in self.remediations)

    def to_dict(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "principal": self.principal,
            "ok": self.ok,
            "method": self.method,
            "method_detail": self.method_detail,
            "error": self.error,
            "remediations": [r.to_dict() for r in self.remediations],
        }


# -- local evaluation of identity policies ------------------------------------------------


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def _statements(document: Any) -> list[Mapping[str, Any]]:
    if isinstance(document, str):
        document = json.loads(document)
    statements = document.get("Statement", []) if isinstance(document, Mapping) else []
    return [statements] if isinstance(statements, Mapping) else list(statements)


def _action_in(patterns: Iterable[str], action: str) -> bool:
    return any(action_matches(p, action) for p in patterns)


def _resource_in(patterns: Iterable[str], resource: str) -> bool:
    # A declared resource may itself be a pattern (arn:aws:s3:::*): it is covered when
    # the policy's pattern matches it as a string. Policy variables never match here.
    return any("${" not in p and resource_matches(p, resource) for p in patterns)


def _applies(statement: Mapping[str, Any], action: str, resource: str) -> bool:
    if "NotAction" in statement:
        if _action_in(_as_list(statement["NotAction"]), action):
            return False
    elif not _action_in(_as_list(statement.get("Action")), action):
        return False
    if "NotResource" in statement:
        return not _resource_in(_as_list(statement["NotResource"]), resource)
    return _resource_in(_as_list(statement.get("Resource")), resource)


def evaluate(
    statements: Sequence[Mapping[str, Any]], action: str, resource: str
) -> tuple[str, str]:
    """``(decision, detail)`` of identity-policy statements for one action and resource."""
    allow = [s for s in statements if s.get("Effect") == "Allow" and _applies(s, action, resource)]
    deny = [s for s in statements if s.get("Effect") == "Deny" and _applies(s, action, resource)]
    if any("Condition" not in s for s in deny):
        return "denied", "explicitly denied by the role's policies"
    if not allow:
        return "denied", "not allowed by the role's identity policies"
    if deny:
        return "conditional", "allowed, but a conditional Deny may apply"
    if all("Condition" in s for s in allow):
        return "conditional", "allowed only under conditions (not evaluated)"
    return "allowed", ""


# -- the checks ---------------------------------------------------------------------------


def _pairs(rendered: Mapping[str, Any]) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for st in rendered.get("Statement", []):
        for action in _as_list(st.get("Action")):
            for resource in _as_list(st.get("Resource")):
                if (action, resource) not in pairs:
                    pairs.append((action, resource))
    return pairs


def role_arn_of(caller_arn: str) -> str:
    """The IAM principal behind a caller ARN (an assumed-role session -> its role)."""
    arn = Arn.parse(caller_arn)
    if arn.service == "sts" and arn.resource.startswith("assumed-role/"):
        role = arn.resource.split("/")[1]
        return f"arn:{arn.partition}:iam::{arn.account}:role/{role}"
    return caller_arn


class _Evaluator:
    """Decides actions for one account, by simulation or, failing that, statically."""

    def __init__(self, session: Any, principal: str) -> None:
        self.session = session
        self.principal = principal
        self.method = "simulation"
        self.method_detail = "iam:SimulatePrincipalPolicy"
        self._statements: list[Mapping[str, Any]] | None = None

    async def decide(self, pairs: list[tuple[str, str]]) -> list[ActionCheck]:
        if self.method == "simulation":
            try:
                return await self._simulate(pairs)
            except Exception as exc:  # noqa: BLE001 - AccessDenied, or not implemented
                self.method = "static"
                self.method_detail = (
                    f"iam:SimulatePrincipalPolicy unavailable ({describe_error(exc)[:200]}); "
                    "evaluated the role's own identity policies instead (SCPs, permission "
                    "boundaries, resource policies and conditions not evaluated)"
                )
        if self.method == "static":
            try:
                statements = await self._role_statements()
            except Exception as exc:  # noqa: BLE001 - nothing more we can read
                self.method = "none"
                self.method_detail = (
                    f"{self.method_detail}; reading the role's policies failed too "
                    f"({describe_error(exc)[:200]}): grant the role iam:SimulatePrincipalPolicy "
                    "on itself, or iam:GetRolePolicy/ListRolePolicies/"
                    "ListAttachedRolePolicies/GetPolicy/GetPolicyVersion"
                )
            else:
                return [ActionCheck(a, r, *evaluate(statements, a, r)) for a, r in pairs]
        return [ActionCheck(a, r, "unknown", "could not evaluate") for a, r in pairs]

    async def _simulate(self, pairs: list[tuple[str, str]]) -> list[ActionCheck]:
        decisions: dict[tuple[str, str], str] = {}
        by_resource: dict[str, list[str]] = {}
        for action, resource in pairs:
            by_resource.setdefault(resource, []).append(action)
        async with self.session.client("iam") as iam:
            for resource, actions in by_resource.items():
                kwargs: dict[str, Any] = {
                    "PolicySourceArn": self.principal,
                    "ActionNames": actions,
                    "ResourceArns": [resource],
                }
                while True:
                    response = await iam.simulate_principal_policy(**kwargs)
                    for result in response.get("EvaluationResults", []):
                        key = (result["EvalActionName"], resource)
                        decisions[key] = str(result.get("EvalDecision", "implicitDeny"))
                    if not response.get("IsTruncated"):
                        break
                    kwargs["Marker"] = response["Marker"]
        out = []
        for action, resource in pairs:
            raw = decisions.get((action, resource), "implicitDeny")
            decision = "allowed" if raw == "allowed" else "denied"
            out.append(ActionCheck(action, resource, decision, "" if raw == "allowed" else raw))
        return out

    async def _role_statements(self) -> list[Mapping[str, Any]]:
        if self._statements is not None:
            return self._statements
        arn = Arn.parse(self.principal)
        if arn.service != "iam" or not arn.resource.startswith(("role/", "user/")):
            raise RemediationRefused(f"{self.principal} is not an IAM role or user")
        kind, name = arn.resource.split("/", 1)[0], arn.resource_name
        statements: list[Mapping[str, Any]] = []
        async with self.session.client("iam") as iam:
            if kind == "role":
                names = await _all(iam.list_role_policies, "PolicyNames", RoleName=name)
                for policy in names:
                    doc = await iam.get_role_policy(RoleName=name, PolicyName=policy)
                    statements += _statements(doc["PolicyDocument"])
                attached = await _all(
                    iam.list_attached_role_policies, "AttachedPolicies", RoleName=name
                )
            else:
                names = await _all(iam.list_user_policies, "PolicyNames", UserName=name)
                for policy in names:
                    doc = await iam.get_user_policy(UserName=name, PolicyName=policy)
                    statements += _statements(doc["PolicyDocument"])
                attached = await _all(
                    iam.list_attached_user_policies, "AttachedPolicies", UserName=name
                )
            for item in attached:
                meta = await iam.get_policy(PolicyArn=item["PolicyArn"])
                version = await iam.get_policy_version(
                    PolicyArn=item["PolicyArn"], VersionId=meta["Policy"]["DefaultVersionId"]
                )
                statements += _statements(version["PolicyVersion"]["Document"])
        self._statements = statements
        return statements


async def _all(call: Any, key: str, **kwargs: Any) -> list[Any]:
    items: list[Any] = []
    while True:
        response = await call(**kwargs)
        items += response.get(key, [])
        if not response.get("IsTruncated"):
            return items
        kwargs["Marker"] = response["Marker"]


def _session_policy_problem(
    config: Config, rendered: Mapping[str, Any], role_name: str | None = None
) -> str | None:
    if not (config.aws.session_policy and (role_name or config.aws.role_name)):
        return None
    # Measured as sent: compact JSON without Sids (they only cost characters).
    statements = [{k: v for k, v in st.items() if k != "Sid"} for st in rendered["Statement"]]
    size = len(json.dumps({**rendered, "Statement": statements}, separators=(",", ":")))
    if size <= SESSION_POLICY_LIMIT:
        return None
    return (
        f"its session policy is {size} characters; AssumeRole accepts at most "
        f"{SESSION_POLICY_LIMIT} (AssumeRole would fail; set aws.session_policy = false "
        "only if the role itself is scoped)"
    )


async def run_preflight(
    config: Config,
    registry: MapRegistry,
    aws: AwsProvider,
    *,
    accounts: Sequence[str] = (),
    core_policy: IamPolicy | None = None,
) -> list[AccountCheck]:
    """Check every configured account; ``core_policy`` is what exemptions need (if any)."""
    enabled = [
        (rid, rem)
        for rid, rem in sorted(registry.remediations.items())
        if config.mode_for(rid) is not Mode.OFF
    ]
    targets = list(accounts) or list(config.aws.accounts)
    if not targets:
        try:
            targets = [await aws.caller_account()]
        except Exception as exc:  # noqa: BLE001 - reported as the one result
            return [
                AccountCheck("?", "?", error=f"cannot identify the caller: {describe_error(exc)}")
            ]
    # Remediations with their own role_name (e.g. privilege-sensitive ones kept apart)
    # are checked against that role; the rest against [aws] role_name.
    by_role: dict[str | None, list[tuple[str, Any]]] = {}
    for rid, rem in enabled:
        by_role.setdefault(config.role_for(rid), []).append((rid, rem))
    results = []
    for account in targets:
        for n, (role, group) in enumerate(
            sorted(by_role.items(), key=lambda kv: kv[0] != config.aws.role_name)
        ):
            extra = core_policy if n == 0 else None  # the daemon's own reads use the main role
            results.append(await _check_account(config, aws, account, group, extra, role_name=role))
    return results


async def _role_missing(session: Any, role_arn: str) -> bool:
    """True when IAM says the role does not exist (the role may read itself:
    ``iam:GetRole`` on its own ARN is in the generated policy). Any other answer,
    AccessDenied included, is not proof of anything."""
    name = Arn.parse(role_arn).resource_name
    try:
        async with session.client("iam") as iam:
            await iam.get_role(RoleName=name)
    except Exception as exc:  # noqa: BLE001 - only NoSuchEntity counts
        return aws_error_code(exc) == "NoSuchEntity"
    return False


async def _check_account(
    config: Config,
    aws: AwsProvider,
    account: str,
    enabled: list[tuple[str, Any]],
    core_policy: IamPolicy | None,
    *,
    role_name: str | None = None,
) -> AccountCheck:
    principal = aws.role_arn(account, role_name) if role_name else "(default credentials)"
    check = AccountCheck(account, principal)
    try:
        session = await aws.session_for(
            account, config.aws.region, label="preflight", role_name=role_name
        )
        if not role_name:
            async with session.client("sts") as sts:
                identity = await sts.get_caller_identity()
            check.principal = principal = role_arn_of(str(identity["Arn"]))
    except Exception as exc:  # noqa: BLE001 - the account's one result
        what = f"assume {principal}" if role_name else "use the default credentials"
        hint = (
            " (the role does not exist in that account, or its trust policy does not name "
            "this principal)"
            if role_name and aws_error_code(exc) == "AccessDenied"
            else ""
        )
        check.error = f"cannot {what}: {describe_error(exc)}{hint}"
        return check
    if role_name and await _role_missing(session, principal):
        # Said once, instead of "could not evaluate" for every action.
        check.error = f"role {principal} not found in account {account}"
        return check
    evaluator = _Evaluator(session, principal)
    items: list[tuple[str, IamPolicy]] = [
        (rid, rem.policy_for(rem.parse_options(config.options_for(rid)), revert=True))
        for rid, rem in enabled
    ]
    if core_policy:
        items.append((CORE_EXEMPTIONS, core_policy))
    for rid, policy in items:
        rendered = policy.render(account=account, partition=aws.partition)
        result = RemediationCheck(rid)
        problem = _session_policy_problem(config, rendered, role_name)
        if problem:
            result.problems.append(problem)
        result.actions = await evaluator.decide(_pairs(rendered))
        check.remediations.append(result)
    check.method, check.method_detail = evaluator.method, evaluator.method_detail
    return check


def render_text(results: Sequence[AccountCheck]) -> list[str]:
    lines = []
    for acc in results:
        head = f"account {acc.account} ({acc.principal})"
        if acc.error:
            lines.append(f"{head}: ERROR {acc.error}")
            continue
        lines.append(f"{head}: {'ok' if acc.ok else 'MISSING PERMISSIONS'}; method {acc.method}")
        if acc.method != "simulation":
            lines.append(f"  note: {acc.method_detail}")
        for rem in acc.remediations:
            if rem.ok:
                cond = [a for a in rem.actions if a.decision == "conditional"]
                suffix = f" ({len(cond)} conditional)" if cond else ""
                lines.append(f"  ok       {rem.remediation_id}{suffix}")
                continue
            lines.append(f"  MISSING  {rem.remediation_id}")
            for problem in rem.problems:
                lines.append(f"           {problem}")
            for a in rem.missing:
                lines.append(
                    f"           {a.action} on {a.resource}: {a.decision} {a.detail}".rstrip()
                )
    return lines
