"""AWS_CIS_2_1: CloudTrail enabled in all regions (account-level; reason ``NoTrail``).

The account is compliant when some multi-region trail is logging all management events
(read and write; the CIS audit). Otherwise:

- a multi-region trail exists but is not logging: start it; when its basic event selectors
  leave management events out, one selector for all management events is added (the
  others stay; advanced selectors, or five selectors already, are refused: fix by hand);
- a trail exists in the action's region: make it multi-region (with global service
  events, which AWS requires for that) and start it (``trail_name`` picks one when the
  region has several);
- no trail: only with ``create_trail = true`` and ``bucket_name``, create a multi-region
  trail (log file validation on, tagged ``managed-by = lw-remediate``) to that bucket and
  start it. When the bucket's policy does not yet let ``cloudtrail.amazonaws.com`` check its
  ACL and write ``AWSLogs/<account>/*``, those two statements (limited to the new trail by
  ``aws:SourceArn``) are added; every other statement stays.

CloudTrail changes a trail only in its home region: a trail of another region is named in
the refusal. Undo returns an existing trail to its recorded state (single-region, not
logging), or deletes the trail it created and restores the bucket policy byte for byte.
Log files already delivered stay in the bucket.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import pydantic
from botocore.exceptions import ClientError

from lw_map_s3 import bucket_lock
from lw_remediate import (
    ActionRecord,
    AwsCall,
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

from .._aws import (
    ANY,
    TRAIL,
    check_template,
    error_code,
    error_message,
    fill,
    refuse_without,
)
from .._bucket import bucket_violation
from .._cloudtrail_bucket import policy_with_cloudtrail, read_bucket_policy
from .._trail import TRAIL_NOT_FOUND, home_region, is_logging, trail_name

ID = "logging.enable_multi_region_trail"
TAG = {"Key": "managed-by", "Value": "lw-remediate"}
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,126}[A-Za-z0-9]$")


class Options(RemediationOptions):
    """Which trail to fix, and whether (and where) to create one."""

    #: The trail to make multi-region when the region has several (None: the only one).
    trail_name: str | None = None
    #: With no trail at all, create one (needs ``bucket_name``).
    create_trail: bool = False
    #: Bucket of a created trail (same account), e.g. ``"cloudtrail-{account}"``.
    bucket_name: str | None = None
    #: Name of a created trail.
    new_trail_name: str = "lw-remediate-all-regions"

    @pydantic.field_validator("bucket_name")
    @classmethod
    def _bucket(cls, value: str | None) -> str | None:
        return check_template(value, {"account", "region"}, "bucket_name")

    @pydantic.field_validator("new_trail_name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME_RE.match(value) or ".." in value:
            raise ValueError(f"not a valid trail name: {value!r}")
        return value


async def trails(ct: Any) -> list[dict[str, Any]]:
    """Every trail the region sees (its own and other regions' multi-region trails),
    each with ``IsLogging``, ``ManagementEvents`` (all management events are logged) and,
    for custom selectors, its ``EventSelectors`` / ``AdvancedEventSelectors``."""
    response = await ct.describe_trails(includeShadowTrails=True)
    found = []
    for trail in response.get("trailList", []):
        arn = trail["TrailARN"]
        try:
            status = await is_logging(ct, arn)
        except ClientError as exc:
            if error_code(exc) != TRAIL_NOT_FOUND:
                raise
            continue
        try:
            selectors = await ct.get_event_selectors(TrailName=arn)
        except ClientError as exc:
            # Unreadable from here: counted as not logging every management event.
            if error_code(exc) != TRAIL_NOT_FOUND:
                raise
            selectors = {"AdvancedEventSelectors": [{"Name": "unreadable"}]}
        basic = [clean_selector(s) for s in selectors.get("EventSelectors") or []]
        advanced = list(selectors.get("AdvancedEventSelectors") or [])
        found.append(
            {
                **trail,
                "IsLogging": status,
                "EventSelectors": basic,
                "AdvancedEventSelectors": advanced,
                "ManagementEvents": logs_management_events(trail, basic, advanced),
            }
        )
    return found


def clean_selector(selector: Mapping[str, Any]) -> dict[str, Any]:
    """An event selector as ``PutEventSelectors`` takes it."""
    keys = ("ReadWriteType", "IncludeManagementEvents", "DataResources")
    clean = {k: selector[k] for k in keys if k in selector}
    if selector.get("ExcludeManagementEventSources"):
        clean["ExcludeManagementEventSources"] = selector["ExcludeManagementEventSources"]
    return clean


def logs_management_events(
    trail: Mapping[str, Any], basic: list[dict[str, Any]], advanced: list[dict[str, Any]]
) -> bool:
    """True when the trail logs every management event, read and write (the CIS audit).

    A trail without custom selectors has CloudTrail's default one, which does (AWS
    returns that default; an answer with no selector at all is read the same way)."""
    if not basic and not advanced:
        return not trail.get("HasCustomEventSelectors")
    if any(
        s.get("IncludeManagementEvents")
        and s.get("ReadWriteType") == "All"
        and not s.get("ExcludeManagementEventSources")
        for s in basic
    ):
        return True
    for selector in advanced:
        fields = {f.get("Field"): f for f in selector.get("FieldSelectors", [])}
        category = fields.get("eventCategory", {})
        if category.get("Equals") == ["Management"] and set(fields) == {"eventCategory"}:
            return True
    return False


#: What a selector appended for CIS 2.1 says: all management events, no data events.
MANAGEMENT_SELECTOR = {"ReadWriteType": "All", "IncludeManagementEvents": True, "DataResources": []}


def compliant(found: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next(
        (
            t
            for t in found
            if t.get("IsMultiRegionTrail") and t["IsLogging"] and t["ManagementEvents"]
        ),
        None,
    )


def label(trail: Mapping[str, Any]) -> str:
    kind = "multi-region" if trail.get("IsMultiRegionTrail") else "single-region"
    state = "logging" if trail.get("IsLogging") else "not logging"
    events = "" if trail.get("ManagementEvents", True) else ", not all management events"
    return f"{trail.get('Name')} ({kind}, {state}{events}, home {home_region(trail)})"


async def check(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    async with ctx.aws.client("cloudtrail") as ct:
        found = await trails(ct)
    good = compliant(found)
    if good is not None:
        return CheckResult.compliant(f"trail {label(good)} covers every region")
    if not found:
        return CheckResult.violating(
            f"no CloudTrail trail is visible from {ctx.aws.region}", trails=found
        )
    return CheckResult.violating(
        "no multi-region trail logs all management events: " + ", ".join(label(t) for t in found),
        trails=found,
    )


def choose(found: list[dict[str, Any]], options: Options, region: str) -> dict[str, Any] | None:
    """The existing trail to fix (None: there is none to fix; refuse when ambiguous)."""
    if options.trail_name:
        named = [t for t in found if t.get("Name") == options.trail_name]
        if not named:
            raise RemediationRefused(
                f"no trail named {options.trail_name} is visible from {region} "
                f'(trail_name under [remediation."{ID}"])'
            )
        chosen = named[0]
    else:
        multi = [t for t in found if t.get("IsMultiRegionTrail")]
        local = [t for t in found if home_region(t) == region]
        if multi:
            chosen = multi[0]
        elif len(local) == 1:
            chosen = local[0]
        elif local:
            raise RemediationRefused(
                f"{len(local)} trails in {region} ({', '.join(str(t['Name']) for t in local)}): "
                f'set trail_name under [remediation."{ID}"] to the one to make multi-region'
            )
        else:
            return None
    if home_region(chosen) != region:
        raise RemediationRefused(
            f"trail {chosen['Name']} lives in {home_region(chosen)}; CloudTrail changes a trail "
            f"only in its home region, and this action runs in {region}"
        )
    return chosen


async def plan(ctx: RemediationContext[Any], violation: Violation) -> Plan:
    options: Options = ctx.options
    region = ctx.aws.region

    async def live() -> list[dict[str, Any]]:
        async with ctx.aws.client("cloudtrail") as ct:
            return await trails(ct)

    # check read the trails, their status and selectors in this run: not again (apply
    # re-reads before writing)
    found: list[dict[str, Any]] = await ctx.checked_or_read("trails", live)
    good = compliant(found)
    if good is not None:
        return Plan(f"trail {label(good)} covers every region")
    chosen = choose(found, options, region)
    if chosen is not None:
        return _plan_existing(chosen)
    return await _plan_create(ctx, violation, region)


def _plan_existing(trail: Mapping[str, Any]) -> Plan:
    arn = str(trail["TrailARN"])
    changes = []
    steps = []
    if not trail.get("IsMultiRegionTrail"):
        changes.append(
            Change(
                "update_trail",
                arn,
                {
                    "IsMultiRegionTrail": False,
                    "IncludeGlobalServiceEvents": bool(trail.get("IncludeGlobalServiceEvents")),
                },
                {"IsMultiRegionTrail": True, "IncludeGlobalServiceEvents": True},
            )
        )
        steps.append("make it multi-region (with global service events)")
    if not trail["ManagementEvents"]:
        selectors = selectors_with_management(trail)
        changes.append(Change("put_event_selectors", arn, trail["EventSelectors"], selectors))
        steps.append("log all management events (one event selector added, the others kept)")
    if not trail.get("IsLogging"):
        changes.append(Change("start_logging", arn, {"IsLogging": False}, {"IsLogging": True}))
        steps.append("start logging")
    return Plan(
        summary=f"trail {trail['Name']}: " + " and ".join(steps),
        changes=changes,
        data={"TrailARN": arn},
        notes=[
            "undo restores the recorded multi-region, global-events, event-selector and "
            "logging state"
        ],
    )


def selectors_with_management(trail: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The trail's basic event selectors plus one for all management events; refuse
    where that cannot be done without rewriting the operator's selectors."""
    if trail["AdvancedEventSelectors"]:
        raise RemediationRefused(
            f"trail {trail['Name']} uses advanced event selectors that do not log every "
            "management event: add an advanced selector with only eventCategory = "
            "Management by hand"
        )
    selectors = list(trail["EventSelectors"])
    if len(selectors) >= 5:
        raise RemediationRefused(
            f"trail {trail['Name']} has 5 event selectors (the maximum) and none logs all "
            "management events: change one by hand"
        )
    return [*selectors, dict(MANAGEMENT_SELECTOR)]


