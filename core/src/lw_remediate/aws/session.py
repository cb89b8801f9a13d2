"""AWS access for remediations: a client factory bound to one account and region.

Every client it hands out records each API call (service, operation, the IAM action
it needs and the resource it touches) into the session's sink, so the audit trail and
the least-privilege test kit see exactly what a remediation did. The recording is
per-action context (:func:`~lw_remediate.aws.pool.recording`), not a hook per client,
so a session with a :class:`~lw_remediate.aws.pool.ClientPool` shares its clients with
every other action using the same credentials.
"""

from __future__ import annotations

import functools
import json
import ssl
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import aioboto3
import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.httpsession import AIOHTTPSession
from aiobotocore.session import AioSession
from botocore.httpsession import create_urllib3_context, get_cert_path
from botocore.loaders import Loader, create_loader

from ..calls import AwsCall
from .pool import CallSink, ClientPool, Recording, attach_recorder, recording

__all__ = ["AwsSession", "CallSink", "ClientPool", "Credentials", "assume_role"]

_LOADER: Loader | None = None


def _shared_loader() -> Loader:
    """One botocore data loader per process: service models are parsed once, not per client."""
    global _LOADER
    if _LOADER is None:
        _LOADER = create_loader()
    return _LOADER


@dataclass(frozen=True)
class Credentials:
    """Static or temporary AWS credentials."""

    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    def __repr__(self) -> str:  # never leak a secret through a repr in a log line
        return f"Credentials(access_key_id={self.access_key_id!r}, secret_access_key='***')"


class _SharedTlsHttpSession(AIOHTTPSession):  # type: ignore[misc]
    """aiobotocore's HTTP session, with one TLS context per CA bundle for the process.

    aiobotocore builds a new SSL context and loads the CA bundle for every client (tens
    of milliseconds each); remediations create several clients per action. The context
    is immutable once built, so sharing it is safe. Anything unusual (proxies, client
    certificates, verification off) takes aiobotocore's own path.
    """

    _contexts: ClassVar[dict[str, ssl.SSLContext]] = {}

    def _create_connector(self, proxy_url: Any) -> Any:
        verify = getattr(self, "_verify", None)
        if (
            proxy_url
            or getattr(self, "_cert_file", None)
            or not verify
            or not hasattr(self, "_connector_args")
        ):
            return super()._create_connector(proxy_url)
        ca_certs = get_cert_path(verify)
        context = self._contexts.get(ca_certs or "")
        if context is None:
            context = create_urllib3_context()
            if ca_certs:
                context.load_verify_locations(ca_certs, None, None)
            self._contexts[ca_certs or ""] = context
        return aiohttp.TCPConnector(
            limit=self._max_pool_connections, ssl=context, **self._connector_args
        )


@functools.lru_cache(maxsize=16)
def _client_config(
    connect_timeout: float, read_timeout: float, max_attempts: int, *, path_style: bool
) -> AioConfig:
    """One client configuration per set of values: a session is made per action, and
    building an ``AioConfig`` (a botocore ``Config`` merge) costs more than the lookup."""
    return AioConfig(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"mode": "adaptive", "max_attempts": max_attempts},
        s3={"addressing_style": "path"} if path_style else None,
        http_session_cls=_SharedTlsHttpSession,
    )


