"""Redaction by value: registered secrets are masked wherever they appear."""

from __future__ import annotations

import io
import json
import logging

import structlog

from lw_remediate.logs import RedactingFormatter, configure_logging
from lw_remediate.redact import MASK, RedactingStream, redact, redact_value, register

SECRET = 'tok-"é/ x' + "9" * 12  # quotes, non-ASCII, a slash and a space: every escaped form


def test_a_secret_is_masked_in_its_plain_escaped_and_url_forms():
    register([SECRET, None, "short"])
    from urllib.parse import quote

    for form in (SECRET, json.dumps(SECRET)[1:-1], quote(SECRET, safe="")):
        assert redact(f"GET /webhooks/lacework/{form}?x=1") == f"GET /webhooks/lacework/{MASK}?x=1"
    assert redact("a short value stays") == "a short value stays"
    assert redact_value({"k": [SECRET, 1, (SECRET,)], SECRET: None}) == {
        "k": [MASK, 1, (MASK,)],
        MASK: None,
    }


def test_log_lines_mask_secrets_in_any_field_and_in_exceptions():
    register([SECRET])
    out = io.StringIO()
    configure_logging(level="info", json=True, stream=out)
    log = structlog.get_logger("test")
    log.info(
        "request_failed",
        path=f"/webhooks/lacework/{SECRET}",
        note=[SECRET],
        nested={"k": (1, {SECRET: f"x{SECRET}y"})},
    )
    try:
        raise RuntimeError(f"boom with {SECRET}")
    except RuntimeError:
        log.exception("crashed")
    text = out.getvalue()
    assert "request_failed" in text and "crashed" in text and "boom with" in text
    assert SECRET not in text and json.dumps(SECRET)[1:-1] not in text
    # In whatever form the line's encoder escaped it (orjson: UTF-8 as is, \" for ").
    assert "9" * 12 not in text and text.count(MASK) >= 5
    record = logging.LogRecord("aiohttp", logging.ERROR, __file__, 1, f"x {SECRET}", None, None)
    assert SECRET not in RedactingFormatter().format(record)


def test_console_lines_mask_secrets_whatever_repr_makes_of_them():
    secret = 'it\'s-"q"-\x01' + "7" * 12  # both quotes and a control character: repr escapes
    register([secret])
    out = io.StringIO()
    configure_logging(level="info", json=False, stream=out)
    structlog.get_logger("test").info("listed", note=[secret], nested={"k": (secret,)})
    text = out.getvalue()
    assert "listed" in text and text.count(MASK) == 2
    assert repr(secret)[1:-1] not in text and "7" * 12 not in text


def test_the_cli_stream_masks_what_is_written():
    register([SECRET])
    inner = io.StringIO()
    stream = RedactingStream(inner)
    stream.write(f"error: {SECRET}\n")
    assert inner.getvalue() == f"error: {MASK}\n"
    assert not hasattr(stream, "buffer")
