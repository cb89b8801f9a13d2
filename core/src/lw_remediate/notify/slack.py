"""Slack: post each notification to an incoming webhook.

Configured under ``[notify.slack]`` with ``webhook_url`` or ``webhook_url_file``.
The webhook URL is a secret (anyone holding it can post to the channel): it is
never logged, never part of an error message, and never in ``repr``.

Delivery: one POST of a JSON message (``text`` for the notification preview plus
``blocks``), retried on 5xx, 429 or a refused connection up to ``max_attempts`` in
all, with exponential backoff (``retry_delay``, doubling) or after the server's
``Retry-After`` when given. The whole delivery, retries included, fits in
``timeout_seconds``; a retry that would not fit is not attempted. A delivery that
fails raises :class:`~lw_remediate.errors.NotificationFailed`; the fan-out
(:class:`~lw_remediate.notify.Notifiers`) logs it (``notify_failed``), counts it and
shows it on ``/readyz``: a notification never fails an action.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import pydantic
import structlog
import yarl

from .._markers import hookimpl
from ..config import SlackConfig
from ..errors import ConfigError, NotificationFailed
from ..notification import Notification, NotificationKind, Notifier
from ..retry_after import retry_after_seconds

log = structlog.get_logger(__name__)

#: Slack's limits: section text 3000 characters, a field 2000, at most 10 fields.
_SECTION_LIMIT = 3000
_FIELD_LIMIT = 2000

_STATUS_EMOJI: Mapping[str, str] = {
    "remediated": ":white_check_mark:",
    "resolved": ":heavy_check_mark:",
    "planned": ":memo:",
    "manual": ":wrench:",
    "refused": ":no_entry:",
    "unverified": ":warning:",
    "failed": ":x:",
    "no_remediation": ":grey_question:",
    "awaiting_approval": ":raising_hand:",
    "exempted": ":see_no_evil:",
    "reverted": ":leftwards_arrow_with_hook:",
}
_KIND_EMOJI: Mapping[NotificationKind, str] = {
    NotificationKind.APPROVAL_REQUESTED: ":raising_hand:",
    NotificationKind.BUDGET_EXCEEDED: ":octagonal_sign:",
    NotificationKind.FLAPPING: ":repeat:",
    NotificationKind.KILL_SWITCH: ":rotating_light:",
    NotificationKind.ALERT_DEAD: ":skull:",
}


@hookimpl
def lw_remediate_notifiers(config: Mapping[str, Any]) -> list[Notifier]:
    """A :class:`SlackNotifier` when ``[notify.slack]`` names a webhook URL (or its file)."""
    table = config.get("slack")
    if not table:
        return []
    try:
        settings = table if isinstance(table, SlackConfig) else SlackConfig.model_validate(table)
    except pydantic.ValidationError as exc:
        # Not str(exc): pydantic quotes the input, which may be the webhook URL.
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"])
        message = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        raise ConfigError(f"notify.slack.{loc}: {message}") from None
    if not settings.configured:
        return []
    url = settings.resolved_url()
    if not url:
        raise ConfigError("notify.slack: the webhook URL is empty")
    return [
        SlackNotifier(
            url,
            timeout=settings.timeout_seconds,
            statuses=[str(s) for s in settings.statuses] if settings.statuses else None,
        )
    ]


def _escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _code(text: str) -> str:
    """Text for an inline code span: escaped, and no backtick to end it early."""
    return _escape(text).replace("`", "'")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_message(notification: Notification) -> dict[str, Any]:
    """The incoming-webhook payload for one notification."""
    n = notification
    emoji = _STATUS_EMOJI.get(n.status or "", "") or _KIND_EMOJI.get(n.kind, ":bell:")
    label = n.status or str(n.kind)
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": _clip(f"{emoji} *{_escape(n.text)}*", _SECTION_LIMIT),
            },
        }
    ]
    facts = [
        ("Status", n.status),
        ("Remediation", n.remediation_id),
        ("Rule", n.rule_id),
        ("Resource", n.resource_arn),
        ("Account", n.account_id),
        ("Action", n.action_id),
        ("Mode", _text_or_none(n.data.get("mode"))),
    ]
    fields = [
        {
            "type": "mrkdwn",
            "text": _clip(f"*{name}*\n`{_code(value)}`", _FIELD_LIMIT),
        }
        for name, value in facts
        if value
    ]
    if fields:
        blocks.append({"type": "section", "fields": fields})
    if n.detail:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": _clip(_escape(n.detail), _SECTION_LIMIT)},
            }
        )
    plan = _plan_text(n.data.get("plan"), detail=n.detail)
    if plan:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": _clip(plan, _SECTION_LIMIT)}}
        )
    url = n.data.get("approval_url")
    if isinstance(url, str) and url:
        link = f"<{_escape(url).replace('|', '%7C')}|Approve or reject in the console>"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": link}})
    blocks.append(
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": f"lw-remediate · {_escape(str(n.kind))}"}],
        }
    )
    return {"text": _clip(f"[{label}] {n.text}", _SECTION_LIMIT), "blocks": blocks}


def _text_or_none(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    return _clip(text, 80)


def _plan_text(plan: Any, *, detail: str, max_changes: int = 5) -> str:
    """The plan (``Plan.to_dict()`` in ``data["plan"]``): summary and first changes."""
    if not isinstance(plan, Mapping):
        return ""
    summary = str(plan.get("summary") or "")
    changes = [c for c in plan.get("changes") or () if isinstance(c, Mapping)]
    if not changes and (not summary or summary == detail):
        return ""
    lines = [f"*Plan:* {_escape(summary)}" if summary and summary != detail else "*Plan:*"]
    for change in changes[:max_changes]:
        lines.append(
            f"• `{_code(str(change.get('operation', '?')))}` {_escape(str(change.get('target', '')))}: "
            f"{_escape(_value(change.get('before')))} → {_escape(_value(change.get('after')))}"
        )
    if len(changes) > max_changes:
        lines.append(f"… and {len(changes) - max_changes} more")
    if plan.get("irreversible"):
        lines.append(":warning: not fully reversible")
    return "\n".join(lines)


@dataclass(frozen=True)
class _Attempt:
    status: int | None
    error: str
    retryable: bool
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class SlackNotifier:
    """Posts notifications to one Slack incoming webhook."""

    name = "slack"

    def __init__(
        self,
        webhook_url: str,
        *,
        timeout: float = 8.0,
        statuses: Iterable[str] | None = None,
        retry_delay: float = 1.0,
        max_attempts: int = 3,
    ) -> None:
        """Validate the URL (``https``, or ``http`` on a loopback host only).

        :param webhook_url: the incoming-webhook URL (a secret).
        :param timeout: seconds for the whole delivery, retry included.
        :param statuses: send outcomes only with these statuses (other kinds always).
        :param retry_delay: seconds before the first retry when the server gives no
            Retry-After; doubles for each further retry.
        :param max_attempts: attempts in all (the first included).
        """
        url = yarl.URL(webhook_url)
        if not url.host or not (
            url.scheme == "https" or (url.scheme == "http" and _is_loopback(url.host))
        ):
            # The message must not quote the URL.
            raise ConfigError("notify.slack.webhook_url: not an https:// URL")
        self._url = webhook_url
        self._secrets = sorted(
            {webhook_url, str(url), url.path_qs} - {"", "/"}, key=len, reverse=True
        )
        self.timeout = timeout
        self.statuses = frozenset(statuses) if statuses is not None else None
        self.retry_delay = retry_delay
        self.max_attempts = max_attempts
        self._sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    def __repr__(self) -> str:
        return f"SlackNotifier(webhook_url='***', timeout={self.timeout!r})"

    def wants(self, notification: Notification) -> bool:
        """False for an outcome whose status the operator filtered out."""
        if self.statuses is None or notification.kind is not NotificationKind.OUTCOME:
            return True
        return notification.status in self.statuses

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "<webhook>")
        return text

    async def notify(self, notification: Notification) -> None:
        """Deliver one notification; :class:`NotificationFailed` when it cannot."""
        if not self.wants(notification):
            return
        payload = slack_message(notification)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        attempts = 0
        async with aiohttp.ClientSession() as session:
            while True:
                attempts += 1
                result = await self._post(session, payload, deadline - loop.time())
                if result.ok:
                    log.debug(
                        "notify_sent",
                        notifier=self.name,
                        kind=str(notification.kind),
                        attempts=attempts,
                    )
                    return
                error = result.error
                if attempts >= self.max_attempts or not result.retryable:
                    break
                backoff = self.retry_delay * 2 ** (attempts - 1)
                wait = result.retry_after if result.retry_after is not None else backoff
                # Leave the retry at least a second of its own.
                if loop.time() + wait + 1.0 > deadline:
                    error += (
                        f"; not retried: waiting {wait:g}s exceeds the {self.timeout:g}s budget"
                    )
                    break
                log.info(
                    "notify_retry",
                    notifier=self.name,
                    http_status=result.status,
                    wait_seconds=wait,
                    error=self._scrub(result.error),
                )
                await self._sleep(wait)
        raise NotificationFailed(self._scrub(error), http_status=result.status, attempts=attempts)

    async def _post(
        self, session: aiohttp.ClientSession, payload: dict[str, Any], remaining: float
    ) -> _Attempt:
        timeout = aiohttp.ClientTimeout(total=max(remaining, 0.05))
        try:
            async with session.post(
                self._url, json=payload, timeout=timeout, allow_redirects=False
            ) as resp:
                body = (await resp.text(errors="replace")).strip()
                status = resp.status
                retry_after = retry_after_seconds(resp.headers.get("Retry-After"))
        except aiohttp.ClientConnectorError as exc:
            # Nothing reached the server: safe to retry. ``exc.os_error`` names no URL.
            return _Attempt(None, f"cannot connect: {exc.os_error.strerror or 'error'}", True)
        except TimeoutError:
            return _Attempt(None, "timed out", False)
        except aiohttp.ClientError as exc:
            # str() of some aiohttp errors quotes the request URL: keep only the type.
            return _Attempt(None, type(exc).__name__, False)
        error = f"HTTP {status}: {_clip(body, 200)}" if body else f"HTTP {status}"
        retryable = status == 429 or status >= 500
        return _Attempt(status, error, retryable, retry_after)
