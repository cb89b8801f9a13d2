"""AWS_CIS_2_3 and AWS_CIS_2_6: the CloudTrail bucket is not public and logs its access.

Both run lw-map-s3's remediations (the same surgical logic, not a copy) on the bucket the
violation names, or the bucket of the trail it names (read live from ``GetTrail``):

- 2.3: every ACL grant to AllUsers or AuthenticatedUsers is removed (lw-map-s3's
  ``s3.remove_public_acl_grants`` with ``acl_scope = "group"``, once per group), and every
  unconditioned public Allow statement of the bucket policy
  (``s3.remove_public_policy_statements``). Owner, LogDelivery, CloudTrail and named-account
  grants and statements stay.
- 2.6: server access logging to the configured target (``s3.enable_access_logging``);
  refused without ``target_bucket``; the trail bucket itself is never its own target.

Undo is lw-map-s3's undo of each part, newest first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import pydantic

from lw_map_s3.remediations import access_logging, public_acl, public_policy
from lw_remediate import Plan, Remediation, RemediationContext, RemediationOptions, Violation

from .._aws import refuse_without
from .._bucket import Part, TrailBucket

LOGGING_ID = "logging.enable_trail_bucket_logging"


class PublicOptions(RemediationOptions):
    """As lw-map-s3's public ACL / policy options."""

    #: Also turn on BlockPublicAcls and IgnorePublicAcls on the bucket.
    apply_public_access_block: bool = False
    #: ``ignore``: any condition makes a public statement acceptable;
    #: ``public_unless_restrictive``: only a network/account/organisation/ARN condition does.
    conditioned_statements: Literal["ignore", "public_unless_restrictive"] = "ignore"


def _acl(options: Any, *, block: bool) -> Mapping[str, Any]:
    return {
        "acl_scope": "group",
        "apply_public_access_block": block and options.apply_public_access_block,
    }


NOT_PUBLIC = TrailBucket(
    [
        Part("AllUsers", public_acl.REMEDIATION, "LW_S3_5", lambda o: _acl(o, block=True)),
        Part(
            "AuthenticatedUsers",
            public_acl.REMEDIATION,
            "LW_S3_10",
            lambda o: _acl(o, block=False),
        ),
        Part(
            "Policy",
            public_policy.REMEDIATION,
            "LW_S3_11",
            lambda o: {"conditioned_statements": o.conditioned_statements},
        ),
    ]
)


class LoggingOptions(RemediationOptions):
    """As lw-map-s3's ``s3.enable_access_logging``: no default target."""

    #: Log bucket, e.g. ``"s3-access-logs-{account}-{region}"`` (same account and region).
    target_bucket: str | None = None
    #: Key prefix, e.g. ``"{account}/{region}/{bucket}/"``.
    target_prefix: str = "{bucket}/"
    #: Also correct logging that is on but goes elsewhere.
    enforce_target: bool = False

    @pydantic.model_validator(mode="after")
    def _valid_for_s3(self) -> LoggingOptions:
        access_logging.REMEDIATION.parse_options(self.model_dump())
        return self


ACCESS_LOGGING = TrailBucket(
    [Part("Logging", access_logging.REMEDIATION, "LW_S3_13", lambda o: o.model_dump())]
)


async def plan_logging(ctx: RemediationContext[Any], violation: Violation) -> Plan:
    if ctx.options.target_bucket is None:
        raise refuse_without(
            "target_bucket", LOGGING_ID, "no access-log target for the CloudTrail bucket"
        )
    return await ACCESS_LOGGING.plan(ctx, violation)


REMEDIATION_PUBLIC = Remediation(
    id="logging.restrict_trail_bucket",
    rules=("AWS_CIS_2_3",),
    title="Remove public access to the CloudTrail bucket",
    description=(
        "lw-map-s3's public-ACL and public-policy remediations on the trail's bucket: grants "
        "to AllUsers/AuthenticatedUsers and unconditioned public Allow statements go."
    ),
    resource_type="s3:bucket",
    policy=NOT_PUBLIC.policy(),
    option_policy=NOT_PUBLIC.option_policy,
    revert_policy=NOT_PUBLIC.revert_policy,
    options=PublicOptions,
    check=NOT_PUBLIC.check,
    plan=NOT_PUBLIC.plan,
    apply=NOT_PUBLIC.apply,
    verify=NOT_PUBLIC.verify,
    revert=NOT_PUBLIC.revert,
)

REMEDIATION_LOGGING = Remediation(
    id=LOGGING_ID,
    rules=("AWS_CIS_2_6",),
    title="Enable server access logging on the CloudTrail bucket",
    description=(
        "lw-map-s3's access-logging remediation on the trail's bucket, to the configured "
        "target; refused without one."
    ),
    resource_type="s3:bucket",
    policy=ACCESS_LOGGING.policy(),
    option_policy=ACCESS_LOGGING.option_policy,
    revert_policy=ACCESS_LOGGING.revert_policy,
    options=LoggingOptions,
    check=ACCESS_LOGGING.check,
    plan=plan_logging,
    apply=ACCESS_LOGGING.apply,
    verify=ACCESS_LOGGING.verify,
    revert=ACCESS_LOGGING.revert,
)

REMEDIATIONS = (REMEDIATION_PUBLIC, REMEDIATION_LOGGING)