async def _plan_create(ctx: RemediationContext[Any], violation: Violation, region: str) -> Plan:
    options: Options = ctx.options
    if not options.create_trail:
        raise refuse_without(
            "create_trail = true and bucket_name",
            ID,
            f"no CloudTrail trail in account {violation.account_id} (seen from {region})",
        )
    if options.bucket_name is None:
        raise refuse_without("bucket_name", ID, "no bucket configured for the new trail")
    bucket = fill(options.bucket_name, violation, region)
    name = options.new_trail_name
    arn = f"arn:{violation.arn.partition}:cloudtrail:{region}:{violation.account_id}:trail/{name}"
    async with ctx.aws.client("s3") as s3:
        text = await read_bucket_policy(s3, bucket, violation.account_id)
    new_policy = policy_with_cloudtrail(text, violation, bucket, arn)
    request = {
        "Name": name,
        "S3BucketName": bucket,
        "IsMultiRegionTrail": True,
        "IncludeGlobalServiceEvents": True,
        "EnableLogFileValidation": True,
        "TagsList": [TAG],
    }
    changes = []
    summary = f"create multi-region trail {name} to bucket {bucket} and start logging"
    if new_policy is not None:
        changes.append(
            Change(
                "put_bucket_policy",
                f"arn:{violation.arn.partition}:s3:::{bucket}",
                text,
                json.loads(new_policy),
            )
        )
        summary += "; let cloudtrail.amazonaws.com write to the bucket (2 policy statements added)"
    changes += [
        Change("create_trail", arn, None, request),
        Change("start_logging", arn, None, {"IsLogging": True}),
    ]
    return Plan(
        summary=summary,
        changes=changes,
        data={"Create": request, "TrailARN": arn, "Bucket": bucket},
        notes=[
            "undo deletes the created trail and restores the bucket policy; delivered log "
            "files stay in the bucket",
            "CloudTrail charges apply beyond the first copy of management events",
        ],
    )


