"""One reading of ``Retry-After`` for the Lacework client and the Slack notifier."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime, timedelta

import pytest

from lw_remediate.retry_after import retry_after_seconds

NOW = datetime(2026, 10, 21, 7, 28, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, None),
        ("", None),
        ("7", 7.0),
        (" 2 ", 2.0),
        ("0.25", 0.25),
        ("-3", 0.0),
        ("Wed, 21 Oct 2026 07:28:10 GMT", 10.0),
        ("Wed, 21 Oct 2026 07:27:00 GMT", 0.0),
        ("soon", None),
        ("nan", None),
        ("inf", None),  # not "wait for ever"
    ],
)
def test_retry_after_seconds(value, seconds):
    assert retry_after_seconds(value, now=NOW) == seconds


def test_an_http_date_counts_from_now():
    future = datetime.now(UTC) + timedelta(seconds=30)
    seconds = retry_after_seconds(email.utils.format_datetime(future, usegmt=True))
    assert seconds is not None and 25 <= seconds <= 31
