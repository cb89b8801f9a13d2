"""Reading a received JSON body, strictly: what is accepted can always be stored,
read back and processed.

RFC 8259: JSON exchanged between systems is UTF-8; a receiver may ignore a BOM. So a
body is accepted when it is UTF-8 (with or without a BOM), valid JSON, nested no
deeper than :data:`MAX_DEPTH`, and every string (keys too) is real text (no lone
surrogate, escaped or not). Anything else raises :class:`BodyError` with a one-line
reason: the HTTP answer is 400, since sending it again can never succeed.

Every webhook is decoded here, so the common case is fast: orjson first (it reads
only UTF-8 and refuses lone surrogates, so its strings need no second look), and the
standard library's decoder for anything orjson refuses or would read differently
(integers of 19 digits or more, which orjson turns into floats; ``NaN``,
``Infinity`` and numbers past the double range, which the standard library reads and
orjson refuses). That second path is the reference: it gives the exact reason of a
refusal, and whatever orjson accepts it accepts with an equal value
(``core/tests/test_body.py`` holds both to that).
"""

from __future__ import annotations

import codecs
import json
from typing import Any

import orjson

__all__ = ["MAX_DEPTH", "BodyError", "decode_json_body"]

#: Deepest nesting accepted. Lacework bodies nest fewer than 10 levels; SQS wraps
#: another body as a string, which is parsed (and limited) on its own.
MAX_DEPTH = 64

#: Every body is mapped through this table (one C pass) to find, in the copy, a run of
#: digits that could be an integer outside 64 bits (orjson would read it as a float)
#: and the opening brackets that bound the nesting. Both also count inside strings,
#: which only costs the slower path or a walk.
_SHAPE = bytes(
    ord("0") if b in b"0123456789" else ord("[") if b in b"[{" else ord(" ") for b in range(256)
)
_LONG_INTEGER = b"0" * 19


class BodyError(ValueError):
    """The body can never be accepted; the message is the one-line reason."""


def decode_json_body(raw: bytes) -> Any:
    """The JSON value of ``raw``; raises :class:`BodyError` (see the module)."""
    shape = raw.translate(_SHAPE)
    if _LONG_INTEGER not in shape:
        try:
            value = orjson.loads(raw[3:] if raw.startswith(codecs.BOM_UTF8) else raw)
        except orjson.JSONDecodeError:
            pass  # the reference path below says why, or reads what orjson does not
        else:
            # Nesting needs an opening bracket per level: few brackets, no walk.
            if shape.count(b"[") > MAX_DEPTH:
                _check(value, strings=False)
            return value
    return _decode_reference(raw)


def _decode_reference(raw: bytes) -> Any:
    """The standard library's reading of ``raw``, with every check."""
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
    _check(value, strings=True)
    return value


def _check(value: Any, *, strings: bool) -> None:
    """Depth and (``strings``) text, iteratively (a deep body must not exhaust the
    stack here)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            if strings:
                _text(node)
        elif isinstance(node, dict | list):
            if depth > MAX_DEPTH:
                raise BodyError(f"body nests deeper than {MAX_DEPTH} levels")
            if isinstance(node, dict):
                for key, child in node.items():
                    if strings:
                        _text(key)
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in node)


def _text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BodyError("body has a string that is not valid Unicode (a lone surrogate)") from None
