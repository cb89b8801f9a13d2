"""What a Lacework row names as its resource, turned into the target of a violation.

Real rows are not all ARNs of the account (reference/lacework-protocol.md section 2.4):

- account-level rules have no resource at all (``{"reasons": ["NoPolicy"]}``,
  AWS_CIS_1_5..1_11; ``NoTrail``, AWS_CIS_2_1): the account is the target;
- region-level rules carry only a region (``{"region": "eu-north-1", "reasons":
  ["NoRecorder"]}``, AWS_CIS_2_5): that region of the account is the target;
- LW_AWS_IAM_11 names the bare account id: the account is the target;
- AWS_CIS_1_22 names the AWS-managed ``arn:aws:iam::aws:policy/AWSSupportAccess``: kept
  as it is, acted on in the row's account;
- AWS_CIS_2_9 and LW_AWS_NETWORKING_46 name a bare ``vpc-…`` id (with a region): it
  becomes the standard ARN (``arn:aws:ec2:<region>:<account>:vpc/vpc-…``); so do other
  EC2 ids (``sg-``, ``acl-``, ``subnet-``, ``vol-``, ``snap-``, ``i-``, ...).

The account always comes from the row's context (the recommendation's or report's
account, the alert's ``account_id``, the rule's ``RecId`` row), or from the resource
itself when it names one; the two must agree. What cannot be resolved is dropped with
a reason (:class:`Unusable`), never guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from ..model import Arn, target_arn
from .fields import aws_account, parse_arn, scalar_text

#: Bare EC2 id prefix -> the resource type in its ARN. Snapshots and images are owned
#: by no account in their ARN (IAM's service authorization reference).
EC2_ID_TYPES: Final = {
    "vpc": "vpc",
    "sg": "security-group",
    "acl": "network-acl",
    "subnet": "subnet",
    "igw": "internet-gateway",
    "eni": "network-interface",
    "rtb": "route-table",
    "vpce": "vpc-endpoint",
    "pcx": "vpc-peering-connection",
    "nat": "natgateway",
    "eipalloc": "elastic-ip",
    "dopt": "dhcp-options",
    "tgw": "transit-gateway",
    "vol": "volume",
    "snap": "snapshot",
    "i": "instance",
    "ami": "image",
}
_NO_ACCOUNT_IN_ARN: Final = frozenset({"snapshot", "image"})
_EC2_ID_RE: Final = re.compile(
    r"("
    + "|".join(sorted(EC2_ID_TYPES, key=len, reverse=True))
    + r")-(?:[0-9a-f]{8}|[0-9a-f]{17})",
    re.ASCII,
)
_REGION_RE: Final = re.compile(r"[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}", re.ASCII)
#: Owners AWS itself uses in ARNs of resources it manages (``arn:aws:iam::aws:policy/…``).
_AWS_OWNED: Final = frozenset({"aws"})


class Unusable(ValueError):
    """The row's resource cannot become a target; the message is the drop reason."""


@dataclass(frozen=True)
class Target:
    """A resolved target: the ARN to act on, the account to act in, the region."""

    resource_arn: str
    account_id: str
    region: str | None


def partition_of(region: str | None, default: str = "aws") -> str:
    """The partition a region belongs to (``cn-north-1`` -> ``aws-cn``), else ``default``."""
    if not region:
        return default
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith("us-isob-"):
        return "aws-iso-b"
    if region.startswith("us-iso-"):
        return "aws-iso"
    return default


def region_text(value: Any) -> str | None:
    """An AWS region name (``eu-north-1``), or None for anything else."""
    text = scalar_text(value)
    return text if text is not None and _REGION_RE.fullmatch(text) else None


def resolve(
    resource: Any,
    *,
    account: str | None,
    region: str | None,
    default_account: str | None = None,
    partition: str = "aws",
) -> Target:
    """The target of a row naming ``resource`` in the context ``account`` and ``region``.

    :param resource: the row's resource as received (ARN, bare id, account id, or None).
    :param account: the 12-digit account of the row's context, if known; an account the
        resource names must agree with it.
    :param region: the row's region, if any (else the ARN's).
    :param default_account: the account when neither the context nor the resource names
        one (a report's ``accountId``, the rule's one ``RecId`` account).
    :param partition: used when the row gives none (no ARN, no region).
    :raises Unusable: with the reason, when the row cannot be acted on.
    """
    text = scalar_text(resource)
    context = account or default_account
    if text is None:
        if resource is not None and not isinstance(resource, str):
            raise Unusable("resource is not a string")
        if context is None:
            raise Unusable("no resource and no 12-digit account to act in")
        if region is not None:
            return Target(
                target_arn(context, region, partition=partition_of(region, partition)),
                context,
                region,
            )
        return Target(target_arn(context, partition=partition), context, None)

    named = aws_account(text)
    if named is not None:
        _agree(account, named)
        return Target(target_arn(named, partition=partition_of(region, partition)), named, region)

    if _EC2_ID_RE.fullmatch(text):
        kind = EC2_ID_TYPES[text.split("-", 1)[0]]
        if region is None:
            raise Unusable("bare EC2 id without a region")
        if context is None:
            raise Unusable("bare EC2 id without a 12-digit account")
        owner = "" if kind in _NO_ACCOUNT_IN_ARN else context
        ec2 = Arn(partition_of(region, partition), "ec2", region, owner, f"{kind}/{text}")
        return Target(str(ec2), context, region)

    arn = parse_arn(text)
    if arn is None:
        raise Unusable("resource is not an ARN, a 12-digit account id or a known bare id")
    if arn.account in _AWS_OWNED:
        # An AWS-managed resource (AWS_CIS_1_22's AWSSupportAccess policy): the rule is
        # about its use in the row's account.
        if context is None:
            raise Unusable("AWS-owned resource and no 12-digit account to act in")
        return Target(str(arn), context, region or arn.region or None)
    arn_account = aws_account(arn.account)
    if arn.account and arn_account is None:
        raise Unusable("ARN account is not a 12-digit AWS account id")
    if arn_account is not None:
        _agree(account, arn_account)
    resolved = account or arn_account or default_account
    if resolved is None:
        raise Unusable("ARN has no account and the row names none")
    return Target(str(arn), resolved, region or arn.region or None)


def _agree(context: str | None, named: str) -> None:
    if context is not None and context != named:
        raise Unusable("the resource names another account than the row")
