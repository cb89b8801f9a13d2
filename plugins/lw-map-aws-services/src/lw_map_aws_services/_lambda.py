"""Lambda functions: the name a violation names and the configuration as read."""

from __future__ import annotations

from typing import Any

from lw_remediate import RemediationContext, RemediationError, Violation

from ._common import or_none


def function_name(violation: Violation) -> str:
    """``arn:aws:lambda:R:A:function:<name>[:qualifier]`` -> ``<name>``."""
    arn = violation.arn
    if arn.service != "lambda" or not arn.resource.startswith("function:") or not arn.resource_name:
        raise RemediationError(
            f"{violation.rule_id}: not a Lambda function ARN: {violation.resource_arn!r}"
        )
    return arn.resource_name


async def configuration(ctx: RemediationContext[Any], name: str) -> dict[str, Any] | None:
    """``GetFunctionConfiguration`` of the unqualified function; None when it is gone."""
    async with ctx.aws.client("lambda") as client:
        response = await or_none(client.get_function_configuration(FunctionName=name))
    if response is None:
        return None
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


def role_name(role_arn: str) -> str:
    """``arn:aws:iam::A:role/path/name`` -> ``name``."""
    return role_arn.rsplit("/", 1)[-1]
