"""Redaction by value: every configured secret is masked wherever it appears.

The runtime registers the secrets of its configuration (webhook token, admin token,
Lacework key id and secret, Slack webhook URL: :meth:`Config.secret_values
<lw_remediate.config.Config.secret_values>`), and every way out masks them: log lines
(:mod:`lw_remediate.logs`), errors and details written to the store, CLI output
(:class:`RedactingStream`). Not only fields with secret-sounding names: a token inside
a URL path, an exception message or a key id quoted in an error are masked too, also
in their JSON-escaped and percent-encoded forms.

The registry is per process and only grows (a secret masked once stays masked).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from typing import Any, TextIO
from urllib.parse import quote

__all__ = ["MASK", "MIN_LENGTH", "RedactingStream", "redact", "redact_value", "register"]

#: What a secret is replaced with.
MASK = "***"
#: Shorter values are not registered: masking them would mangle ordinary text.
MIN_LENGTH = 6

_lock = threading.Lock()
_forms: tuple[str, ...] = ()  # longest first, so a secret inside another is masked whole


def _variants(secret: str) -> set[str]:
    forms = {
        secret,
        json.dumps(secret)[1:-1],  # as the standard library's JSON escapes it
        json.dumps(secret, ensure_ascii=False)[1:-1],  # as orjson's (log lines) does
        quote(secret, safe=""),
        quote(secret, safe="/:"),
    }
    return {f for f in forms if len(f) >= MIN_LENGTH}


def register(values: Iterable[str | None]) -> None:
    """Mask these values (and their escaped forms) from now on; None and values shorter
    than :data:`MIN_LENGTH` are ignored."""
    global _forms
    new: set[str] = set()
    for value in values:
        if value and len(value.strip()) >= MIN_LENGTH:
            new |= _variants(value) | _variants(value.strip())
    if not new:
        return
    with _lock:
        merged = set(_forms) | new
        _forms = tuple(sorted(merged, key=len, reverse=True))


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by :data:`MASK`."""
    for form in _forms:
        if form in text:
            text = text.replace(form, MASK)
    return text


def redact_value(value: Any) -> Any:
    """Strings redacted inside dicts, lists and tuples (keys too); other values as they are."""
    if not _forms:
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact_value(k): redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_value(v) for v in value)
    return value


class RedactingStream:
    """A text stream that masks registered secrets in everything written through it
    (the CLI's stdout and stderr). It has no ``buffer``: nothing can bypass it."""

    def __init__(self, inner: TextIO) -> None:
        self._inner = inner

    @property
    def inner(self) -> TextIO:
        return self._inner

    @property
    def encoding(self) -> str:
        return self._inner.encoding

    @property
    def errors(self) -> str | None:
        return self._inner.errors

    def write(self, text: str) -> int:
        self._inner.write(redact(text))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._inner.flush()

    def isatty(self) -> bool:
        return self._inner.isatty()

    def fileno(self) -> int:
        return self._inner.fileno()

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    @property
    def closed(self) -> bool:
        return bool(getattr(self._inner, "closed", False))
