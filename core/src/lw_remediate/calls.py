"""What a map declares about the AWS calls it makes, where the core's call table falls short.

The core records every AWS call a remediation makes with the IAM action that
authorises it and the resource ARN AWS checks (the audit trail and the kit's
least-privilege proof rely on it). That table is generated from botocore's models and
the IAM Service Authorization Reference; an :class:`AwsCall` in a remediation's
``aws_calls`` states what the data cannot know, e.g. which resource an ``ec2:CreateTags``
call on ``Resources=[group_id]`` is authorised on.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import RemediationDeclarationError

#: ``resource(params, where)``: the ARN from the request parameters; ``where`` holds
#: ``account``, ``region`` and ``partition`` of the client. Return None to fall back to
#: the core's table.
ResourceFn = Callable[[Mapping[str, Any], Mapping[str, str]], str | None]

_WHERE = frozenset({"account", "region", "partition"})


@dataclass(frozen=True)
class AwsCall:
    """The IAM action and/or resource of one AWS API operation, declared by a map.

    :param service: the boto3 service name (``"ec2"``).
    :param operation: the API operation as botocore names it (``"CreateTags"``).
    :param action: the IAM action (``"ec2:CreateTags"``); default: the core's table.
    :param resource: the ARN AWS authorises the call on, as a template of the request's
        parameters (``"arn:{partition}:ec2:{region}:{account}:security-group/{Resources[0]}"``;
        ``{account}``, ``{region}``, ``{partition}`` are the client's) or a function
        ``(params, where) -> str``. When a parameter the template names is missing, the
        core's table decides. Default: the core's table.
    """

    service: str
    operation: str
    action: str | None = None
    resource: str | ResourceFn | None = None

    def __post_init__(self) -> None:
        if not self.service or not self.operation[:1].isupper():
            raise RemediationDeclarationError(
                f"AwsCall({self.service!r}, {self.operation!r}): name the boto3 service and "
                "the API operation as botocore spells it (e.g. 'ec2', 'CreateTags')"
            )
        if self.action is not None and ":" not in self.action:
            raise RemediationDeclarationError(
                f"AwsCall {self.service}.{self.operation}: action {self.action!r} is not "
                "'<prefix>:<Action>'"
            )
        if self.action is None and self.resource is None:
            raise RemediationDeclarationError(
                f"AwsCall {self.service}.{self.operation}: declares neither action nor resource"
            )
        if isinstance(self.resource, str):
            for _, field, _, _ in string.Formatter().parse(self.resource):
                if field == "":
                    raise RemediationDeclarationError(
                        f"AwsCall {self.service}.{self.operation}: name every placeholder "
                        f"in {self.resource!r}"
                    )

    def resource_for(self, params: Mapping[str, Any], where: Mapping[str, str]) -> str | None:
        """The declared resource of a call with these parameters (None: the table decides)."""
        if self.resource is None:
            return None
        if callable(self.resource):
            return self.resource(params, where)
        values = {**params, **{k: v for k, v in where.items() if k in _WHERE}}
        try:
            return self.resource.format_map(values)
        except (KeyError, IndexError, AttributeError, TypeError):
            return None