async def apply(ctx: RemediationContext[Any], plan: Plan) -> Mapping[str, Any]:
    if "Create" in plan.data:
        return await _apply_create(ctx, plan)
    arn = str(plan.data["TrailARN"])
    async with ctx.aws.client("cloudtrail") as ct:
        found = await trails(ct)  # re-read right before writing
        if compliant(found) is not None:
            return {"TrailARN": arn, "Unchanged": True}
        trail = next((t for t in found if t["TrailARN"] == arn), None)
        if trail is None:
            raise RemediationRefused(f"trail {arn} no longer exists")
        before = {
            "TrailARN": arn,
            "IsMultiRegionTrail": bool(trail.get("IsMultiRegionTrail")),
            "IncludeGlobalServiceEvents": bool(trail.get("IncludeGlobalServiceEvents")),
            "IsLogging": bool(trail["IsLogging"]),
            "EventSelectors": trail["EventSelectors"],
        }
        selectors = (
            trail["EventSelectors"]
            if trail["ManagementEvents"]
            else selectors_with_management(trail)
        )
        await ctx.record_before(before)
        if not before["IsMultiRegionTrail"]:
            await ct.update_trail(
                Name=arn, IsMultiRegionTrail=True, IncludeGlobalServiceEvents=True
            )
        if not trail["ManagementEvents"]:
            await ct.put_event_selectors(TrailName=arn, EventSelectors=selectors)
        if not before["IsLogging"]:
            await ct.start_logging(Name=arn)
    return {
        "TrailARN": arn,
        "IsMultiRegionTrail": True,
        "IncludeGlobalServiceEvents": True,
        "IsLogging": True,
        "EventSelectors": selectors,
    }


