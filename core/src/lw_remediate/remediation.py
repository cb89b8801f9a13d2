"""The map contract: a :class:`Remediation` is data plus a few coroutines.

Maps build ``Remediation`` objects and return them from the
``lw_remediate_remediations`` hook; the core decides when each coroutine runs.
"""

from __future__ import annotations

import functools
import importlib.metadata as md
import inspect
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar, cast

import pydantic
import structlog

from ._markers import ENTRY_POINT_GROUP
from .calls import AwsCall
from .errors import RemediationDeclarationError
from .model import ActionRecord, CheckResult, Plan, VerifyResult, Violation
from .policy import IamPolicy
from .rules import canonical_rule_id, normal_rule_id, rule_forms


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
ResultT = TypeVar("ResultT")


@dataclass
class RemediationContext(Generic[OptionsT]):
    """Everything a remediation coroutine may use, and nothing more.

    ``aws`` is bound to the violation's account and region; ``deadline`` is the
    event-loop time (``loop.time()``) by which the remediation must finish.
    ``checked`` is what ``check`` returned in this run (set before ``plan``; None when
    ``plan`` runs without a ``check``): ``plan`` may build on ``checked.observed``
    instead of reading the same state again.
    """

    violation: Violation
    options: OptionsT
    aws: AwsClientFactory
    log: structlog.typing.FilteringBoundLogger
    dry_run: bool
    deadline: float
    _before_sink: Callable[[Mapping[str, Any]], Awaitable[None]] = field(repr=False)
    checked: CheckResult | None = None

    async def record_before(self, image: Mapping[str, Any]) -> None:
        """Store the before-image. Call it in ``apply`` after the re-read, before any write.

        The core writes it durably before this returns, so a crash during the write
        never loses what ``revert`` needs.
        """
        await self._before_sink(image)

    async def checked_or_read(self, key: str, read: Callable[[], Awaitable[ResultT]]) -> ResultT:
        """What this run's ``check`` recorded as ``observed[key]`` moments ago, for ``plan``
        to build on instead of repeating the request; ``await read()`` when there is none
        (``plan`` runs without a ``check`` before it, e.g. on approval, or ``check`` did
        not record ``key``). Only for ``plan``: ``apply`` re-reads before it writes and
        ``verify`` after."""
        checked = self.checked
        if checked is not None and key in checked.observed:
            return cast(ResultT, checked.observed[key])
        return await read()


CheckFn = Callable[[RemediationContext[Any], Violation], Awaitable[CheckResult]]
PlanFn = Callable[[RemediationContext[Any], Violation], Awaitable[Plan]]
ApplyFn = Callable[[RemediationContext[Any], Plan], Awaitable[Mapping[str, Any]]]
VerifyFn = Callable[[RemediationContext[Any], Violation], Awaitable[VerifyResult]]
RevertFn = Callable[[RemediationContext[Any], ActionRecord], Awaitable[str]]
PolicyFn = Callable[[Any], IamPolicy]

#: The coroutine hooks of a remediation, in lifecycle order.
HOOKS = ("check", "plan", "apply", "verify", "revert")


def _is_coroutine_function(fn: Any) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - an object with an async __call__
    )


def _describe_callable(fn: Any) -> str:
    name = getattr(fn, "__qualname__", None) or type(fn).__name__
    return f"{name} ({'a plain function' if callable(fn) else type(fn).__name__})"


@functools.cache
def _distributions() -> Mapping[str, list[str]]:
    """Top-level package -> distributions: the maps' entry points first (they name editable
    installs too), then every installed distribution's top-level packages."""
    found: dict[str, list[str]] = {k: list(v) for k, v in md.packages_distributions().items()}
    for ep in md.entry_points(group=ENTRY_POINT_GROUP):
        if ep.dist is not None:
            found[ep.value.split(".", 1)[0].split(":", 1)[0]] = [ep.dist.name]
    return found


_ID_RE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9]*_[a-z0-9_]+$")


@dataclass(frozen=True)
class RuleId:
    """An id a remediation answers besides its ``rules``: the way to route a new
    ``lacework-global-N`` id that stands for two legacy rules.

    ``RuleId("lacework-global-68", reasons=("Port22Open",), means="AWS_CIS_4_1")``:
    a violation that arrives as ``lacework-global-68`` with reason ``Port22Open`` goes
    to this remediation, which sees it as ``AWS_CIS_4_1`` (``violation.rule_id``;
    ``source_rule_id`` keeps what Lacework sent).

    :param id: as Lacework sends it, legacy or new (matched case-insensitively).
    :param reasons: bare reason suffixes this declaration is limited to (empty: any;
        a violation without a reason matches only a declaration without reasons).
    :param means: the rule the remediation sees: one of the legacy rules ``id`` stands
        for (the official equivalence), or ``id`` itself. Default: the one legacy rule,
        else ``id`` itself.
    """

    id: str
    reasons: tuple[str, ...] = ()
    means: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id.strip():
            raise RemediationDeclarationError(f"RuleId needs a rule id, got {self.id!r}")
        rid = normal_rule_id(self.id)
        object.__setattr__(self, "id", rid)
        object.__setattr__(self, "reasons", tuple(str(r) for r in self.reasons))
        if self.means is None:
            object.__setattr__(self, "means", canonical_rule_id(rid))
            return
        means = normal_rule_id(self.means)
        if means not in rule_forms(rid):
            raise RemediationDeclarationError(
                f"RuleId({rid!r}): {self.means!r} is not a rule {rid} stands for "
                f"({', '.join(sorted(rule_forms(rid)))})"
            )
        object.__setattr__(self, "means", canonical_rule_id(means))

    @property
    def rule_id(self) -> str:
        """The rule the remediation sees (``means``)."""
        return self.means or self.id

    def accepts(self, reason: str | None) -> bool:
        """True for a violation with this reason (any, when no reasons are declared)."""
        return not self.reasons or (reason is not None and reason in self.reasons)

    def __str__(self) -> str:
        only = f" [reason {'|'.join(self.reasons)}]" if self.reasons else ""
        means = f" -> {self.rule_id}" if self.rule_id != self.id else ""
        return f"{self.id}{only}{means}"


