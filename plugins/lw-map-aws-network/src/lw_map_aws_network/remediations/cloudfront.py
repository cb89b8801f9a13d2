"""CloudFront distributions: LW_AWS_NETWORKING_50 (viewer HTTPS), 42 (origin TLS), 41
(origin HTTPS-only).

- 50: every cache behaviour (default and path patterns) whose viewer protocol policy is
  ``allow-all`` gets ``redirect-to-https`` (HTTP clients keep working). Auto.
- 42: every custom origin that offers SSLv3, TLSv1 or TLSv1.1 gets ``TLSv1.2`` only. Auto.
- 41: every custom origin reached over ``http-only`` or ``match-viewer`` gets
  ``https-only``. **Manual by default**: an origin that does not serve HTTPS (an S3
  website endpoint, say) stops working.

Each reads the whole distribution config with its ETag, changes only those fields, and
writes it back with ``IfMatch``; the before-image is the whole config and undo writes it
back (with the current ETag) unless the config changed since. Deployment to the edge is
asynchronous: verify reads the config, not the edge.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
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
    ResourceChanged,
    Violation,
    aws_error_code,
)

from .._ec2 import verify_by

DISTRIBUTION = "arn:{partition}:cloudfront::{account}:distribution/*"
WEAK_PROTOCOLS = frozenset({"SSLv3", "TLSv1", "TLSv1.1"})

#: One change: (what, path in the config, before, after).
Edit = tuple[str, str, Any, Any]
Fixer = Callable[[dict[str, Any], Any], list[Edit]]


class ViewerOptions(RemediationOptions):
    """The viewer protocol policy to set."""

    #: ``redirect-to-https`` (HTTP clients are redirected) or ``https-only`` (refused).
    viewer_protocol_policy: Literal["redirect-to-https", "https-only"] = "redirect-to-https"


class OriginHttpsOptions(RemediationOptions):
    """The switch from runbook to change."""

    #: Set origins to https-only (default: end ``manual`` with the runbook).
    enforce: bool = False


def _behaviours(config: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = [("DefaultCacheBehavior", config.get("DefaultCacheBehavior") or {})]
    for behaviour in (config.get("CacheBehaviors") or {}).get("Items") or []:
        found.append((f"CacheBehavior {behaviour.get('PathPattern')}", behaviour))
    return found


def _custom_origins(config: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"origin {o.get('Id')}", o["CustomOriginConfig"])
        for o in (config.get("Origins") or {}).get("Items") or []
        if o.get("CustomOriginConfig")
    ]


def fix_viewer(config: dict[str, Any], options: Any) -> list[Edit]:
    edits = []
    for where, behaviour in _behaviours(config):
        if behaviour.get("ViewerProtocolPolicy") == "allow-all":
            behaviour["ViewerProtocolPolicy"] = options.viewer_protocol_policy
            edits.append(
                ("viewer protocol policy", where, "allow-all", options.viewer_protocol_policy)
            )
    return edits


def fix_origin_tls(config: dict[str, Any], options: Any) -> list[Edit]:
    edits = []
    for where, origin in _custom_origins(config):
        protocols = list((origin.get("OriginSslProtocols") or {}).get("Items") or [])
        if set(protocols) & WEAK_PROTOCOLS:
            origin["OriginSslProtocols"] = {"Quantity": 1, "Items": ["TLSv1.2"]}
            edits.append(("origin SSL protocols", where, protocols, ["TLSv1.2"]))
    return edits


def fix_origin_https(config: dict[str, Any], options: Any) -> list[Edit]:
    edits = []
    for where, origin in _custom_origins(config):
        policy = origin.get("OriginProtocolPolicy")
        if policy in {"http-only", "match-viewer"}:
            origin["OriginProtocolPolicy"] = "https-only"
            edits.append(("origin protocol policy", where, policy, "https-only"))
    return edits


def _distribution_id(violation: Violation) -> str:
    arn = violation.arn
    if arn.service != "cloudfront" or not arn.resource.startswith("distribution/"):
        raise RemediationError(
            f"{violation.rule_id}: not a CloudFront distribution ARN: {violation.resource_arn!r}"
        )
    return arn.resource_name


async def read_config(ctx: RemediationContext[Any], dist: str) -> tuple[dict[str, Any], str] | None:
    async with ctx.aws.client("cloudfront") as cloudfront:
        try:
            response = await cloudfront.get_distribution_config(Id=dist)
        except ClientError as exc:
            if aws_error_code(exc) == "NoSuchDistribution":
                return None
            raise
    return dict(response["DistributionConfig"]), str(response.get("ETag", ""))


def _text(edits: list[Edit]) -> str:
    return "; ".join(f"{where} {what} {before} -> {after}" for what, where, before, after in edits)


def _json(value: Any) -> Any:
    """The config as JSON (datetimes and the like as text) for images and comparisons."""
    return json.loads(json.dumps(value, default=str))


class Lifecycle:
    """check/plan/apply/verify/revert around one fixer."""

    def __init__(self, fixer: Fixer, about: str) -> None:
        self.fixer = fixer
        self.about = about
        self.verify = verify_by(self.check)

    async def check(self, ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
        dist = _distribution_id(violation)
        read = await read_config(ctx, dist)
        if read is None:
            return CheckResult.compliant(f"distribution {dist} no longer exists")
        edits = self.fixer(copy.deepcopy(read[0]), ctx.options)
        if not edits:
            return CheckResult.compliant(f"distribution {dist}: {self.about} already set")
        # only the fields to change (never the rest of the config: origin custom headers
        # often carry a shared secret)
        return CheckResult.violating(
            f"distribution {dist}: " + _text(edits), edits=[list(e) for e in edits]
        )

    async def plan(self, ctx: RemediationContext[Any], violation: Violation) -> Plan:
        dist = _distribution_id(violation)

        async def live() -> list[Edit] | None:
            read = await read_config(ctx, dist)
            return None if read is None else self.fixer(copy.deepcopy(read[0]), ctx.options)

        # check worked out the edits from the config it read in this run: no second
        # GetDistributionConfig (apply re-reads the config, and its ETag, before writing)
        found: list[Any] | None = await ctx.checked_or_read("edits", live)
        if found is None:
            return Plan(f"distribution {dist} no longer exists")
        edits = [(str(e[0]), str(e[1]), e[2], e[3]) for e in found]
        return Plan(
            summary=f"update distribution {dist}: " + _text(edits) if edits else "nothing to do",
            changes=[
                Change(f"set {what}", f"{violation.resource_arn} {where}", before, after)
                for what, where, before, after in edits
            ],
            notes=[
                "CloudFront deploys the change to its edge locations over several minutes",
                "undo writes the recorded distribution config back",
            ],
        )

    async def apply(self, ctx: RemediationContext[Any], plan: Plan) -> Mapping[str, Any]:
        dist = _distribution_id(ctx.violation)
        read = await read_config(ctx, dist)  # re-read right before writing
        if read is None:
            raise RemediationError(f"distribution {dist} no longer exists")
        config, etag = read
        updated = copy.deepcopy(config)
        if not self.fixer(updated, ctx.options):
            return {"Id": dist, "DistributionConfig": _json(config)}
        await ctx.record_before({"Id": dist, "DistributionConfig": _json(config)})
        async with ctx.aws.client("cloudfront") as cloudfront:
            await cloudfront.update_distribution(Id=dist, IfMatch=etag, DistributionConfig=updated)
        after = await read_config(ctx, dist)
        return {"Id": dist, "DistributionConfig": _json(after[0] if after else updated)}

    async def revert(self, ctx: RemediationContext[Any], record: ActionRecord) -> str:
        before = record.before_image or {}
        after = record.after_image or {}
        dist = str(before["Id"])
        read = await read_config(ctx, dist)
        if read is None or _json(read[0]) != after.get("DistributionConfig"):
            raise ResourceChanged(
                f"the config of distribution {dist} changed since the remediation; not reverting"
            )
        async with ctx.aws.client("cloudfront") as cloudfront:
            await cloudfront.update_distribution(
                Id=dist, IfMatch=read[1], DistributionConfig=before["DistributionConfig"]
            )
        return f"restored the recorded config of distribution {dist}"


POLICY = IamPolicy.allow(
    ["cloudfront:GetDistributionConfig", "cloudfront:UpdateDistribution"], [DISTRIBUTION]
)


def _remediation(
    rule: str, verb_object: str, title: str, fixer: Fixer, about: str, options: type, **extra: Any
) -> Remediation:
    life = Lifecycle(fixer, about)
    return Remediation(
        id=f"network.{verb_object}",
        rules=(rule,),
        title=title,
        resource_type="cloudfront:distribution",
        policy=POLICY,
        options=options,
        check=life.check,
        plan=life.plan,
        apply=life.apply,
        verify=life.verify,
        revert=life.revert,
        **extra,
    )


VIEWER_HTTPS = _remediation(
    "LW_AWS_NETWORKING_50",
    "require_cloudfront_viewer_https",
    "CloudFront: redirect viewers to HTTPS on every cache behaviour",
    fix_viewer,
    "no cache behaviour allows plain HTTP",
    ViewerOptions,
    description="Every allow-all viewer protocol policy becomes redirect-to-https (option).",
)
ORIGIN_TLS = _remediation(
    "LW_AWS_NETWORKING_42",
    "restrict_cloudfront_origin_tls",
    "CloudFront: custom origins use TLSv1.2 only",
    fix_origin_tls,
    "no custom origin offers SSLv3, TLSv1 or TLSv1.1",
    RemediationOptions,
    description="OriginSslProtocols of every custom origin offering SSLv3/TLSv1/TLSv1.1 -> TLSv1.2.",
)
ORIGIN_HTTPS = _remediation(
    "LW_AWS_NETWORKING_41",
    "require_cloudfront_origin_https",
    "CloudFront: custom origins are reached over HTTPS only",
    fix_origin_https,
    "every custom origin is https-only",
    OriginHttpsOptions,
    description=(
        "Manual by default (an HTTP-only origin breaks). With enforce: http-only and "
        "match-viewer origins become https-only."
    ),
    manual_when=lambda options: not options.enforce,
    runbook="""\
CloudFront distribution {resource_name} (account {account}) reaches a custom origin over HTTP
({rule_id}). Switching to https-only breaks an origin that does not serve HTTPS with a
certificate matching its domain (S3 website endpoints are HTTP-only).
1. aws cloudfront get-distribution-config --id {resource_name} > dist.json
2. For each origin with CustomOriginConfig.OriginProtocolPolicy http-only or match-viewer,
   check the origin answers HTTPS: curl -sI https://<origin domain>/
3. Set OriginProtocolPolicy to https-only (and OriginSslProtocols to TLSv1.2) in the
   DistributionConfig, then: aws cloudfront update-distribution --id {resource_name} \\
     --if-match <ETag> --distribution-config file://config.json
4. Or set enforce = true under [remediation."network.require_cloudfront_origin_https"].""",
)

REMEDIATIONS: tuple[Remediation, ...] = (VIEWER_HTTPS, ORIGIN_TLS, ORIGIN_HTTPS)
