"""The JSON log lines (lw_remediate.logs): one object per line, as structlog writes it."""

from __future__ import annotations

import io
import json

import structlog

from lw_remediate.logs import configure_logging


class Custom:
    def __structlog__(self) -> str:
        return "custom-form"


def test_a_json_line_is_what_structlogs_json_renderer_writes():
    stream = io.StringIO()
    configure_logging(level="info", json=True, stream=stream)
    log = structlog.get_logger("test")
    fields = {"shape": "classic", "ids": [1, 2], "text": "\u00e9t\u00e9", "odd": {3}, "c": Custom()}
    log.info("alert_received", **fields)
    log.debug("filtered_out")
    (line,) = stream.getvalue().splitlines()
    event = json.loads(line)
    assert (event["event"], event["level"]) == ("alert_received", "info")
    expected = {k: event[k] for k in ("timestamp", "level")}
    expected = {"event": "alert_received", **fields, **expected}
    # Key order and escaping as json.dumps(default=...) writes them (structlog's default).
    rendered = structlog.processors.JSONRenderer()(None, "info", dict(expected))
    assert json.loads(rendered) == event
    assert "\\u00e9t\\u00e9" in line and '"odd": "{3}"' in line and '"c": "custom-form"' in line