class AwsSession:
    """The concrete client factory: one account, one region, one set of credentials."""

    def __init__(
        self,
        *,
        account_id: str,
        region: str,
        credentials: Credentials | None = None,
        endpoint_url: str | None = None,
        sink: CallSink | None = None,
        partition: str = "aws",
        connect_timeout: float = 10,
        read_timeout: float = 30,
        max_attempts: int = 5,
        pool: ClientPool | None = None,
        expires_at: float | None = None,
    ) -> None:
        self.account_id = account_id
        self.region = region
        self.partition = partition
        self.endpoint_url = endpoint_url
        self._credentials = credentials
        self._sink = sink
        self._declared: Sequence[AwsCall] = ()
        self._stack: AsyncExitStack | None = None
        self._clients: dict[str, Any] = {}
        #: With a pool, clients outlive this session: shared by every session with the
        #: same account, region, credentials and endpoint, closed by the pool when
        #: ``expires_at`` (``pool.clock`` time, the credentials' end) has passed.
        self._pool = pool
        self._expires_at = expires_at
        self._session_obj: aioboto3.Session | None = None
        self._config = _client_config(
            connect_timeout, read_timeout, max_attempts, path_style=endpoint_url is not None
        )

    @property
    def _session(self) -> aioboto3.Session:
        """The aioboto3 session, built on first use (a pooled session rarely needs one).

        It wraps one aiobotocore session that shares the process's botocore data loader,
        so service models are parsed once; the daemon only makes clients from it.
        """
        if self._session_obj is None:
            creds = self._credentials
            core = AioSession()
            core.register_component("data_loader", _shared_loader())
            self._session_obj = aioboto3.Session(
                botocore_session=core,
                aws_access_key_id=creds.access_key_id if creds else None,
                aws_secret_access_key=creds.secret_access_key if creds else None,
                aws_session_token=creds.session_token if creds else None,
                region_name=self.region,
            )
        return self._session_obj

    @_session.setter
    def _session(self, value: aioboto3.Session) -> None:
        self._session_obj = value

    @property
    def _recording(self) -> Recording | None:
        if self._sink is None:
            return None
        return Recording(
            sink=self._sink,
            account=self.account_id,
            region=self.region,
            partition=self.partition,
            declared=self._declared,
        )

    def with_sink(
        self,
        sink: CallSink | None,
        *,
        reuse_clients: bool = False,
        declared: Sequence[AwsCall] = (),
    ) -> AwsSession:
        """The same account, region and credentials, recording calls into ``sink``.

        With ``reuse_clients`` the new session keeps one client per service until
        :meth:`close` (creating a client costs tens of milliseconds: it loads the CA
        bundle); the runner uses this for the span of one action. ``declared`` are the
        remediation's :class:`~lw_remediate.AwsCall` declarations, consulted before the
        core's call table.
        """
        session = AwsSession(
            account_id=self.account_id,
            region=self.region,
            credentials=self._credentials,
            endpoint_url=self.endpoint_url,
            sink=sink,
            partition=self.partition,
            pool=self._pool,
            expires_at=self._expires_at,
        )
        # Same credentials: share the botocore session (creating one costs tens of ms).
        if self._session_obj is not None or self._pool is None:
            session._session = self._session
        session._declared = tuple(declared)
        if reuse_clients and self._pool is None:
            session._stack = AsyncExitStack()
        return session

    @asynccontextmanager
    async def client(self, service: str) -> AsyncIterator[Any]:
        """An aiobotocore client; the calls made inside this block go to this session's
        sink (none without one), even when the client is shared with other actions."""
        with recording(self._recording):
            if self._pool is not None:
                key = (
                    self.account_id,
                    self.region,
                    service,
                    self._credentials,
                    self.endpoint_url,
                    self.partition,
                )
                async with self._pool.lease(
                    key, lambda: self._new_client(service), expires_at=self._expires_at
                ) as client:
                    yield client
                return
            if self._stack is not None:
                client = self._clients.get(service)
                if client is None:
                    client = await self._stack.enter_async_context(self._new_client(service))
                    self._clients[service] = client
                yield client
                return
            async with self._new_client(service) as client:
                yield client

    @asynccontextmanager
    async def _new_client(self, service: str) -> AsyncIterator[Any]:
        async with self._session.client(
            service, region_name=self.region, endpoint_url=self.endpoint_url, config=self._config
        ) as client:
            attach_recorder(client, service)
            yield client

    async def close(self) -> None:
        """Close reused clients (no-op for a session that does not reuse them)."""
        if self._stack is not None:
            stack, self._stack = self._stack, AsyncExitStack()
            self._clients.clear()
            await stack.aclose()


async def assume_role(
    base: AwsSession,
    role_arn: str,
    *,
    session_name: str,
    session_policy: Mapping[str, Any] | None = None,
    external_id: str | None = None,
    duration_seconds: int = 900,
) -> Credentials:
    """Temporary credentials for ``role_arn``, optionally narrowed by a session policy."""
    kwargs: dict[str, Any] = {
        "RoleArn": role_arn,
        "RoleSessionName": session_name[:64],
        "DurationSeconds": duration_seconds,
    }
    if external_id:
        kwargs["ExternalId"] = external_id
    if session_policy is not None:
        kwargs["Policy"] = json.dumps(session_policy, separators=(",", ":"))
    async with base.client("sts") as sts:
        response = await sts.assume_role(**kwargs)
    creds = response["Credentials"]
    return Credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
