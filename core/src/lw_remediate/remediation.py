"""The map contract: a :class:`Remediation` is data plus a few coroutines.

Maps build ``Remediation`` objects and return them from the
``lw_remediate_remediations`` hook; the core decides when each coroutine runs.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import pydantic
import structlog

from .calls import AwsCall
from .errors import RemediationDeclarationError
from .model import ActionRecord, CheckResult, Plan, VerifyResult, Violation
from .policy import IamPolicy
from .rules import canonical_rule_id


class AwsClientFactory(Protocol):
    """What a remediation sees: ``async with ctx.aws.client("s3") as s3: ...``."""

    account_id: str
    region: str

    def client(self, service: str) -> Any:
        """An async context manager yielding an aiobotocore client."""
        ...


class RemediationOptions(pydantic.BaseModel):
    """Base class of every remediation's options: immutable, unknown keys rejected.

    Subclass it with safe defaults; operators override values under
    ``[remediation."<id>"]`` in the configuration.
    """

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


OptionsT = TypeVar("OptionsT", bound=RemediationOptions)


@dataclass
class RemediationContext(Generic[OptionsT]):
    """Everything a remediation coroutine may use, and nothing more.

    ``aws`` is bound to the violation's account and region; ``deadline`` is the
    event-loop time (``loop.time()``) by which the remediation must finish.
    """

    violation: Violation
    options: OptionsT
    aws: AwsClientFactory
    log: structlog.typing.FilteringBoundLogger
    dry_run: bool
    deadline: float
    _before_sink: Callable[[Mapping[str, Any]], Awaitable[None]] = field(repr=False)

    async def record_before(self, image: Mapping[str, Any]) -> None:
        """Store the before-image. Call it in ``apply`` after the re-read, before any write.

        The core writes it durably before this returns, so a crash during the write
        never loses what ``revert`` needs.
        """
        await self._before_sink(image)


CheckFn = Callable[[RemediationContext[Any], Violation], Awaitable[CheckResult]]
PlanFn = Callable[[RemediationContext[Any], Violation], Awaitable[Plan]]
ApplyFn = Callable[[RemediationContext[Any], Plan], Awaitable[Mapping[str, Any]]]
VerifyFn = Callable[[RemediationContext[Any], Violation], Awaitable[VerifyResult]]
RevertFn = Callable[[RemediationContext[Any], ActionRecord], Awaitable[str]]
PolicyFn = Callable[[Any], IamPolicy]

_ID_RE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9]*_[a-z0-9_]+$")


@dataclass(frozen=True)
class Remediation:
    """A remediation, declared as data.

    :param id: ``<set>.<verb>_<object>``, e.g. ``s3.enable_versioning``.
    :param rules: rule ids handled, legacy form where one exists (``LW_S3_16``);
        ``lacework-global-N`` aliases are mapped by the core.
    :param title: one line for listings and notifications.
    :param policy: the least-privilege policy of ``check``/``plan``/``apply``/``verify``
        with default options.
    :param check: re-read live state; is the violation still there?
    :param plan: the exact change (dry-run output).
    :param apply: make the change; call ``ctx.record_before`` before writing; return the
        after-image.
    :param verify: re-read; did the fix take?
    :param revert: optional; restore ``record.before_image`` unless the resource changed
        since (raise :class:`~lw_remediate.ResourceChanged`); return a detail line.
    :param revert_policy: extra actions ``revert`` needs beyond ``policy`` (or a function
        of the options returning them).
    :param options: the options model (a :class:`RemediationOptions` subclass).
    :param option_policy: extra actions needed by non-default options (given the options).
    :param reasons: if set, only these reason suffixes are handled.
    :param resource_type: e.g. ``s3:bucket``, ``iam:user``, ``iam:account``.
    :param auto_remediable: False for manual-only rules; then ``runbook`` is required and
        ``apply`` is never called.
    :param manual_when: for "manual by default" remediations: given the options, True when
        the action should end ``manual`` (runbook sent) instead of applying.
    :param runbook: what an operator does by hand; ``{account}``, ``{resource}``,
        ``{resource_name}``, ``{region}``, ``{partition}``, ``{rule_id}`` and
        ``{options.<name>}`` are filled in.
    :param privilege_sensitive: the remediation can grant privileges (run it under a
        separate role).
    :param aws_calls: :class:`~lw_remediate.AwsCall` declarations: the IAM action or
        resource of calls the core's call table gets wrong or cannot know.
    """

    id: str
    rules: tuple[str, ...]
    title: str
    policy: IamPolicy
    check: CheckFn
    plan: PlanFn
    apply: ApplyFn | None = None
    verify: VerifyFn | None = None
    revert: RevertFn | None = None
    revert_policy: IamPolicy | PolicyFn = field(default_factory=IamPolicy)
    options: type[RemediationOptions] = RemediationOptions
    option_policy: PolicyFn | None = None
    reasons: tuple[str, ...] = ()
    resource_type: str | None = None
    auto_remediable: bool = True
    manual_when: Callable[[Any], bool] | None = None
    runbook: str = ""
    description: str = ""
    privilege_sensitive: bool = False
    aws_calls: tuple[AwsCall, ...] = ()

    def __post_init__(self) -> None:
        if not _ID_RE.match(self.id):
            raise RemediationDeclarationError(
                f"remediation id {self.id!r} is not of the form <set>.<verb>_<object>"
            )
        if not self.rules:
            raise RemediationDeclarationError(f"{self.id}: declares no rule ids")
        object.__setattr__(self, "rules", tuple(canonical_rule_id(r) for r in self.rules))
        if not issubclass(self.options, RemediationOptions):
            raise RemediationDeclarationError(
                f"{self.id}: options must subclass lw_remediate.RemediationOptions"
            )
        if self.auto_remediable:
            if self.apply is None or self.verify is None:
                raise RemediationDeclarationError(
                    f"{self.id}: an auto-remediable remediation needs apply and verify"
                )
        elif not self.runbook:
            raise RemediationDeclarationError(
                f"{self.id}: a manual-only remediation needs a runbook"
            )
        if self.manual_when is not None and not self.runbook:
            raise RemediationDeclarationError(f"{self.id}: manual_when needs a runbook")
        if self.revert is not None and self.apply is None:
            raise RemediationDeclarationError(f"{self.id}: revert without apply")

    @property
    def set_name(self) -> str:
        """The map set part of the id (``s3`` in ``s3.enable_versioning``)."""
        return self.id.split(".", 1)[0]

    def default_options(self) -> RemediationOptions:
        return self.options()

    def parse_options(self, raw: Mapping[str, Any] | None) -> RemediationOptions:
        """Validate operator options; raises ``pydantic.ValidationError`` naming bad keys."""
        return self.options.model_validate(dict(raw or {}))

    def is_manual(self, options: RemediationOptions) -> bool:
        """True when, with these options, the action ends ``manual`` rather than applying."""
        if not self.auto_remediable:
            return True
        return bool(self.manual_when(options)) if self.manual_when else False

    @property
    def manual_by_default(self) -> bool:
        return self.is_manual(self.default_options())

    def policy_for(
        self, options: RemediationOptions | None = None, *, revert: bool = False
    ) -> IamPolicy:
        """The least-privilege policy with these options (and the undo actions if asked)."""
        options = options if options is not None else self.default_options()
        policy = self.policy
        if self.option_policy is not None:
            policy = policy + self.option_policy(options)
        if revert:
            extra = self.revert_policy
            policy = policy + (extra if isinstance(extra, IamPolicy) else extra(options))
        return policy

    def session_policy(
        self, options: RemediationOptions | None = None, *, account: str, partition: str = "aws"
    ) -> dict[str, Any]:
        """The STS session policy for one action: the declared policy (undo included), or
        a deny-all document when the remediation declares no action at all."""
        policy = self.policy_for(options, revert=True)
        if not policy:
            return {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}],
            }
        doc = policy.render(account=account, partition=partition)
        for statement in doc["Statement"]:
            statement.pop("Sid", None)  # session policies are capped at 2,048 characters
        return doc

    def render_runbook(
        self, violation: Violation, options: RemediationOptions | None = None
    ) -> str:
        """The runbook with ``{account}``, ``{resource}``, ``{resource_name}``, ``{region}``,
        ``{partition}``, ``{rule_id}`` and ``{options.<name>}`` filled in."""
        return self.runbook.format(
            account=violation.account_id,
            resource=violation.resource_arn,
            resource_name=violation.resource_name,
            region=violation.region or "",
            partition=violation.arn.partition,
            rule_id=violation.rule_id,
            options=options if options is not None else self.default_options(),
        )

    def handles(self, rule_id: str, reason: str | None) -> bool:
        """True when this remediation is for ``rule_id`` (any alias) and ``reason``."""
        if canonical_rule_id(rule_id) not in self.rules:
            return False
        return not self.reasons or reason is None or reason in self.reasons
