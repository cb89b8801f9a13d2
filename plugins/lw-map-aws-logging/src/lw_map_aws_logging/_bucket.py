"""Run lw-map-s3's remediations on a CloudTrail trail's bucket (CIS 2.3 and 2.6).

The violation names the trail (``arn:…:cloudtrail:…:trail/<name>``) or its bucket
(``arn:…:s3:::<bucket>``); the bucket is resolved live from the trail. Each
:class:`Part` is one lw-map-s3 remediation run as the S3 rule it answers, on that
bucket, with options derived from ours: the S3 map's surgical logic is reused as it
is, including its per-bucket lock, ``ExpectedBucketOwner`` on every call and its undo.
The before-images of the parts are recorded together, keyed by part, before each write.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lw_remediate import (
    ActionRecord,
    CheckResult,
    IamPolicy,
    Plan,
    Remediation,
    RemediationContext,
    RemediationError,
    RemediationOptions,
    RemediationRefused,
    Verification,
    VerifyResult,
    Violation,
)

from ._aws import TRAIL
from ._trail import read_trail, trail_name

OptionsFn = Callable[[Any], Mapping[str, Any]]


@dataclass(frozen=True)
class Part:
    """One lw-map-s3 remediation, run as S3 rule ``rule_id`` with ``options(ours)``."""

    key: str
    remediation: Remediation
    rule_id: str
    options: OptionsFn

    def parsed(self, options: Any) -> RemediationOptions:
        return self.remediation.parse_options(self.options(options))


def bucket_violation(violation: Violation, bucket: str, rule_id: str) -> Violation:
    """The violation ``rule_id`` on ``bucket``, in the original violation's account."""
    return Violation(
        rule_id=rule_id,
        resource_arn=f"arn:{violation.arn.partition}:s3:::{bucket}",
        account_id=violation.account_id,
        region=violation.region,
        resource_type="s3:bucket",
        source_rule_id=violation.rule_id,
        alert_id=violation.alert_id,
    )


async def resolve_bucket(ctx: RemediationContext[Any], violation: Violation) -> str | None:
    """The bucket the violation is about: named, or the trail's (None: the trail is gone)."""
    arn = violation.arn
    if arn.service == "s3":
        return arn.resource_name
    if arn.service != "cloudtrail" or not arn.resource.startswith("trail/"):
        raise RemediationError(
            f"{violation.rule_id}: expected a trail or bucket ARN, got {violation.resource_arn!r}"
        )
    async with ctx.aws.client("cloudtrail") as ct:
        trail = await read_trail(ct, violation.resource_arn)
    return None if trail is None else str(trail["S3BucketName"])