async def _apply_create(ctx: RemediationContext[Any], plan: Plan) -> Mapping[str, Any]:
    violation = ctx.violation
    request = dict(plan.data["Create"])
    arn, bucket = str(plan.data["TrailARN"]), str(plan.data["Bucket"])
    async with ctx.aws.client("cloudtrail") as ct, ctx.aws.client("s3") as s3:
        if compliant(await trails(ct)) is not None:  # re-read right before writing
            return {"TrailARN": None, "Unchanged": True}
        # The bucket policy's read-modify-write holds lw-map-s3's per-bucket lock, as every
        # other writer of it does: a concurrent S3 remediation cannot lose this edit or ours.
        async with bucket_lock(_bucket(violation, bucket)):
            text = await read_bucket_policy(s3, bucket, violation.account_id)
            await ctx.record_before({"Created": None, "Bucket": bucket, "BucketPolicy": text})
            new_policy = policy_with_cloudtrail(text, violation, bucket, arn)
            if new_policy is not None:
                await s3.put_bucket_policy(
                    Bucket=bucket, Policy=new_policy, ExpectedBucketOwner=violation.account_id
                )
        try:
            created = await ct.create_trail(**request)
        except ClientError as exc:
            if error_code(exc) in {
                "InsufficientS3BucketPolicyException",
                "S3BucketDoesNotExistException",
            }:
                raise RemediationRefused(
                    f"CloudTrail refused bucket {bucket}: {error_message(exc)}"
                ) from exc
            raise
        await ct.start_logging(Name=created["TrailARN"])
    return {
        "TrailARN": created["TrailARN"],
        "Created": True,
        "Bucket": bucket,
        "BucketPolicy": new_policy if new_policy is not None else text,
        "IsLogging": True,
    }


async def verify(ctx: RemediationContext[Any], violation: Violation) -> VerifyResult:
    async with ctx.aws.client("cloudtrail") as ct:
        found = await trails(ct)
    good = compliant(found)
    if good is None:
        return VerifyResult.failed("still no multi-region trail logs all management events")
    return VerifyResult.verified(f"trail {label(good)} covers every region")


async def revert(ctx: RemediationContext[Any], record: ActionRecord) -> str:
    before = dict(record.before_image or {})
    after = dict(record.after_image or {})
    if after.get("Unchanged"):
        return "the remediation changed nothing; nothing to undo"
    if after.get("Created"):
        return await _revert_create(ctx, record.violation, before, after)
    arn = str(after["TrailARN"])
    async with ctx.aws.client("cloudtrail") as ct:
        trail = next((t for t in await trails(ct) if t["TrailARN"] == arn), None)
        if trail is None:
            raise ResourceChanged(f"trail {arn} no longer exists; not reverting")
        live = {
            "IsMultiRegionTrail": bool(trail.get("IsMultiRegionTrail")),
            "IncludeGlobalServiceEvents": bool(trail.get("IncludeGlobalServiceEvents")),
            "IsLogging": bool(trail["IsLogging"]),
            "EventSelectors": trail["EventSelectors"],
        }
        if any(live[k] != after[k] for k in live):
            raise ResourceChanged(
                f"trail {trail['Name']} changed since the remediation; not reverting"
            )
        if not before["IsLogging"]:
            await ct.stop_logging(Name=arn)
        if before["EventSelectors"] != after["EventSelectors"]:
            await ct.put_event_selectors(TrailName=arn, EventSelectors=before["EventSelectors"])
        if not before["IsMultiRegionTrail"]:
            await ct.update_trail(
                Name=arn,
                IsMultiRegionTrail=False,
                IncludeGlobalServiceEvents=before["IncludeGlobalServiceEvents"],
            )
    return f"trail {trail['Name']} is back to {label({**trail, **before})}"


