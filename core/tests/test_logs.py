"""The JSON log lines (lw_remediate.logs): one compact JSON object per line."""

from __future__ import annotations

import asyncio
import datetime
import io
import json
import re

import structlog

from lw_remediate.logs import configure_logging


class Custom:
    def __structlog__(self) -> str:
        return "custom-form"


def log_one(**fields: object) -> tuple[str, dict[str, object]]:
    stream = io.StringIO()
    configure_logging(level="info", json=True, stream=stream)
    log = structlog.get_logger("test")
    log.info("alert_received", **fields)
    log.debug("filtered_out")
    (line,) = stream.getvalue().splitlines()
    return line, json.loads(line)


def test_a_json_line_holds_what_structlogs_json_renderer_would_write():
    fields = {"shape": "classic", "ids": [1, 2], "text": "\u00e9t\u00e9", "odd": {3}, "c": Custom()}
    line, event = log_one(**fields)
    assert (event["event"], event["level"]) == ("alert_received", "info")
    expected = {k: event[k] for k in ("timestamp", "level")}
    expected = {"event": "alert_received", **fields, **expected}
    # The same object structlog's JSONRenderer (json.dumps, default=repr/__structlog__)
    # writes, compact and with text as UTF-8 rather than \u escapes.
    rendered = structlog.processors.JSONRenderer()(None, "info", dict(expected))
    assert json.loads(rendered) == event
    assert (
        '"text":"\u00e9t\u00e9"' in line and '"odd":"{3}"' in line and '"c":"custom-form"' in line
    )
    assert list(event)[:5] == ["shape", "ids", "text", "odd", "c"]  # the order they were given


def test_the_timestamp_is_utc_iso8601_to_the_microsecond():
    before = datetime.datetime.now(datetime.UTC)
    _, event = log_one()
    after = datetime.datetime.now(datetime.UTC)
    stamp = str(event["timestamp"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", stamp)
    when = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    assert before - datetime.timedelta(microseconds=1) <= when <= after


def test_values_orjson_cannot_write_are_written_as_the_standard_library_writes_them():
    # An integer beyond 64 bits and a lone surrogate: orjson refuses both.
    line, event = log_one(big=2**70, odd_text="a\udc80b")
    assert event["big"] == 2**70 and event["odd_text"] == "a\udc80b"
    assert "\\udc80" in line
    # Datetimes and dataclasses as before (repr), not in orjson's own forms.
    when = datetime.datetime(2026, 12, 3, 17, 0, tzinfo=datetime.UTC)
    _, event = log_one(when=when, keys={1: "int key"}, nan=float("nan"))
    assert event["when"] == repr(when)
    assert event["keys"] == {"1": "int key"}
    assert event["nan"] is None  # valid JSON (the standard library would write NaN)


def test_a_line_logged_on_the_loop_is_on_the_stream_once_the_turn_ends():
    stream = io.StringIO()
    configure_logging(level="info", json=True, stream=stream)

    async def main() -> None:
        structlog.get_logger("test").info("on_the_loop", n=1)
        await asyncio.sleep(0)
        (line,) = stream.getvalue().splitlines()
        assert json.loads(line)["event"] == "on_the_loop"

    asyncio.run(main())
