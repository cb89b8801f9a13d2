"""structlog configuration: one JSON object per line, or a readable console on a terminal.

Secrets are masked twice: fields named like secrets (:data:`SECRET_KEYS`) whatever
their value, and every registered secret value (:mod:`lw_remediate.redact`) wherever it
appears: in any field, an exception text, the rendered line, and the lines of stdlib
loggers (aiohttp, asyncio) on the same stream.

Every module logs through ``structlog.get_logger(__name__)``. The ids of the work in
hand are bound once through :mod:`structlog.contextvars` (:func:`action_context`,
:func:`alert_context`), so every line logged while one action runs carries its
``alert_id``, ``action_id`` and ``remediation_id`` (the remediation's own ``ctx.log``
lines included) without each call repeating them.
"""

from __future__ import annotations

import contextlib
import json as jsonlib
import logging
import sys
import time
from collections.abc import Iterator, MutableMapping
from typing import Any, TextIO

import orjson
import structlog

from .log_writer import LineWriter
from .model import ActionRecord
from .redact import redact, redact_value

#: Keys whose values are never logged, wherever they appear in an event.
SECRET_KEYS = frozenset(
    {
        "secret",
        "token",
        "webhook_token",
        "admin_token",
        "password",
        "authorization",
        "x-lw-uaks",
        "secret_access_key",
        "session_token",
        "webhook_url",
        "api_secret",
    }
)


_second: tuple[int, str] = (-1, "")


def _add_timestamp(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """``timestamp`` in UTC, ISO 8601 to the microsecond, in the form of structlog's
    ``TimeStamper(fmt="iso", utc=True)`` (always six digits of microseconds, where that
    one leaves them out at .000000); the date and time of day are formatted once a
    second rather than on every line."""
    global _second
    now = time.time()
    second = int(now)
    if _second[0] != second:
        _second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    event["timestamp"] = f"{_second[1]}.{int((now - second) * 1_000_000):06d}Z"
    return event


def _redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        if key.lower() in SECRET_KEYS and event[key] is not None:
            event[key] = "***"
    return event


def _redact_values(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in event.items():
        event[key] = redact_value(value)
    return event


def _redact_line(_: Any, __: str, line: Any) -> Any:
    """After rendering: whatever a renderer escaped or joined is masked as well."""
    return redact(line) if isinstance(line, str) else line


def _json_default(value: Any) -> Any:
    """A value JSON cannot hold, as structlog's JSONRenderer writes it."""
    try:
        return value.__structlog__()
    except AttributeError:
        return repr(value)


#: For what orjson refuses (an integer beyond 64 bits, a lone surrogate): the
#: standard library's encoder, as structlog's own JSON renderer uses it.
_ENCODER = jsonlib.JSONEncoder(default=_json_default)

#: Dataclasses and datetimes go through ``_json_default`` (``__structlog__`` or repr),
#: as with the standard library's encoder, rather than orjson's own forms of them.
_ORJSON_OPTIONS = (
    orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME
)


def _render_json(event: MutableMapping[str, Any], **_: Any) -> str:
    """One compact JSON object, UTF-8 text as is (orjson: several times faster than the
    standard library's encoder, which every line went through before)."""
    try:
        return orjson.dumps(event, default=_json_default, option=_ORJSON_OPTIONS).decode()
    except TypeError:
        return _ENCODER.encode(event)


class RedactingFormatter(logging.Formatter):
    """stdlib logging lines (tracebacks included) with registered secrets masked."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class _AfterHeldLines(logging.StreamHandler):  # type: ignore[type-arg]
    """stdlib lines on the structlog lines' stream, after the lines held for it."""

    def __init__(self, writer: LineWriter) -> None:
        super().__init__(writer.stream)
        self._writer = writer

    def emit(self, record: logging.LogRecord) -> None:
        self._writer.flush()
        super().emit(record)


_writer: LineWriter | None = None


def configure_logging(
    *, level: str = "info", json: bool | None = None, stream: TextIO | None = None
) -> None:
    """Configure structlog (and stdlib logging) once for the process."""
    stream = stream or sys.stderr
    as_json = (not stream.isatty()) if json is None else json
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_render_json)
        if as_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    numeric = logging.getLevelName(level.upper())
    # Every logger writes through one LineWriter: the lines of one event-loop turn in
    # one write (log_writer.py). The default factory built a new logger, and looked up
    # its stream's lock, for every log call, filtered ones included.
    global _writer
    if _writer is not None:
        _writer.flush()
    writer = _writer = LineWriter(stream)
    # Masking secrets by value: a JSON line is masked as a whole once rendered
    # (_redact_line). JSON escapes character by character, so a secret anywhere in it
    # (a value, a key, nested, in an exception's text) is there in its plain or its
    # JSON-escaped form (as orjson escapes it, or the standard library for what orjson
    # refuses), all registered (redact._variants). The console renderer writes repr()s,
    # whose escaping differs, so there every value is masked before rendering as well.
    by_value = [] if as_json else [_redact_values]
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            _add_timestamp,
            _redact,
            structlog.processors.format_exc_info,
            *by_value,
            renderer,
            _redact_line,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            numeric if isinstance(numeric, int) else logging.INFO
        ),
        logger_factory=lambda *_: writer,
        cache_logger_on_first_use=False,
    )
    handler = _AfterHeldLines(writer)
    handler.setFormatter(RedactingFormatter(logging.BASIC_FORMAT))
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_lw_remediate", False)]:
        root.removeHandler(old)
    handler._lw_remediate = True  # type: ignore[attr-defined]
    if not root.handlers:  # like logging.basicConfig: leave a host's own handlers alone
        root.addHandler(handler)
        root.setLevel(logging.WARNING)


@contextlib.contextmanager
def alert_context(*, alert_id: str | None, inbox_id: int | None = None) -> Iterator[None]:
    """Bind the alert being worked on to every log line in this block (this task only)."""
    with structlog.contextvars.bound_contextvars(alert_id=alert_id, inbox_id=inbox_id):
        yield


@contextlib.contextmanager
def action_context(record: ActionRecord) -> Iterator[None]:
    """Bind one action's ids to every log line in this block (this task only)."""
    with structlog.contextvars.bound_contextvars(
        alert_id=record.violation.alert_id,
        action_id=record.id or None,
        remediation_id=record.remediation_id or None,
    ):
        yield
