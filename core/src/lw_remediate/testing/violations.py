"""Violation factories for tests."""

from __future__ import annotations

from ..model import Arn, Violation, target_arn
from ..rules import canonical_rule_id


def make_violation(
    rule_id: str,
    resource: str,
    *,
    account: str = "123456789012",
    region: str | None = "us-east-1",
    reason: str | None = None,
    alert_id: str | None = "1",
) -> Violation:
    """A violation of ``rule_id`` on ``resource``.

    ``resource`` may be an ARN, or a bare name: a bucket name for ``LW_S3_*`` rules,
    a user name for IAM rules; for account-level rules pass ``"root"`` (the account's
    target ARN), for region-level rules ``"region"`` (the target ARN of ``region`` in
    the account, as the core builds it from a report row that names only a region).
    """
    canonical = canonical_rule_id(rule_id)
    if resource.startswith("arn:"):
        arn = resource
    elif canonical.startswith("LW_S3_"):
        arn = f"arn:aws:s3:::{resource}"
    elif resource == "root":
        arn = target_arn(account)
    elif resource == "region":
        if not region:
            raise ValueError("a region-level violation needs a region")
        arn = target_arn(account, region)
    else:
        arn = f"arn:aws:iam::{account}:user/{resource}"
    parsed = Arn.parse(arn)
    return Violation(
        rule_id=canonical,
        resource_arn=arn,
        account_id=parsed.account or account,
        region=region,
        reason=reason,
        resource_type=f"{parsed.service}:bucket" if parsed.service == "s3" else None,
        source_rule_id=rule_id,
        alert_id=alert_id,
    )
