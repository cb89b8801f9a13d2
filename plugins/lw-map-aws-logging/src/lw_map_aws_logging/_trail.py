"""CloudTrail helpers, and :class:`TrailUpdate`: the lifecycle of a remediation that sets
a few fields of one trail with ``UpdateTrail`` (CIS 2.2, 2.4, 2.7).

The violation names the trail by its ARN (``arn:<p>:cloudtrail:<region>:<account>:trail/<name>``).
CloudTrail only updates a trail in its home region (the region of its ARN), so an action
bound to another region is refused with the region to run it in.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lw_remediate import (
    ActionRecord,
    Arn,
    Change,
    CheckResult,
    Plan,
    RemediationContext,
    RemediationError,
    RemediationRefused,
    ResourceChanged,
    VerifyResult,
    Violation,
)

from ._aws import unless

TRAIL_NOT_FOUND = "TrailNotFoundException"


def trail_arn(violation: Violation) -> str:
    """The trail ARN the violation names (validated)."""
    arn = violation.arn
    if arn.service != "cloudtrail" or not arn.resource.startswith("trail/"):
        raise RemediationError(
            f"{violation.rule_id}: expected a CloudTrail trail ARN, got {violation.resource_arn!r}"
        )
    return violation.resource_arn


def home_trail_arn(violation: Violation, region: str) -> str:
    """The trail ARN, refused unless the action runs in the trail's home region (the
    region of its ARN): CloudTrail changes a trail only there."""
    arn = trail_arn(violation)
    home = Arn.parse(arn).region
    if home and home != region:
        raise RemediationRefused(
            f"trail {trail_name(arn)} lives in {home}; CloudTrail changes a trail only in its "
            f"home region, and this action runs in {region}"
        )
    return arn


def trail_name(arn: str) -> str:
    return Arn.parse(arn).resource.split("/", 1)[-1]


def home_region(trail: Mapping[str, Any]) -> str:
    """The region a trail was created in (``HomeRegion``, else its ARN's region)."""
    return str(trail.get("HomeRegion") or Arn.parse(str(trail["TrailARN"])).region)


async def read_trail(ct: Any, name: str) -> dict[str, Any] | None:
    """``GetTrail``'s trail, or None when there is no such trail."""
    response = await unless(ct.get_trail(Name=name), TRAIL_NOT_FOUND)
    return None if response is None else dict(response["Trail"])


async def is_logging(ct: Any, arn: str) -> bool:
    status = await ct.get_trail_status(Name=arn)
    return bool(status.get("IsLogging"))


def require_home_region(trail: Mapping[str, Any], region: str) -> None:
    home = home_region(trail)
    if home != region:
        raise RemediationRefused(
            f"trail {trail.get('Name')} lives in {home}; CloudTrail changes a trail only in its "
            f"home region, and this action runs in {region}"
        )


def gone(arn: str) -> str:
    return f"trail {trail_name(arn)} no longer exists"


def on(value: Any) -> Any:
    """A trail field as compared: unset, empty and False are all "off" (moto returns ``''``
    where AWS omits a cleared field)."""
    return value if value else None


SettingsFn = Callable[[RemediationContext[Any], Violation, Mapping[str, Any]], Awaitable["Wanted"]]


@dataclass(frozen=True)
class Wanted:
    """What ``plan`` decided: the trail fields to set, and steps to run before the update."""

    settings: Mapping[str, Any]
    changes: list[Change] = field(default_factory=list)
    data: Mapping[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TrailUpdate:
    """The lifecycle of a remediation that sets some fields of one trail.

    :param fields: ``GetTrail`` key -> ``UpdateTrail`` parameter, e.g.
        ``{"LogFileValidationEnabled": "EnableLogFileValidation"}``.
    :param compliant: given the trail and the options, the reason it is fine, or None.
    :param wanted: the fields to set (may refuse: missing option, unusable key ...).
    :param prepare: runs in ``apply`` after the before-image, before the update (e.g.
        create the log group); returns what it did, for the after-image.
    :param describe: the fields as text.
    """

    fields: Mapping[str, str]
    compliant: Callable[[Mapping[str, Any], Any], str | None]
    wanted: SettingsFn
    describe: Callable[[Mapping[str, Any]], str]
    violating: str
    prepare: (
        Callable[[RemediationContext[Any], Mapping[str, Any]], Awaitable[Mapping[str, Any]]] | None
    ) = None

    def settings(self, trail: Mapping[str, Any]) -> dict[str, Any]:
        return {key: on(trail.get(key)) for key in self.fields}

    async def check(self, ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
        arn = home_trail_arn(violation, ctx.aws.region)
        async with ctx.aws.client("cloudtrail") as ct:
            trail = await read_trail(ct, arn)
        if trail is None:
            return CheckResult.compliant(gone(arn))
        ok = self.compliant(trail, ctx.options)
        if ok:
            return CheckResult.compliant(ok, trail=self.settings(trail))
        return CheckResult.violating(
            f"trail {trail_name(arn)}: {self.violating}",
            trail=self.settings(trail),
            get_trail=trail,
        )

    async def plan(self, ctx: RemediationContext[Any], violation: Violation) -> Plan:
        arn = home_trail_arn(violation, ctx.aws.region)

        async def live() -> dict[str, Any] | None:
            async with ctx.aws.client("cloudtrail") as ct:
                return await read_trail(ct, arn)

        # check read the trail in this run (GetTrail's answer): no second GetTrail
        trail: dict[str, Any] | None = await ctx.checked_or_read("get_trail", live)
        if trail is None:
            return Plan(gone(arn))
        ok = self.compliant(trail, ctx.options)
        if ok:
            return Plan(ok)
        require_home_region(trail, ctx.aws.region)
        wanted = await self.wanted(ctx, violation, trail)
        current = self.settings(trail)
        after = {**current, **wanted.settings}
        return Plan(
            summary=f"trail {trail_name(arn)}: set {self.describe(after)} "
            f"(now {self.describe(current)})",
            changes=[*wanted.changes, Change("update_trail", arn, current, after)],
            data={"settings": dict(wanted.settings), **wanted.data},
            notes=[
                f"undo restores {', '.join(self.fields)} to their previous values",
                *wanted.notes,
            ],
        )

    async def apply(self, ctx: RemediationContext[Any], plan: Plan) -> Mapping[str, Any]:
        arn = trail_arn(ctx.violation)
        wanted = dict(plan.data["settings"])
        async with ctx.aws.client("cloudtrail") as ct:
            trail = await read_trail(ct, arn)  # re-read right before writing
            if trail is None:
                raise RemediationRefused(gone(arn))
            before = self.settings(trail)
            after = {**before, **wanted}
            if self.compliant(trail, ctx.options):
                return {"TrailARN": arn, "Settings": before}
            await ctx.record_before({"TrailARN": arn, "Settings": before})
            done: Mapping[str, Any] = {}
            if self.prepare is not None:
                done = await self.prepare(ctx, plan.data)
            await ct.update_trail(Name=arn, **{self.fields[k]: v for k, v in wanted.items()})
        return {"TrailARN": arn, "Settings": after, **done}

    async def verify(self, ctx: RemediationContext[Any], violation: Violation) -> VerifyResult:
        arn = trail_arn(violation)
        async with ctx.aws.client("cloudtrail") as ct:
            trail = await read_trail(ct, arn)
        if trail is None:
            return VerifyResult.failed(gone(arn))
        ok = self.compliant(trail, ctx.options)
        if ok:
            return VerifyResult.verified(ok)
        return VerifyResult.failed(f"trail {trail_name(arn)}: still {self.violating}")

    async def revert(self, ctx: RemediationContext[Any], record: ActionRecord) -> str:
        arn = trail_arn(record.violation)
        before = dict((record.before_image or {}).get("Settings", {}))
        after = dict((record.after_image or {}).get("Settings", {}))
        async with ctx.aws.client("cloudtrail") as ct:
            trail = await read_trail(ct, arn)
            if trail is None:
                raise ResourceChanged(f"{gone(arn)}; not reverting")
            if self.settings(trail) != after:
                raise ResourceChanged(
                    f"trail {trail_name(arn)} changed since the remediation "
                    f"({self.describe(self.settings(trail))}); not reverting"
                )
            restore = {
                self.fields[key]: value if value is not None else _off(after.get(key))
                for key, value in before.items()
                if value != after.get(key)
            }
            if restore:
                await ct.update_trail(Name=arn, **restore)
        return f"trail {trail_name(arn)}: restored {self.describe(before)}"


def _off(value: Any) -> Any:
    """What ``UpdateTrail`` takes to clear a field: False for a flag, ``''`` for an ARN."""
    return False if isinstance(value, bool) else ""
