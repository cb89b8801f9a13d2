"""Readers for the fields of Lacework JSON, shared by the payload and API parsers.

Keys are matched exactly, then case-insensitively (real payloads disagree on spelling);
every reader returns None for a value it cannot use instead of raising.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from ..model import Arn

#: How much of a field is kept in a ``dropped`` note or log line.
NOTE_LIMIT = 160
_EVENT_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}", re.ASCII)
_ACCOUNT_RE = re.compile(r"[0-9]{12}", re.ASCII)


def lookup(obj: Any, *names: str) -> Any:
    """``obj[name]`` for the first name present, matched exactly, then case-insensitively."""
    if not isinstance(obj, Mapping):
        return None
    for name in names:
        if name in obj:
            return obj[name]
    wanted = {name.lower() for name in names}
    for key, value in obj.items():
        if isinstance(key, str) and key.lower() in wanted:
            return value
    return None


class Keys:
    """One JSON object's keys folded to lower case once, for many :func:`lookup` calls
    on it: a name it does not hold in any case answers None without a scan (the
    payload parser asks a body for a dozen names, most of them absent)."""

    __slots__ = ("_folded", "obj")

    def __init__(self, obj: Mapping[str, Any]) -> None:
        self.obj = obj
        self._folded = {key.lower() for key in obj if isinstance(key, str)}

    def get(self, *names: str) -> Any:
        """``lookup(obj, *names)``."""
        obj = self.obj
        for name in names:
            if name in obj:
                return obj[name]
        for name in names:
            if name.lower() in self._folded:
                return lookup(obj, *names)
        return None


def objects(value: Any) -> list[Mapping[str, Any]]:
    """The objects in a JSON list (a single object counts as a list of one)."""
    if isinstance(value, Mapping):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, Mapping)]
    return []


def scalar_text(value: Any) -> str | None:
    """A scalar as stripped text: strings, integers and integral floats; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int):
        return str(value) if -(10**30) < value < 10**30 else None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return scalar_text(int(value))
    return None


def event_id_text(value: Any) -> str | None:
    text = scalar_text(value)
    return text if text is not None and _EVENT_ID_RE.fullmatch(text) else None


def rule_text(value: Any) -> str | None:
    """A rule id as received: a non-empty single-line string of sane length."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or len(text) > 128 or not text.isprintable():
        return None
    return text


def aws_account(value: Any) -> str | None:
    """A 12-digit AWS account id; a JSON integer gets its leading zeros back."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return f"{value:012d}" if 0 < value < 10**12 else None
    if isinstance(value, str):
        text = value.strip()
        return text if _ACCOUNT_RE.fullmatch(text) else None
    return None


def parse_arn(value: Any) -> Arn | None:
    """The ARN (partition filled in when Lacework dropped it), or None if it is not one."""
    if not isinstance(value, str) or len(value) > 2048 or not value.isprintable():
        return None
    try:
        arn = Arn.parse(value.strip())
    except ValueError:
        return None
    if not arn.service or not arn.resource:
        return None
    return arn


class Drops:
    """Rows that could not become violations: one note per row, and a count per reason."""

    def __init__(self) -> None:
        self._notes: list[str] = []
        self._counts: dict[str, int] = {}

    def add(self, rule: str | None, resource: str | None, why: str) -> None:
        self._notes.append(drop_note(resource, rule, why))
        self._counts[why] = self._counts.get(why, 0) + 1

    def lines(self) -> tuple[str, ...]:
        return tuple(self._notes)

    def counts(self) -> dict[str, int]:
        """Reason -> rows dropped for it (every reason, every row: they sum to ``len``)."""
        return dict(sorted(self._counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def __len__(self) -> int:
        return len(self._notes)


def drop_note(resource: str | None, rule: str | None, why: str) -> str:
    what = resource if resource is not None else "<no resource>"
    return one_line(f"{rule or '<no rule>'} {what}: {why}", NOTE_LIMIT * 2)


def one_line(text: str, limit: int) -> str:
    flat = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
