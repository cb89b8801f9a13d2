"""What the Lacework API answers, read: its error types, error bodies, ``Retry-After``
and ``expiresAt``. The client (:mod:`.lacework`) raises and uses these."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Final

from ..errors import LwRemediateError
from .fields import lookup, one_line

#: Longest error message taken from an answer.
MESSAGE_LIMIT: Final = 200


class LaceworkError(LwRemediateError):
    """A Lacework API call failed; ``status`` is the HTTP status when there was a response."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class LaceworkAuthError(LaceworkError):
    """The API key was rejected: 401/403 persisting after a token refresh (bad key/secret)."""


class LaceworkNotFound(LaceworkError):
    """404: no such alert, or no report for that account and type."""


class LaceworkUnavailable(LaceworkError):
    """Transient: 429/5xx/timeouts/connection errors after ``max_attempts``; retry later.

    ``retry_after`` is the server's ``Retry-After`` (seconds) when it asked for a wait
    longer than the client's ``backoff_max``.
    """

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


_EXPIRES_RE = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[T ](?P<time>\d{2}:\d{2}(?::\d{2})?)"
    r"(?:[.,](?P<frac>\d+))?\s*(?P<tz>[Zz]|[+-]\d{2}:?\d{2})?",
    re.ASCII,
)


def parse_expires_at(value: Any) -> dt.datetime | None:
    """An aware UTC datetime from ``expiresAt`` (``2024-07-12T19:42:43.512Z`` and variants).

    Accepts any number of fractional digits, ``Z``/``z``/``+HH:MM``/``+HHMM`` or no zone
    (UTC assumed), a space instead of ``T``; returns None when it cannot be read.
    """
    if not isinstance(value, str):
        return None
    match = _EXPIRES_RE.fullmatch(value.strip())
    if match is None:
        return None
    clock = match["time"] if match["time"].count(":") == 2 else match["time"] + ":00"
    frac = (match["frac"] or "0")[:6].ljust(6, "0")
    tz = match["tz"] or "Z"
    if tz in ("Z", "z"):
        tz = "+00:00"
    elif ":" not in tz:
        tz = f"{tz[:3]}:{tz[3:]}"
    try:
        parsed = dt.datetime.fromisoformat(f"{match['date']}T{clock}.{frac}{tz}")
    except ValueError:
        return None
    return parsed.astimezone(dt.UTC)


def error_message(body: Any) -> str | None:
    """The error text of a Lacework error body, in the order the Go SDK reads it:
    ``data.ErrorMsg``, ``data.message``, ``message`` (unless "SUCCESS"), ``data.statusMessage``."""
    data = lookup(body, "data")
    candidates = (
        lookup(data, "ErrorMsg"),
        lookup(data, "message"),
        lookup(body, "message"),
        lookup(data, "statusMessage"),
    )
    for candidate in candidates:
        if isinstance(candidate, str) and candidate.strip() and candidate.strip() != "SUCCESS":
            return line(candidate)
    return None


def line(text: str) -> str:
    """``text`` on one line, cut to the length an error message may have."""
    return one_line(text, MESSAGE_LIMIT)
