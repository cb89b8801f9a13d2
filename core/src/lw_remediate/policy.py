"""Least-privilege IAM policies declared by remediations.

Resource patterns may use the placeholders ``{partition}``, ``{account}`` and
``{region}``; :meth:`IamPolicy.render` fills them in (or keeps them as
CloudFormation substitutions).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

_ACTION_RE = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9*]+$")


@dataclass(frozen=True)
class PolicyStatement:
    """One ``Allow`` statement: actions on resource patterns, with optional conditions."""

    actions: tuple[str, ...]
    resources: tuple[str, ...] = ("*",)
    conditions: Mapping[str, Mapping[str, Any]] | None = None
    sid: str | None = None

    def __post_init__(self) -> None:
        if not self.actions:
            raise ValueError("a policy statement needs at least one action")
        for action in self.actions:
            if not _ACTION_RE.match(action):
                raise ValueError(f"not an IAM action name: {action!r}")
        if not self.resources:
            raise ValueError("a policy statement needs at least one resource")

    def covers(self, action: str, resource: str, *, account: str, partition: str = "aws") -> bool:
        """True when this statement allows ``action`` on ``resource`` (conditions ignored)."""
        if not any(action_matches(pattern, action) for pattern in self.actions):
            return False
        return any(
            resource_matches(_fill(pattern, account=account, partition=partition), resource)
            for pattern in self.resources
        )


@dataclass(frozen=True)
class IamPolicy:
    """A least-privilege policy: a tuple of Allow statements."""

    statements: tuple[PolicyStatement, ...] = field(default_factory=tuple)

    @classmethod
    def allow(
        cls,
        actions: Iterable[str],
        resources: Iterable[str] = ("*",),
        *,
        conditions: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> IamPolicy:
        """A policy of one statement."""
        return cls((PolicyStatement(tuple(actions), tuple(resources), conditions),))

    def __add__(self, other: IamPolicy) -> IamPolicy:
        return IamPolicy(self.statements + other.statements)

    def __bool__(self) -> bool:
        return bool(self.statements)

    @property
    def actions(self) -> frozenset[str]:
        """Every action named by any statement."""
        return frozenset(a for s in self.statements for a in s.actions)

    def covers(self, action: str, resource: str, *, account: str, partition: str = "aws") -> bool:
        """True when some statement allows ``action`` on ``resource`` (conditions ignored)."""
        return any(
            s.covers(action, resource, account=account, partition=partition)
            for s in self.statements
        )

    @classmethod
    def merge(cls, policies: Iterable[IamPolicy]) -> IamPolicy:
        """Merge policies into one, grouping actions by identical resources and conditions."""
        grouped: dict[str, tuple[set[str], tuple[str, ...], Any]] = {}
        for policy in policies:
            for st in policy.statements:
                key = json.dumps([sorted(st.resources), st.conditions], sort_keys=True)
                entry = grouped.setdefault(key, (set(), tuple(sorted(st.resources)), st.conditions))
                entry[0].update(st.actions)
        return cls(
            tuple(
                PolicyStatement(tuple(sorted(actions)), resources, conditions)
                for actions, resources, conditions in (grouped[k] for k in sorted(grouped))
            )
        )

    def render(
        self,
        *,
        account: str = "*",
        partition: str = "aws",
        region: str = "*",
        sid_prefix: str = "LwRemediate",
    ) -> dict[str, Any]:
        """The policy as an IAM policy document (a JSON-serialisable dict)."""
        statements: list[dict[str, Any]] = []
        for index, st in enumerate(self.statements, start=1):
            resources = [
                _fill(r, account=account, partition=partition, region=region) for r in st.resources
            ]
            doc: dict[str, Any] = {
                "Sid": st.sid or f"{sid_prefix}{index}",
                "Effect": "Allow",
                "Action": sorted(st.actions),
                "Resource": resources[0] if len(resources) == 1 else resources,
            }
            if st.conditions:
                doc["Condition"] = _fill_any(
                    {k: dict(v) for k, v in st.conditions.items()},
                    account=account,
                    partition=partition,
                    region=region,
                )
            statements.append(doc)
        return {"Version": "2012-10-17", "Statement": statements}


def _fill(pattern: str, *, account: str, partition: str = "aws", region: str = "*") -> str:
    return (
        pattern.replace("{partition}", partition)
        .replace("{account}", account)
        .replace("{region}", region)
    )


def _fill_any(value: Any, *, account: str, partition: str, region: str) -> Any:
    if isinstance(value, str):
        return _fill(value, account=account, partition=partition, region=region)
    if isinstance(value, list):
        return [_fill_any(v, account=account, partition=partition, region=region) for v in value]
    if isinstance(value, dict):
        return {
            k: _fill_any(v, account=account, partition=partition, region=region)
            for k, v in value.items()
        }
    return value


def action_matches(pattern: str, action: str) -> bool:
    """IAM's matching of an ``Action`` entry against an action name.

    Case-insensitive over the whole ``service:Name`` string; ``*`` matches any run of
    characters (so ``"*"`` matches every action) and ``?`` any one; nothing else is
    special (``[`` is a literal, unlike in :mod:`fnmatch`). The declared policies,
    the test kit and ``preflight``'s reading of a role's own policies all use this one.
    """
    return _wildcard(pattern, re.IGNORECASE).fullmatch(action) is not None


def resource_matches(pattern: str, resource: str) -> bool:
    """IAM's matching of a ``Resource`` entry against an ARN: case-sensitive, ``*`` and
    ``?`` as in :func:`action_matches`."""
    return _wildcard(pattern, 0).fullmatch(resource) is not None


@functools.lru_cache(maxsize=4096)
def _wildcard(pattern: str, flags: int) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, flags | re.DOTALL)
