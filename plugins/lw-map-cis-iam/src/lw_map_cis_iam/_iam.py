"""Small helpers shared by the IAM remediations."""

from __future__ import annotations

from botocore.exceptions import ClientError


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def is_no_such_entity(exc: ClientError) -> bool:
    return error_code(exc) == "NoSuchEntity"
