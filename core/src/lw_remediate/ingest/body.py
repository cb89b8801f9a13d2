"""Reading a received JSON body, strictly: what is accepted can always be stored,
read back and processed.

RFC 8259: JSON exchanged between systems is UTF-8; a receiver may ignore a BOM. So a
body is accepted when it is UTF-8 (with or without a BOM), valid JSON, nested no
deeper than :data:`MAX_DEPTH`, and every string (keys too) is real text (no lone
surrogate, escaped or not). Anything else raises :class:`BodyError` with a one-line
reason: the HTTP answer is 400, since sending it again can never succeed.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["MAX_DEPTH", "BodyError", "decode_json_body"]

#: Deepest nesting accepted. Lacework bodies nest fewer than 10 levels; SQS wraps
#: another body as a string, which is parsed (and limited) on its own.
MAX_DEPTH = 64


class BodyError(ValueError):
    """The body can never be accepted; the message is the one-line reason."""


def decode_json_body(raw: bytes) -> Any:
    """The JSON value of ``raw``; raises :class:`BodyError` (see the module)."""
    encoding = json.detect_encoding(raw)
    if encoding not in ("utf-8", "utf-8-sig"):
        raise BodyError(f"body is not UTF-8 JSON (it looks like {encoding}); send UTF-8")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BodyError("body is not valid UTF-8") from None
    try:
        value = json.loads(text)
    except RecursionError:
        raise BodyError(f"body nests deeper than {MAX_DEPTH} levels") from None
    except ValueError:
        raise BodyError("body is not JSON") from None
    _check(value)
    return value


def _check(value: Any) -> None:
    """Depth and strings, iteratively (a deep body must not exhaust the stack here)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            _text(node)
        elif isinstance(node, dict | list):
            if depth > MAX_DEPTH:
                raise BodyError(f"body nests deeper than {MAX_DEPTH} levels")
            if isinstance(node, dict):
                for key, child in node.items():
                    _text(key)
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in node)


def _text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BodyError("body has a string that is not valid Unicode (a lone surrogate)") from None
