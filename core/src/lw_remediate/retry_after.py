"""``Retry-After``: how long an HTTP server asks to be left alone (RFC 9110 §10.2.3).

One reading for every client of the daemon that honours it (the Lacework API, Slack).
"""

from __future__ import annotations

import email.utils
import math
from datetime import UTC, datetime


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or an HTTP date; a
    time in the past is 0), or None when there is none or it cannot be read (including
    ``inf`` and ``nan``, which would otherwise mean waiting for ever or not at all)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)
