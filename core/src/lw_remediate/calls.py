"""What a map declares about the AWS calls it makes, where the core's call table falls short.

The core records every AWS call a remediation makes with the IAM action that
authorises it and the resource ARN AWS checks (the audit trail and the kit's
least-privilege proof rely on it). That table is generated from botocore's models and
the IAM Service Authorization Reference; an :class:`AwsCall` in a remediation's
``aws_calls`` states what the data cannot know, e.g. which resource an ``ec2:CreateTags``
call on ``Resources=[group_id]`` is authorised on, or the dependent actions AWS checks
inside a call (``kms:CreateGrant`` on the key a ``redshift:ModifyCluster`` names).
"""

from __future__ import annotations

import re
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
_ACTION = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9]+$")


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
    :param dependent: ``(action, resource)`` pairs: the actions AWS authorises inside this
        call besides its own (``("kms:CreateGrant", key_arn_fn)``), each with a resource
        template or function like ``resource``. Each is recorded next to the call (same
        service and operation, that action and resource, ``dependent=True``) whenever its
        resource resolves; a template naming a parameter the request lacks, or a function
        returning None, means AWS does not check it on this call.
    """

    service: str
    operation: str
    action: str | None = None
    resource: str | ResourceFn | None = None
    dependent: tuple[tuple[str, str | ResourceFn], ...] = ()

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
        self._check_dependent()
        if self.action is None and self.resource is None and not self.dependent:
            raise RemediationDeclarationError(
                f"AwsCall {self.service}.{self.operation}: declares neither action nor resource "
                "(nor dependent actions)"
            )
        self._check_template(self.resource)

    def _check_dependent(self) -> None:
        pairs = tuple(self.dependent)
        for pair in pairs:
            if (
                not isinstance(pair, tuple | list)
                or len(pair) != 2
                or not isinstance(pair[0], str)
                or not _ACTION.match(pair[0])
                or not (isinstance(pair[1], str) or callable(pair[1]))
            ):
                raise RemediationDeclarationError(
                    f"AwsCall {self.service}.{self.operation}: dependent {pair!r} is not "
                    "('<prefix>:<Action>', resource template or function)"
                )
            self._check_template(pair[1])
        object.__setattr__(self, "dependent", tuple((p[0], p[1]) for p in pairs))

    def _check_template(self, template: str | ResourceFn | None) -> None:
        if isinstance(template, str):
            for _, field, _, _ in string.Formatter().parse(template):
                if field == "":
                    raise RemediationDeclarationError(
                        f"AwsCall {self.service}.{self.operation}: name every placeholder "
                        f"in {template!r}"
                    )

    def resource_for(self, params: Mapping[str, Any], where: Mapping[str, str]) -> str | None:
        """The declared resource of a call with these parameters (None: the table decides)."""
        return _resolve(self.resource, params, where)

    def dependent_for(
        self, params: Mapping[str, Any], where: Mapping[str, str]
    ) -> list[tuple[str, str]]:
        """``(action, resource)`` of each dependent action AWS checks on a call with these
        parameters (those whose resource does not resolve are left out)."""
        found: list[tuple[str, str]] = []
        for action, template in self.dependent:
            resource = _resolve(template, params, where)
            if resource:
                found.append((action, resource))
        return found


def _resolve(
    template: str | ResourceFn | None, params: Mapping[str, Any], where: Mapping[str, str]
) -> str | None:
    if template is None:
        return None
    if callable(template):
        return template(params, where)
    values = {**params, **{k: v for k, v in where.items() if k in _WHERE}}
    try:
        return template.format_map(values)
    except (KeyError, IndexError, AttributeError, TypeError):
        return None
