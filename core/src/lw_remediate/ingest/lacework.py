"""The Lacework (FortiCNAPP) REST API client.

Its error types and the readers of its answers live in :mod:`.lacework_answers`, the
parsers of alert details and reports in :mod:`.details` and :mod:`.reports`.

Only the v2 endpoints the daemon needs:

- ``POST /api/v2/access/tokens`` (``X-LW-UAKS: <secret>``, ``{"keyId", "expiryTime"}``,
  201 ``{"expiresAt", "token"}``); the token is cached until shortly before ``expiresAt``
  and fetched again once when a data call answers 401/403;
- ``GET /api/v2/Alerts/{id}?scope=Details``: :meth:`LaceworkClient.alert_details`;
- ``GET /api/v2/Reports?primaryQueryId=&format=json&reportType=``: :meth:`LaceworkClient.report`.

429, 5xx, timeouts and connection errors are retried with capped exponential backoff
and jitter (``Retry-After`` honoured on 429/503); after ``max_attempts`` the call raises
:class:`LaceworkUnavailable`, which the caller treats as "try again later". The API
secret and the token never appear in a log event, an exception message or a repr.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final
from urllib.parse import quote

import aiohttp
import structlog

from ..config import LaceworkConfig
from ..errors import ConfigError
from ..retry_after import retry_after_seconds
from .fields import lookup, objects
from .lacework_answers import (
    LaceworkAuthError,
    LaceworkError,
    LaceworkNotFound,
    LaceworkUnavailable,
    error_message,
    line,
    parse_expires_at,
)

log = structlog.get_logger(__name__)

__all__ = [
    "LaceworkAuthError",
    "LaceworkClient",
    "LaceworkError",
    "LaceworkNotFound",
    "LaceworkUnavailable",
    "parse_expires_at",
]

TOKEN_PATH: Final = "/api/v2/access/tokens"  # noqa: S105 - a URL path, not a password
#: Lifetime asked for a token (the API's default; the maximum is 86400).
TOKEN_EXPIRY_SECONDS: Final = 3600
_USER_AGENT: Final = "lw-remediate"


class _Transient(Exception):
    """Internal: one attempt failed in a way worth retrying. ``what`` names the request
    that failed (``POST /api/v2/access/tokens`` when it was the token call)."""

    def __init__(
        self,
        detail: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        what: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status
        self.retry_after = retry_after
        self.what = what


@dataclass(frozen=True)
class _Token:
    value: str
    #: ``clock()`` time after which the token is no longer used.
    fresh_until: float


class LaceworkClient:
    """An async client for the Lacework API. Use as ``async with LaceworkClient(...) as lw``.

    :param base_url: ``https://<account>.lacework.net`` (or an ``api_url`` override).
    :param key_id: the API key id; :param secret: the API key secret.
    :param subaccount: sent as ``Account-Name`` for organisation tenants.
    :param max_attempts: attempts per call for transient failures (429/5xx/timeouts).
    :param timeout: seconds per HTTP attempt.
    :param backoff_base: first retry delay; doubles per attempt, jittered, capped at
        ``backoff_max``. A ``Retry-After`` above ``backoff_max`` ends the call at once
        with :class:`LaceworkUnavailable` (``retry_after`` set) instead of waiting.
    :param session: an aiohttp session to use (not closed by :meth:`close`); by default
        the client creates and owns one.
    :param refresh_margin: a token is replaced this many seconds before ``expiresAt``
        (at most half its lifetime).
    :param clock: monotonic clock, replaceable in tests.
    """

    def __init__(
        self,
        *,
        base_url: str,
        key_id: str,
        secret: str,
        subaccount: str | None = None,
        max_attempts: int = 8,
        timeout: float = 30.0,
        backoff_base: float = 0.5,
        backoff_max: float = 60.0,
        session: aiohttp.ClientSession | None = None,
        refresh_margin: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not base_url:
            raise ValueError("base_url is required")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.base_url = base_url.rstrip("/")
        self.key_id = key_id
        self._secret = secret
        self.subaccount = subaccount or None
        self.max_attempts = max_attempts
        self.timeout = timeout
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.refresh_margin = refresh_margin
        self._clock = clock
        self._session = session
        self._owns_session = session is None
        self._token: _Token | None = None
        self._token_lock = asyncio.Lock()

    @classmethod
    def from_config(cls, cfg: LaceworkConfig, **kw: Any) -> LaceworkClient:
        """A client for the ``[lacework]`` table; :class:`ConfigError` names a missing key."""
        base_url = cfg.base_url
        if not base_url:
            raise ConfigError("lacework.account: required (or lacework.api_url)")
        if not cfg.key_id:
            raise ConfigError("lacework.key_id: required (or LW_API_KEY)")
        secret = cfg.resolved_secret()
        if not secret:
            raise ConfigError("lacework.secret: required (or lacework.secret_file, LW_API_SECRET)")
        kw.setdefault("subaccount", cfg.subaccount)
        kw.setdefault("max_attempts", cfg.max_attempts)
        kw.setdefault("timeout", cfg.request_timeout_seconds)
        return cls(base_url=base_url, key_id=cfg.key_id, secret=secret, **kw)

    def __repr__(self) -> str:
        return (
            f"LaceworkClient(base_url={self.base_url!r}, key_id={self.key_id!r}, "
            f"subaccount={self.subaccount!r})"
        )

    # -- lifecycle ----------------------------------------------------------------------

    async def close(self) -> None:
        """Close the session if the client created it; forget the token."""
        self._token = None
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> LaceworkClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- API ----------------------------------------------------------------------------

    async def verify(self) -> None:
        """Get an access token: proves the account, the key id and the secret.

        Raises :class:`LaceworkAuthError` when the key is rejected,
        :class:`LaceworkUnavailable` after ``max_attempts`` transient failures.
        """
        attempt = 0
        while True:
            attempt += 1
            try:
                await self._ensure_token()
                return
            except _Transient as exc:
                await self._back_off(f"POST {TOKEN_PATH}", TOKEN_PATH, attempt, exc)

    async def alert_details(self, alert_id: str) -> dict[str, Any]:
        """``GET /api/v2/Alerts/{alert_id}?scope=Details``: the ``data`` object."""
        alert_id = str(alert_id).strip()
        if not alert_id:
            raise LaceworkError("alert_details: empty alert id")
        body = await self._get_json(
            f"/api/v2/Alerts/{quote(alert_id, safe='')}", {"scope": "Details"}
        )
        data = lookup(body, "data")
        if isinstance(data, list):
            data = data[0] if data else None
        if data is None:
            raise LaceworkNotFound(f"Lacework returned no details for alert {alert_id}")
        if not isinstance(data, Mapping):
            raise LaceworkError(f"alert {alert_id}: unexpected response (data is not an object)")
        return dict(data)

    async def report(self, account_id: str, report_type: str) -> dict[str, Any]:
        """``GET /api/v2/Reports`` (JSON) for one account and report type: ``data[0]``."""
        params = {"primaryQueryId": account_id, "format": "json", "reportType": report_type}
        body = await self._get_json("/api/v2/Reports", params)
        data = lookup(body, "data")
        if isinstance(data, Mapping):
            data = [data]
        if not isinstance(data, list):
            raise LaceworkError(f"report {report_type} for {account_id}: unexpected response")
        if not data:
            raise LaceworkNotFound(f"Lacework has no {report_type} report for account {account_id}")
        first = data[0]
        if not isinstance(first, Mapping):
            raise LaceworkError(f"report {report_type} for {account_id}: unexpected response")
        return dict(first)

    # -- requests -----------------------------------------------------------------------

    async def _get_json(self, path: str, params: Mapping[str, str]) -> Any:
        """GET with token handling and retries; the parsed JSON body of a 2xx answer."""
        what = f"GET {path}"
        attempt = 0
        refreshed = False
        while True:
            attempt += 1
            try:
                token = await self._ensure_token()
                status, headers, body = await self._send(
                    "GET", path, params=params, headers=self._data_headers(token)
                )
                if status in (401, 403):
                    if refreshed:
                        raise LaceworkAuthError(
                            f"Lacework {what}: {self.describe_error(status, body)} "
                            "(persisting after a new token; check the API key's access)",
                            status=status,
                        )
                    log.info("lacework_token_rejected", path=path, status=status)
                    self._drop_token(token)
                    refreshed = True
                    attempt -= 1  # a token refresh does not use up a transient attempt
                    continue
                self._raise_for_status(what, status, headers, body)
                if status == 204 or body is None:
                    return {}
                return body
            except _Transient as exc:
                await self._back_off(what, path, attempt, exc)

    async def _back_off(self, what: str, path: str, attempt: int, exc: _Transient) -> None:
        """Sleep before the next attempt, or raise :class:`LaceworkUnavailable`.

        An error of the token call is reported as the token call's, not as the data
        call's that needed the token.
        """
        if exc.what is not None:
            what, path = exc.what, exc.what.split(" ", 1)[-1]
        if attempt >= self.max_attempts:
            log.warning(
                "lacework_request_failed",
                path=path,
                attempts=attempt,
                status=exc.status,
                error=exc.detail,
            )
            raise LaceworkUnavailable(
                f"Lacework {what}: {exc.detail} (gave up after {attempt} attempts)",
                status=exc.status,
                retry_after=exc.retry_after,
            ) from None
        if exc.retry_after is not None and exc.retry_after > self.backoff_max:
            log.warning(
                "lacework_request_deferred",
                path=path,
                attempts=attempt,
                status=exc.status,
                retry_after=exc.retry_after,
            )
            raise LaceworkUnavailable(
                f"Lacework {what}: {exc.detail} (server asked to retry after {exc.retry_after:g}s)",
                status=exc.status,
                retry_after=exc.retry_after,
            ) from None
        delay = self._delay(attempt, exc.retry_after)
        log.info(
            "lacework_request_retry",
            path=path,
            attempt=attempt,
            status=exc.status,
            error=exc.detail,
            delay=round(delay, 3),
            retry_after=exc.retry_after,
        )
        await asyncio.sleep(delay)

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        cap = min(self.backoff_max, self.backoff_base * 2.0 ** min(attempt - 1, 32))
        delay = cap / 2 + random.uniform(0, cap / 2)  # noqa: S311 - jitter, not security
        if retry_after is not None:
            delay = max(delay, retry_after)
        return delay

    def _raise_for_status(
        self, what: str, status: int, headers: Mapping[str, str], body: Any
    ) -> None:
        if 200 <= status < 300:
            return
        described = self.describe_error(status, body)
        if status == 429 or 500 <= status < 600:
            retry_after = (
                retry_after_seconds(headers.get("Retry-After")) if status in (429, 503) else None
            )
            raise _Transient(described, status=status, retry_after=retry_after, what=what)
        if status == 404:
            raise LaceworkNotFound(f"Lacework {what}: {described}", status=status)
        raise LaceworkError(f"Lacework {what}: {described}", status=status)

    async def _send(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str],
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
    ) -> tuple[int, Mapping[str, str], Any]:
        """One HTTP exchange: (status, headers, parsed JSON or None). Transient errors raise."""
        session = self._get_session()
        try:
            async with session.request(
                method,
                self.base_url + path,
                params=params,
                json=json_body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                allow_redirects=False,
            ) as response:
                raw = await response.read()
                status = response.status
                response_headers = response.headers
        except TimeoutError:
            raise _Transient(f"timed out after {self.timeout:g}s") from None
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
            raise _Transient(f"connection error ({type(exc).__name__})") from None
        except aiohttp.ClientError as exc:
            raise LaceworkError(
                f"Lacework {method} {path}: {self._scrub(line(str(exc)) or type(exc).__name__)}"
            ) from None
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except (ValueError, RecursionError):
                if 200 <= status < 300:
                    raise LaceworkError(
                        f"Lacework {method} {path}: HTTP {status} with a body that is not JSON",
                        status=status,
                    ) from None
        return status, response_headers, body

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            if not self._owns_session:
                raise LaceworkError("the aiohttp session given to LaceworkClient is closed")
            self._session = aiohttp.ClientSession(headers={"User-Agent": _USER_AGENT})
        return self._session

    def _data_headers(self, token: str) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        if self.subaccount:
            headers["Account-Name"] = self.subaccount
        return headers

    def describe_error(self, status: int, body: Any) -> str:
        message = error_message(body)
        text = f"HTTP {status}: {message}" if message else f"HTTP {status}"
        return self._scrub(text)

    def _scrub(self, text: str) -> str:
        for secret in (self._secret, self._token.value if self._token else None):
            if secret:
                text = text.replace(secret, "***")
        return text

    # -- token --------------------------------------------------------------------------

    async def _ensure_token(self) -> str:
        token = self._token
        if token is not None and self._clock() < token.fresh_until:
            return token.value
        async with self._token_lock:
            token = self._token
            if token is not None and self._clock() < token.fresh_until:
                return token.value
            reason = "expiring" if token is not None else "none"
            self._token = None
            self._token = await self._fetch_token(reason)
            return self._token.value

    def _drop_token(self, value: str) -> None:
        """Forget ``value`` unless another caller already replaced it."""
        if self._token is not None and self._token.value == value:
            self._token = None

    async def _fetch_token(self, reason: str) -> _Token:
        what = f"POST {TOKEN_PATH}"
        try:
            status, headers, body = await self._send(
                "POST",
                TOKEN_PATH,
                headers={"X-LW-UAKS": self._secret, "Accept": "application/json"},
                json_body={"keyId": self.key_id, "expiryTime": TOKEN_EXPIRY_SECONDS},
            )
        except _Transient as exc:
            exc.what = what
            raise
        if status in (400, 401, 403):
            raise LaceworkAuthError(
                f"Lacework rejected the API key {self.key_id!r}: {self.describe_error(status, body)} "
                "(check lacework.key_id and lacework.secret)",
                status=status,
            )
        self._raise_for_status(what, status, headers, body)
        payload = body
        if isinstance(lookup(payload, "data"), list) and lookup(payload, "token") is None:
            rows = objects(lookup(payload, "data"))  # the v1 envelope {"data": [{...}]}
            payload = rows[-1] if rows else None
        value = lookup(payload, "token")
        if not isinstance(value, str) or not value.strip():
            raise LaceworkError(f"Lacework {what}: HTTP {status} without a token", status=status)
        value = value.strip()
        now = dt.datetime.now(dt.UTC)
        expires = parse_expires_at(lookup(payload, "expiresAt"))
        if expires is None:
            log.warning("lacework_token_expiry_unparsed")
            lifetime = float(TOKEN_EXPIRY_SECONDS)
        else:
            lifetime = max(0.0, (expires - now).total_seconds())
        margin = min(self.refresh_margin, lifetime / 2)
        log.info("lacework_token_issued", reason=reason, expires_in=round(lifetime))
        return _Token(value, self._clock() + lifetime - margin)