@dataclass(frozen=True)
class Remediation:
    """A remediation, declared as data.

    :param id: ``<set>.<verb>_<object>``, e.g. ``s3.enable_versioning``.
    :param rules: rule ids handled, legacy form where one exists (``LW_S3_16``); the
        official ``lacework-global-N`` equivalent of each is routed here by the core
        (either form may be declared).
    :param rule_ids: further ids answered, each optionally narrowed by reason and saying
        which rule it means (:class:`RuleId`): for a new id that stands for two legacy
        rules. The rules they mean are added to ``rules``.
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
    :param irreversible: ``apply`` makes a change nothing can restore, so it records no
        before-image and has no ``revert`` (the test kit fails any other remediation
        whose ``apply`` writes to AWS without ``ctx.record_before``).
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
    rule_ids: tuple[RuleId, ...] = ()
    irreversible: bool = False

    def __post_init__(self) -> None:
        if not _ID_RE.match(self.id):
            raise RemediationDeclarationError(
                f"remediation id {self.id!r} is not of the form <set>.<verb>_<object>"
            )
        for hook in HOOKS:
            fn = getattr(self, hook)
            if fn is not None and not _is_coroutine_function(fn):
                raise RemediationDeclarationError(
                    f"{self.id}: {hook} must be a coroutine function (async def), "
                    f"got {_describe_callable(fn)}"
                )
        object.__setattr__(self, "aws_calls", tuple(self.aws_calls))
        if not all(isinstance(c, AwsCall) for c in self.aws_calls):
            raise RemediationDeclarationError(f"{self.id}: aws_calls must hold AwsCall objects")
        if self.irreversible and self.revert is not None:
            raise RemediationDeclarationError(
                f"{self.id}: declared irreversible, yet it declares revert"
            )
        declared = tuple(d if isinstance(d, RuleId) else RuleId(str(d)) for d in self.rule_ids)
        object.__setattr__(self, "rule_ids", declared)
        rules = [canonical_rule_id(r) for r in self.rules]
        rules += [d.rule_id for d in declared if d.rule_id not in rules]
        if not rules:
            raise RemediationDeclarationError(f"{self.id}: declares no rule ids")
        object.__setattr__(self, "rules", tuple(dict.fromkeys(rules)))
        if not (isinstance(self.options, type) and issubclass(self.options, RemediationOptions)):
            raise RemediationDeclarationError(
                f"{self.id}: options must subclass lw_remediate.RemediationOptions"
            )
        try:
            self.options()
        except pydantic.ValidationError as exc:
            missing = sorted({str(e["loc"][0]) for e in exc.errors() if e["loc"]})
            raise RemediationDeclarationError(
                f"{self.id}: every option needs a safe default; "
                f"{self.options.__name__} has none for: {', '.join(missing) or exc}"
            ) from exc
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
    def origin(self) -> str:
        """The distribution (or, failing that, the module) that declares this remediation."""
        module = getattr(inspect.unwrap(self.check), "__module__", None) or "?"
        package = module.split(".", 1)[0]
        dists = _distributions().get(package)
        return dists[0] if dists else module

    def expect(self, hook: str, result: object, expected: type[ResultT]) -> ResultT:
        """``result`` if it is what ``hook`` must return; otherwise a clear error naming the
        map, the remediation and the hook (instead of an AttributeError further on)."""
        if isinstance(result, expected):
            return result
        raise RemediationDeclarationError(
            f"map {self.origin}: remediation {self.id}: {hook} returned "
            f"{type(result).__name__}, not {expected.__name__}"
        )

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
        """True when this remediation is for ``rule_id`` (any alias, or an id declared in
        ``rule_ids``) and ``reason``."""
        rid = normal_rule_id(rule_id)
        if any(d.id == rid and d.accepts(reason) for d in self.rule_ids):
            return True
        if canonical_rule_id(rule_id) not in self.rules:
            return False
        return self.takes_reason(reason)

    def takes_reason(self, reason: str | None) -> bool:
        """``reasons`` allows this reason (or says nothing)."""
        return not self.reasons or reason is None or reason in self.reasons