class TrailBucket:
    """check/plan/apply/verify/revert over the parts, on the trail's bucket."""

    def __init__(self, parts: Sequence[Part]) -> None:
        self.parts = tuple(parts)
        self.by_key = {p.key: p for p in self.parts}

    def _ctx(
        self,
        ctx: RemediationContext[Any],
        part: Part,
        violation: Violation,
        images: dict[str, Any] | None = None,
    ) -> RemediationContext[Any]:
        async def sink(image: Mapping[str, Any]) -> None:
            if images is None:
                raise RemediationError("a before-image outside apply")
            images["Parts"][part.key] = dict(image)
            await ctx.record_before(dict(images))

        return RemediationContext(
            violation=violation,
            options=part.parsed(ctx.options),
            aws=ctx.aws,
            log=ctx.log.bind(part=part.remediation.id),
            dry_run=ctx.dry_run,
            deadline=ctx.deadline,
            _before_sink=sink,
        )

    async def _bucket(self, ctx: RemediationContext[Any], violation: Violation) -> str | None:
        return await resolve_bucket(ctx, violation)

    async def check(self, ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
        bucket = await self._bucket(ctx, violation)
        if bucket is None:
            return CheckResult.compliant(
                f"trail {trail_name(violation.resource_arn)} no longer exists"
            )
        found: list[str] = []
        fine: list[str] = []
        parts: dict[str, dict[str, Any]] = {}
        for part in self.parts:
            sub = bucket_violation(violation, bucket, part.rule_id)
            result = await part.remediation.check(self._ctx(ctx, part, sub), sub)
            (found if result.present else fine).append(result.detail)
            parts[part.key] = {
                "present": result.present,
                "detail": result.detail,
                "observed": dict(result.observed),
            }
        if not found:
            return CheckResult.compliant(
                f"trail bucket {bucket}: " + "; ".join(fine), bucket=bucket
            )
        return CheckResult.violating(
            f"trail bucket {bucket}: " + "; ".join(found), bucket=bucket, parts=parts
        )

    async def _part_checked(
        self, ctx: RemediationContext[Any], part: Part, sub_ctx: RemediationContext[Any]
    ) -> CheckResult:
        """What the part's ``check`` found in this run's ``check`` (``ctx.checked``), else
        the part's ``check`` run now."""
        seen = (ctx.checked.observed.get("parts") or {}) if ctx.checked is not None else {}
        if part.key in seen:
            result = seen[part.key]
            return CheckResult(bool(result["present"]), result["detail"], result["observed"])
        return await part.remediation.check(sub_ctx, sub_ctx.violation)

    async def plan(self, ctx: RemediationContext[Any], violation: Violation) -> Plan:
        # check resolved the bucket and ran every part's check in this run: neither the
        # trail nor the parts' state is read again; each part's plan builds on its check
        bucket: str | None = await ctx.checked_or_read(
            "bucket", lambda: self._bucket(ctx, violation)
        )
        if bucket is None:
            return Plan(f"trail {trail_name(violation.resource_arn)} no longer exists")
        summaries: list[str] = []
        changes = []
        notes: list[str] = []
        data: dict[str, Any] = {}
        for part in self.parts:
            sub = bucket_violation(violation, bucket, part.rule_id)
            sub_ctx = self._ctx(ctx, part, sub)
            sub_ctx.checked = await self._part_checked(ctx, part, sub_ctx)
            if not sub_ctx.checked.present:
                continue
            sub_plan = await part.remediation.plan(sub_ctx, sub)
            if not sub_plan.changes:
                continue
            summaries.append(sub_plan.summary)
            changes += list(sub_plan.changes)
            notes += list(sub_plan.notes)
            data[part.key] = dict(sub_plan.data)
        if not changes:
            return Plan(f"trail bucket {bucket}: nothing to change")
        return Plan(
            summary=f"trail bucket {bucket}: " + "; ".join(summaries),
            changes=changes,
            data={"Bucket": bucket, "Parts": data},
            notes=notes,
        )

    async def apply(self, ctx: RemediationContext[Any], plan: Plan) -> Mapping[str, Any]:
        bucket = str(plan.data["Bucket"])
        live = await self._bucket(ctx, ctx.violation)
        if live != bucket:
            raise RemediationRefused(
                f"the trail now delivers to {live}, not {bucket}: run the remediation again"
            )
        images: dict[str, Any] = {"Bucket": bucket, "Parts": {}}
        after: dict[str, Any] = {}
        for key, data in plan.data["Parts"].items():
            part = self.by_key[key]
            sub = bucket_violation(ctx.violation, bucket, part.rule_id)
            sub_ctx = self._ctx(ctx, part, sub, images)
            if part.remediation.apply is None:
                raise RemediationError(f"{part.remediation.id} cannot apply")
            after[key] = dict(await part.remediation.apply(sub_ctx, Plan("", data=data)))
        return {"Bucket": bucket, "Parts": after}

    async def verify(self, ctx: RemediationContext[Any], violation: Violation) -> VerifyResult:
        bucket = await self._bucket(ctx, violation)
        if bucket is None:
            return VerifyResult.failed(
                f"trail {trail_name(violation.resource_arn)} no longer exists"
            )
        details: list[str] = []
        for part in self.parts:
            if part.remediation.verify is None:
                continue
            sub = bucket_violation(violation, bucket, part.rule_id)
            result = await part.remediation.verify(self._ctx(ctx, part, sub), sub)
            if result.status is Verification.FAILED:
                return VerifyResult.failed(f"trail bucket {bucket}: {result.detail}")
            details.append(result.detail)
        return VerifyResult.verified(f"trail bucket {bucket}: " + "; ".join(details))

    async def revert(self, ctx: RemediationContext[Any], record: ActionRecord) -> str:
        before = dict((record.before_image or {}).get("Parts", {}))
        after = dict((record.after_image or {}).get("Parts", {}))
        bucket = str((record.after_image or {}).get("Bucket"))
        details: list[str] = []
        for key in reversed([k for k in after if k in before]):
            part = self.by_key[key]
            if part.remediation.revert is None:
                continue
            sub = bucket_violation(record.violation, bucket, part.rule_id)
            sub_record = ActionRecord(
                part.remediation.id,
                sub,
                record.mode,
                status=record.status,
                before_image=before[key],
                after_image=after[key],
            )
            details.append(await part.remediation.revert(self._ctx(ctx, part, sub), sub_record))
        return f"trail bucket {bucket}: " + "; ".join(details or ["nothing was changed"])

    def policy(self) -> IamPolicy:
        """Every part's default policy, and reading the trail."""
        return IamPolicy.merge(p.remediation.policy for p in self.parts) + IamPolicy.allow(
            ["cloudtrail:GetTrail"], [TRAIL]
        )

    def option_policy(self, options: Any) -> IamPolicy:
        return IamPolicy.merge(
            p.remediation.option_policy(p.parsed(options))
            for p in self.parts
            if p.remediation.option_policy is not None
        )

    def revert_policy(self, options: Any) -> IamPolicy:
        policies = []
        for p in self.parts:
            extra = p.remediation.revert_policy
            policies.append(extra if isinstance(extra, IamPolicy) else extra(p.parsed(options)))
        return IamPolicy.merge(policies)