async def _revert_create(
    ctx: RemediationContext[Any],
    violation: Violation,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
) -> str:
    arn, bucket = str(after["TrailARN"]), str(after["Bucket"])
    async with (
        bucket_lock(_bucket(violation, bucket)),
        ctx.aws.client("cloudtrail") as ct,
        ctx.aws.client("s3") as s3,
    ):
        live_policy = await read_bucket_policy(s3, bucket, violation.account_id)
        restore_policy = before.get("BucketPolicy") != after.get("BucketPolicy")
        if restore_policy and live_policy != after.get("BucketPolicy"):
            raise ResourceChanged(
                f"the policy of bucket {bucket} changed since the remediation; not reverting"
            )
        try:
            # By name, in the home region it was created in (moto ignores DeleteTrail by ARN).
            await ct.delete_trail(Name=trail_name(arn))
        except ClientError as exc:
            if error_code(exc) != TRAIL_NOT_FOUND:
                raise
        if restore_policy:
            if before.get("BucketPolicy") is None:
                await s3.delete_bucket_policy(
                    Bucket=bucket, ExpectedBucketOwner=violation.account_id
                )
            else:
                await s3.put_bucket_policy(
                    Bucket=bucket,
                    Policy=before["BucketPolicy"],
                    ExpectedBucketOwner=violation.account_id,
                )
    return f"deleted trail {arn}" + (
        f"; restored the policy of bucket {bucket}" if restore_policy else ""
    )


def _bucket(violation: Violation, bucket: str) -> Violation:
    """The bucket as lw-map-s3's lock names it (the account's bucket ``bucket``)."""
    return bucket_violation(violation, bucket, violation.rule_id)


def _bucket_resource(options: Options) -> list[str]:
    return [f"arn:{{partition}}:s3:::{options.bucket_name or '*'}"]


def option_policy(options: Options) -> IamPolicy:
    if not options.create_trail:
        return IamPolicy()
    return IamPolicy.allow(
        ["cloudtrail:CreateTrail", "cloudtrail:AddTags"], [TRAIL]
    ) + IamPolicy.allow(["s3:GetBucketPolicy", "s3:PutBucketPolicy"], _bucket_resource(options))


def revert_policy(options: Options) -> IamPolicy:
    policy = IamPolicy.allow(["cloudtrail:StopLogging"], [TRAIL])
    if options.create_trail:
        policy += IamPolicy.allow(["cloudtrail:DeleteTrail"], [TRAIL]) + IamPolicy.allow(
            ["s3:DeleteBucketPolicy"], _bucket_resource(options)
        )
    return policy


def _tagged_trail(params: Mapping[str, Any], where: Mapping[str, str]) -> str | None:
    """The new trail's ARN when ``CreateTrail`` carries tags (AWS then checks AddTags)."""
    if not params.get("TagsList") or not params.get("Name"):
        return None
    return f"arn:{where['partition']}:cloudtrail:{where['region']}:{where['account']}:trail/{params['Name']}"


#: ``CreateTrail`` with ``TagsList`` is authorised with cloudtrail:AddTags on the trail too.
TAGS_ON_CREATE = AwsCall(
    "cloudtrail", "CreateTrail", dependent=(("cloudtrail:AddTags", _tagged_trail),)
)

REMEDIATION = Remediation(
    id=ID,
    rules=("AWS_CIS_2_1",),
    aws_calls=(TAGS_ON_CREATE,),
    title="Turn an existing CloudTrail trail multi-region and logging (or create one)",
    description=(
        "Makes the region's trail multi-region and starts it; with no trail, creates one to "
        "the configured bucket only when create_trail is set."
    ),
    resource_type="aws:account",
    policy=IamPolicy.allow(["cloudtrail:DescribeTrails"], ANY)
    + IamPolicy.allow(
        [
            "cloudtrail:GetTrailStatus",
            "cloudtrail:GetEventSelectors",
            "cloudtrail:PutEventSelectors",
            "cloudtrail:UpdateTrail",
            "cloudtrail:StartLogging",
        ],
        [TRAIL],
    ),
    option_policy=option_policy,
    revert_policy=revert_policy,
    options=Options,
    check=check,
    plan=plan,
    apply=apply,
    verify=verify,
    revert=revert,
)
