"""AWS credentials per violation: STS AssumeRole into the target account.

With ``[aws] role_name`` set, each action runs with temporary credentials for
``arn:<partition>:iam::<account>:role/<role_name>``, optionally narrowed by a
session policy equal to the remediation's declared policy. Without it, the default
credential chain is used, and only for the account those credentials belong to:
acting in another account with them would be acting in the wrong account.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Mapping
from typing import Any

from ..config import AwsConfig
from ..errors import RemediationRefused
from .pool import ClientPool
from .session import AwsSession, Credentials, assume_role

#: STS AssumeRole's limit on the plain text of a session policy, in characters.
SESSION_POLICY_LIMIT = 2048


class AwsProvider:
    """Hands out :class:`AwsSession` objects bound to an account and region.

    Every session it hands out shares one :class:`ClientPool`: a client per (account,
    region, service, credentials) lives across actions until its credentials leave the
    cache (``ttl``, well inside the STS duration), and :meth:`close` closes them all.
    A session policy gives its own credentials, so down-scoping stays per remediation.
    """

    def __init__(self, config: AwsConfig, *, partition: str = "aws", ttl: float = 600.0) -> None:
        self.config = config
        self.partition = partition
        self.ttl = ttl
        self._cache: dict[tuple[str, str, str], tuple[float, Credentials]] = {}
        #: One lock per (account, role, policy): an AssumeRole in flight holds up only
        #: the actions waiting for the same credentials, never a cache hit or another key.
        self._locks: dict[tuple[str, str, str], asyncio.Lock] = {}
        self._caller_account: str | None = None
        self._caller_lock = asyncio.Lock()
        self._bases: dict[str, AwsSession] = {}
        self.pool = ClientPool()
        #: Every AssumeRole request made: (role ARN, session policy or None). For tests/audit.
        self.assumed: list[tuple[str, Mapping[str, Any] | None]] = []

    def reconfigure(self, config: AwsConfig) -> None:
        """Use ``config`` from now on (a configuration reload); cached credentials go."""
        self.config = config
        self._cache.clear()
        self._bases.clear()
        self._caller_account = None

    def _base(self, region: str) -> AwsSession:
        """The daemon's own credentials (default chain), one session per region: creating
        a botocore session costs tens of milliseconds, and AssumeRole runs per action."""
        session = self._bases.get(region)
        if session is None:
            session = self._bases[region] = AwsSession(
                account_id="",
                region=region,
                endpoint_url=self.config.endpoint_url,
                partition=self.partition,
                pool=self.pool,
            )
        return session

    async def close(self) -> None:
        """Close every pooled client (at shutdown)."""
        await self.pool.close()

    async def __aenter__(self) -> AwsProvider:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def role_arn(self, account: str, role_name: str | None = None) -> str:
        """The role assumed in ``account``: ``role_name`` (a remediation's own role) or
        ``[aws] role_name``."""
        return f"arn:{self.partition}:iam::{account}:role/{role_name or self.config.role_name}"

    async def caller_account(self) -> str:
        """The account of the daemon's own credentials: one ``GetCallerIdentity`` per
        process (and per reload), however many actions ask at once."""
        async with self._caller_lock:
            if self._caller_account is None:
                async with self._base(self.config.region).client("sts") as sts:
                    identity = await sts.get_caller_identity()
                self._caller_account = str(identity["Account"])
            return self._caller_account

    async def session_for(
        self,
        account: str,
        region: str | None,
        *,
        session_policy: Mapping[str, Any] | None = None,
        label: str = "action",
        role_name: str | None = None,
    ) -> AwsSession:
        region = region or self.config.region
        role_name = role_name or self.config.role_name
        if not role_name:
            caller = await self.caller_account()
            if caller != account:
                raise RemediationRefused(
                    f"violation is in account {account}, but no [aws] role_name is configured and the "
                    f"default credentials belong to account {caller}"
                )
            return AwsSession(
                account_id=account,
                region=region,
                endpoint_url=self.config.endpoint_url,
                partition=self.partition,
                pool=self.pool,
            )
        creds, expires_at = await self._assumed(account, session_policy, label, role_name)
        return AwsSession(
            account_id=account,
            region=region,
            credentials=creds,
            endpoint_url=self.config.endpoint_url,
            partition=self.partition,
            pool=self.pool,
            expires_at=expires_at,
        )

    async def _assumed(
        self, account: str, policy: Mapping[str, Any] | None, label: str, role_name: str
    ) -> tuple[Credentials, float]:
        policy_key = (
            hashlib.sha256(json.dumps(policy, sort_keys=True).encode()).hexdigest()
            if policy
            else ""
        )
        key = (account, role_name, policy_key)
        hit = self._cache.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1], hit[0]
        async with self._locks.setdefault(key, asyncio.Lock()):
            hit = self._cache.get(key)  # fetched while this action waited for the lock
            if hit is not None and hit[0] > time.monotonic():
                return hit[1], hit[0]
            role_arn = self.role_arn(account, role_name)
            self.assumed.append((role_arn, policy))
            creds = await assume_role(
                self._base(self.config.region),
                role_arn,
                session_name=f"lw-remediate-{label}".replace(".", "-"),
                session_policy=policy,
                external_id=self.config.external_id,
                duration_seconds=900,
            )
            expires_at = time.monotonic() + self.ttl
            self._cache[key] = (expires_at, creds)
            return creds, expires_at
