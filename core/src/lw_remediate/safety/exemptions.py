"""Exemptions: which violations are left alone on purpose, by whom, why, until when.

An exemption matches by resource ARN pattern, account, rule, remediation id and a
resource tag; every criterion it gives must match. Tags are read live from the
resource (``s3:GetBucketTagging``, ``iam:ListUserTags``, ``iam:ListRoleTags``), so
tagging a resource exempts it at once. Expired exemptions no longer match.
"""

from __future__ import annotations

import datetime
import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from ..config import Config, ExemptionConfig
from ..model import Arn, Violation
from ..policy import IamPolicy
from ..remediation import AwsClientFactory
from ..rules import canonical_rule_id

#: Resource kinds whose tags can be read (and written, for exemption tagging).
TAGGABLE = ("s3:bucket", "iam:user", "iam:role")


@dataclass(frozen=True)
class Exemption:
    """An exemption from the configuration (``source="config"``) or the store."""

    id: str
    source: str  # config | store
    spec: ExemptionConfig
    created_at: float | None = None
    created_by: str | None = None

    @property
    def expires_at(self) -> float | None:
        return self.spec.expires.timestamp() if self.spec.expires else None

    def expired(self, now: float) -> bool:
        expires = self.expires_at
        return expires is not None and expires <= now

    def matches_without_tag(self, violation: Violation, remediation_id: str) -> bool:
        """Every criterion except the tag (which needs a live read) matches."""
        spec = self.spec
        if spec.arn and not fnmatch.fnmatchcase(violation.resource_arn, spec.arn):
            return False
        if spec.account and spec.account != violation.account_id:
            return False
        if spec.rule and canonical_rule_id(spec.rule) not in {
            violation.rule_id,
            canonical_rule_id(violation.source_rule_id or violation.rule_id),
        }:
            return False
        return not (spec.remediation and spec.remediation != remediation_id)

    def tag_matches(self, tags: Mapping[str, str]) -> bool:
        tag = self.spec.tag
        if tag is None:
            return True
        if tag.key not in tags:
            return False
        return tag.value is None or tags[tag.key] == tag.value

    def criteria(self) -> str:
        spec = self.spec
        parts = []
        if spec.arn:
            parts.append(f"arn {spec.arn}")
        if spec.account:
            parts.append(f"account {spec.account}")
        if spec.rule:
            parts.append(f"rule {spec.rule}")
        if spec.remediation:
            parts.append(f"remediation {spec.remediation}")
        if spec.tag:
            value = "*" if spec.tag.value is None else spec.tag.value
            parts.append(f"tag {spec.tag.key}={value}")
        return ", ".join(parts)

    def describe(self) -> str:
        expiry = f", expires {iso_time(self.expires_at)}" if self.expires_at is not None else ""
        return f"exemption {self.id} ({self.criteria()}; owner {self.spec.owner}{expiry}): {self.spec.reason}"

    def to_dict(self, now: float) -> dict[str, Any]:
        spec = self.spec.model_dump(mode="json", exclude_none=True)
        spec["id"] = self.id
        return {
            **spec,
            "source": self.source,
            "expired": self.expired(now),
            "created_at": self.created_at,
            "created_by": self.created_by,
        }


def iso_time(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def config_exemptions(specs: list[ExemptionConfig]) -> list[Exemption]:
    """Exemptions from ``[[exemptions]]``: ids as given, else ``config-<n>`` (1-based)."""
    return [Exemption(spec.id or f"config-{i}", "config", spec) for i, spec in enumerate(specs, 1)]


# -- resource tags ------------------------------------------------------------------------


def tag_target(violation: Violation) -> tuple[str, str] | None:
    """``(kind, name)`` of a taggable resource, or None (account-level, unknown types)."""
    try:
        arn = Arn.parse(violation.resource_arn)
    except ValueError:
        return None
    kind = violation.resource_type
    if kind is None:
        if arn.service == "s3" and "/" not in arn.resource and arn.resource:
            kind = "s3:bucket"
        elif arn.service == "iam" and arn.resource.startswith("user/"):
            kind = "iam:user"
        elif arn.service == "iam" and arn.resource.startswith("role/"):
            kind = "iam:role"
    if kind not in TAGGABLE:
        return None
    return kind, arn.resource_name


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


async def read_tags(aws: AwsClientFactory, violation: Violation) -> dict[str, str] | None:
    """The resource's tags (empty when it has none or is gone); None when not taggable."""
    target = tag_target(violation)
    if target is None:
        return None
    kind, name = target
    if kind == "s3:bucket":
        async with aws.client("s3") as s3:
            try:
                response = await s3.get_bucket_tagging(
                    Bucket=name, ExpectedBucketOwner=violation.account_id
                )
            except ClientError as exc:
                if _code(exc) in {"NoSuchTagSet", "NoSuchBucket"}:
                    return {}
                raise
        return {t["Key"]: t["Value"] for t in response.get("TagSet", [])}
    async with aws.client("iam") as iam:
        try:
            if kind == "iam:user":
                response = await iam.list_user_tags(UserName=name)
            else:
                response = await iam.list_role_tags(RoleName=name)
        except ClientError as exc:
            if _code(exc) == "NoSuchEntity":
                return {}
            raise
    return {t["Key"]: t["Value"] for t in response.get("Tags", [])}


async def write_tag(aws: AwsClientFactory, violation: Violation, key: str, value: str) -> bool:
    """Tag the resource ``key=value`` (other tags kept); False when it already is."""
    target = tag_target(violation)
    if target is None:
        raise ValueError(f"{violation.resource_arn} cannot be tagged by lw-remediate")
    kind, name = target
    current = await read_tags(aws, violation) or {}
    if current.get(key) == value:
        return False
    if kind == "s3:bucket":
        tags = {**current, key: value}  # PutBucketTagging replaces the whole set
        async with aws.client("s3") as s3:
            await s3.put_bucket_tagging(
                Bucket=name,
                ExpectedBucketOwner=violation.account_id,
                Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]},
            )
        return True
    async with aws.client("iam") as iam:
        tag = [{"Key": key, "Value": value}]
        if kind == "iam:user":
            await iam.tag_user(UserName=name, Tags=tag)
        else:
            await iam.tag_role(RoleName=name, Tags=tag)
    return True


def exemption_policy(*, read: bool, write: bool) -> IamPolicy:
    """What the core itself needs for tag exemptions (``read``) and exemption tagging."""
    policy = IamPolicy()
    if read or write:
        policy = (
            policy
            + IamPolicy.allow(["s3:GetBucketTagging"], ["arn:{partition}:s3:::*"])
            + IamPolicy.allow(
                ["iam:ListUserTags", "iam:ListRoleTags"],
                ["arn:{partition}:iam::{account}:user/*", "arn:{partition}:iam::{account}:role/*"],
            )
        )
    if write:
        policy = (
            policy
            + IamPolicy.allow(["s3:PutBucketTagging"], ["arn:{partition}:s3:::*"])
            + IamPolicy.allow(
                ["iam:TagUser", "iam:TagRole"],
                ["arn:{partition}:iam::{account}:user/*", "arn:{partition}:iam::{account}:role/*"],
            )
        )
    return policy


def core_policy(config: Config, exemptions: list[Exemption]) -> IamPolicy:
    """What the core needs besides the remediations: tag reads when a tag exemption
    exists, tag writes when exempted resources are tagged. Empty when neither."""
    read = any(ex.spec.tag is not None for ex in exemptions)
    return exemption_policy(read=read, write=bool(config.safety.tag_exempted_resources))
