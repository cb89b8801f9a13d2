"""Notifiers: the hook, the loader's fault isolation, the built-in Slack notifier."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import structlog
from aiohttp import web

from lw_remediate import (
    Change,
    ConfigError,
    MapLoadError,
    Notification,
    NotificationKind,
    Plan,
    hookimpl,
)
from lw_remediate.config import Config, load_config
from lw_remediate.errors import NotificationFailed
from lw_remediate.metrics import Metrics
from lw_remediate.notify import Notifiers
from lw_remediate.notify.slack import SlackNotifier, slack_message
from lw_remediate.plugins import load_notifiers

SECRET_PATH = "/services/T0SECRET/B0SECRET/xoxSuperSecretToken"

OUTCOME = Notification(
    kind=NotificationKind.OUTCOME,
    text="s3.enable_versioning remediated arn:aws:s3:::logs-bucket",
    status="remediated",
    remediation_id="s3.enable_versioning",
    rule_id="LW_S3_16",
    resource_arn="arn:aws:s3:::logs-bucket",
    account_id="123456789012",
    action_id="act-42",
    detail="enable versioning on bucket logs-bucket (now never enabled)",
)


@dataclass
class FakeSlack:
    """An incoming-webhook endpoint on 127.0.0.1 that answers from a script."""

    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    #: (status, headers, body) per request; the last one repeats.
    script: list[tuple[int, dict[str, str], str]] = field(default_factory=lambda: [(200, {}, "ok")])

    async def handle(self, request: web.Request) -> web.Response:
        self.paths.append(request.path)
        self.received.append(await request.json())
        status, headers, body = self.script[min(len(self.received), len(self.script)) - 1]
        return web.Response(status=status, headers=headers, text=body)


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    app = web.Application()
    app.router.add_post(SECRET_PATH, fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    fake.url = f"http://127.0.0.1:{port}{SECRET_PATH}"
    try:
        yield fake
    finally:
        await runner.cleanup()


def _no_sleep(notifier: SlackNotifier) -> list[float]:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    notifier._sleep = sleep
    return waits


def _field_texts(message: dict[str, Any]) -> list[str]:
    return [f["text"] for b in message["blocks"] for f in b.get("fields", [])]


# -- the Slack notifier ---------------------------------------------------------------


async def test_slack_receives_a_message_with_the_facts(slack):
    notifier = SlackNotifier(slack.url)
    with structlog.testing.capture_logs() as logs:
        await notifier.notify(OUTCOME)
    assert slack.paths == [SECRET_PATH]
    [message] = slack.received
    assert message["text"] == f"[remediated] {OUTCOME.text}"
    fields = _field_texts(message)
    for label, value in [
        ("Status", "remediated"),
        ("Remediation", "s3.enable_versioning"),
        ("Rule", "LW_S3_16"),
        ("Resource", "arn:aws:s3:::logs-bucket"),
        ("Account", "123456789012"),
        ("Action", "act-42"),
    ]:
        assert f"*{label}*\n`{value}`" in fields
    texts = [b["text"]["text"] for b in message["blocks"] if "text" in b]
    assert any(":white_check_mark:" in t and OUTCOME.text in t for t in texts)
    assert OUTCOME.detail in texts
    assert not [e for e in logs if e["log_level"] in {"warning", "error"}]


def test_message_escapes_mrkdwn_and_respects_slack_limits():
    note = Notification(
        kind=NotificationKind.ALERT_DEAD,
        text="alert <42> & co",
        detail="x" * 5000,
        resource_arn="arn:aws:s3:::a`b",
    )
    message = slack_message(note)
    head = message["blocks"][0]["text"]["text"]
    assert ":skull:" in head and "alert &lt;42&gt; &amp; co" in head
    assert "`arn:aws:s3:::a'b`" in _field_texts(message)[0]
    assert all(len(b["text"]["text"]) <= 3000 for b in message["blocks"] if "text" in b)
    assert message["text"].startswith("[alert_dead] ")


def test_a_dry_run_message_shows_the_plan_and_mode():
    plan = Plan(
        "enable versioning on bucket logs-bucket",
        changes=[Change("put_bucket_versioning", "arn:aws:s3:::logs-bucket", None, "Enabled")]
        + [Change("op", f"t{i}", {"a": i}, {"a": i + 1}) for i in range(6)],
        irreversible=True,
    )
    note = Notification(
        kind=NotificationKind.OUTCOME,
        text="planned",
        status="planned",
        detail="would enable versioning",
        data={"plan": plan.to_dict(), "mode": "dry-run"},
    )
    message = slack_message(note)
    assert "*Mode*\n`dry-run`" in _field_texts(message)
    [plan_text] = [
        b["text"]["text"] for b in message["blocks"] if "Plan:" in b.get("text", {}).get("text", "")
    ]
    assert plan_text.startswith("*Plan:* enable versioning on bucket logs-bucket\n")
    assert "• `put_bucket_versioning` arn:aws:s3:::logs-bucket: null → Enabled" in plan_text
    assert "… and 2 more" in plan_text and "not fully reversible" in plan_text
    # A plan that only repeats the detail adds nothing.
    same = Notification(
        NotificationKind.OUTCOME, "t", detail="x", data={"plan": Plan("x").to_dict()}
    )
    assert not [b for b in slack_message(same)["blocks"] if "Plan:" in str(b)]


async def test_a_500_is_retried_once_then_delivered(slack):
    slack.script = [(500, {}, "oops"), (200, {}, "ok")]
    notifier = SlackNotifier(slack.url)
    waits = _no_sleep(notifier)
    with structlog.testing.capture_logs() as logs:
        await notifier.notify(OUTCOME)
    assert len(slack.received) == 2 and slack.received[0] == slack.received[1]
    assert waits == [notifier.retry_delay]
    assert [e["event"] for e in logs if e["log_level"] != "debug"] == ["notify_retry"]


async def test_a_429_waits_for_retry_after(slack):
    slack.script = [(429, {"Retry-After": "3"}, "rate_limited"), (200, {}, "ok")]
    notifier = SlackNotifier(slack.url)
    waits = _no_sleep(notifier)
    await notifier.notify(OUTCOME)
    assert waits == [3.0]
    assert len(slack.received) == 2


async def test_retries_back_off_then_the_failure_is_raised_logged_and_counted(slack):
    slack.script = [(503, {}, "down"), (502, {}, "down"), (502, {}, "still down"), (200, {}, "ok")]
    notifier = SlackNotifier(slack.url)
    waits = _no_sleep(notifier)
    with pytest.raises(NotificationFailed) as caught:
        await notifier.notify(OUTCOME)
    assert len(slack.received) == 3
    assert waits == [notifier.retry_delay, 2 * notifier.retry_delay]  # exponential backoff
    assert str(caught.value) == "HTTP 502: still down"
    assert caught.value.fields == {"http_status": 502, "attempts": 3}


async def test_a_client_error_is_not_retried(slack):
    slack.script = [(404, {}, "no_service")]
    notifier = SlackNotifier(slack.url)
    with pytest.raises(NotificationFailed, match=r"^HTTP 404: no_service$"):
        await notifier.notify(OUTCOME)
    assert len(slack.received) == 1


async def test_a_retry_after_beyond_the_budget_is_not_waited_for(slack):
    slack.script = [(429, {"Retry-After": "30"}, ""), (200, {}, "ok")]
    notifier = SlackNotifier(slack.url, timeout=5)
    waits = _no_sleep(notifier)
    with pytest.raises(NotificationFailed, match="exceeds the 5s budget"):
        await notifier.notify(OUTCOME)
    assert waits == [] and len(slack.received) == 1


async def test_failures_are_counted_and_kept_as_the_notifier_state(slack):
    slack.script = [(404, {}, "no_service"), (200, {}, "ok")]
    metrics = Metrics()
    notifiers = Notifiers([SlackNotifier(slack.url)], metrics=metrics)
    with structlog.testing.capture_logs() as logs:
        await notifiers.send(OUTCOME)
    [failed] = [e for e in logs if e["event"] == "notify_failed"]
    assert (failed["error"], failed["http_status"], failed["attempts"]) == (
        "HTTP 404: no_service",
        404,
        1,
    )
    state = metrics.dependencies["notify.slack"]
    assert (state.state, state.failures) == ("failing", 1)
    assert state.detail == "outcome not delivered: HTTP 404: no_service"
    text = metrics.render().decode()
    assert 'lw_remediate_notify_failures_total{notifier="slack"} 1.0' in text
    assert 'lw_remediate_dependency_up{dependency="notify.slack"} 0.0' in text
    await notifiers.send(OUTCOME)  # Slack recovered
    assert metrics.dependencies["notify.slack"].state == "ok"
    text = metrics.render().decode()
    assert 'lw_remediate_notifications_sent_total{notifier="slack"} 1.0' in text
    assert 'lw_remediate_dependency_up{dependency="notify.slack"} 1.0' in text


async def test_statuses_filter_outcomes_but_not_other_kinds(slack):
    notifier = SlackNotifier(slack.url, statuses=["failed"])
    await notifier.notify(OUTCOME)
    assert slack.received == []
    await notifier.notify(Notification(NotificationKind.KILL_SWITCH, "kill switch engaged"))
    assert len(slack.received) == 1


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_the_webhook_url_never_appears_in_logs(slack, tmp_path):
    url_file = tmp_path / "slack_url"
    url_file.write_text(slack.url + "\n")
    unreachable = f"http://127.0.0.1:{_closed_port()}{SECRET_PATH}"
    with structlog.testing.capture_logs() as logs:
        [notifier] = load_notifiers(
            {"slack": {"webhook_url_file": str(url_file)}}, entry_points=False
        )
        _no_sleep(notifier)  # type: ignore[arg-type]
        for script in ([(500, {}, "x")], [(429, {"Retry-After": "99"}, "")], [(404, {}, "")]):
            slack.script = script
            await Notifiers([notifier]).send(OUTCOME)
        down = SlackNotifier(unreachable)
        _no_sleep(down)
        await Notifiers([down]).send(OUTCOME)
        # A broken table: the error names the key, not the value.
        load_notifiers({"slack": {"webhook_url": slack.url, "webhok": slack.url}})
    assert len(logs) > 6
    assert {e["event"] for e in logs} >= {"notify_failed", "notifier_load_failed"}
    text = repr(logs) + repr(notifier) + repr(down)
    for secret in ("xoxSuperSecretToken", "T0SECRET", "B0SECRET"):
        assert secret not in text


def test_only_https_or_loopback_http_is_accepted():
    SlackNotifier("https://hooks.slack.com/services/T/B/x")
    SlackNotifier("http://localhost:8080/hook")
    with pytest.raises(ConfigError, match="not an https:// URL") as info:
        SlackNotifier("http://hooks.slack.com/services/T/B/xoxSecret")
    assert "xoxSecret" not in str(info.value)


# -- Notifiers fan-out ----------------------------------------------------------------


class Recording:
    def __init__(self, name: str = "recording") -> None:
        self.name = name
        self.sent: list[Notification] = []

    async def notify(self, notification: Notification) -> None:
        self.sent.append(notification)


class Raising:
    name = "boom"

    async def notify(self, notification: Notification) -> None:
        raise RuntimeError("channel exploded")


async def test_a_notifier_that_raises_does_not_break_the_others():
    good = Recording()
    with structlog.testing.capture_logs() as logs:
        await Notifiers([Raising(), good]).send(OUTCOME)
    assert good.sent == [OUTCOME]
    [failed] = [e for e in logs if e["event"] == "notify_failed"]
    assert failed["notifier"] == "boom" and "channel exploded" in failed["error"]


async def test_a_hanging_notifier_is_cut_off_by_the_timeout():
    class Hanging:
        name = "hang"

        async def notify(self, notification: Notification) -> None:
            await asyncio.sleep(60)

    good = Recording()
    with structlog.testing.capture_logs() as logs:
        await Notifiers([Hanging(), good], timeout=0.05).send(OUTCOME)
    assert good.sent == [OUTCOME]
    assert [(e["notifier"], e["error"]) for e in logs if e["event"] == "notify_failed"] == [
        ("hang", "TimeoutError")
    ]


# -- the hook and the loader ----------------------------------------------------------


class CustomChannel:
    """A third-party notifier plugin: handles [notify.custom]."""

    def __init__(self) -> None:
        self.seen: list[Any] = []

    @hookimpl
    def lw_remediate_notifiers(self, config):
        self.seen.append(config)
        table = config.get("custom")
        return [Recording("custom")] if table and table.get("enabled") else []


def test_hook_lw_remediate_notifiers():
    plugin = CustomChannel()
    notifiers = load_notifiers(
        {"custom": {"enabled": True}, "slack": {"webhook_url": "https://hooks.slack.com/x"}},
        extra_plugins=[("lw-notify-custom", plugin)],
        entry_points=False,
    )
    assert [n.name for n in notifiers] == ["slack", "custom"]
    assert plugin.seen[0]["custom"] == {"enabled": True}
    assert not load_notifiers({}, extra_plugins=[("c", CustomChannel())], entry_points=False)


async def test_a_plugin_notifier_receives_notifications():
    [custom] = load_notifiers(
        {"custom": {"enabled": True}}, extra_plugins=[("c", CustomChannel())], entry_points=False
    )
    await Notifiers([custom]).send(OUTCOME)
    assert custom.sent == [OUTCOME]  # type: ignore[attr-defined]


def test_the_notifier_hook_gets_the_validated_notify_table(tmp_path):
    config_file = tmp_path / "config.toml"
    config_file.write_text(
        '[notify.slack]\nwebhook_url = "https://hooks.slack.com/services/T/B/x"\n'
        'statuses = ["failed", "unverified"]\n\n'
        "[notify.custom]\nenabled = true\nrecipients = ['ops']\n"
    )
    config = load_config(config_file, environ={})
    assert config.notify.channels()["custom"] == {"enabled": True, "recipients": ["ops"]}
    plugin = CustomChannel()
    slack, custom = load_notifiers(config.notify, extra_plugins=[("c", plugin)])
    assert isinstance(slack, SlackNotifier) and slack.statuses == {"failed", "unverified"}
    assert custom.name == "custom"
    # The whole model dumped (defaults included) works as well.
    assert [n.name for n in load_notifiers(config.notify.model_dump(), entry_points=False)] == [
        "slack"
    ]
    # Installed maps implement no notifier hook and are loaded without complaint; an
    # unconfigured Slack is silent.
    with structlog.testing.capture_logs() as logs:
        assert load_notifiers(Config().notify) == []
        assert load_notifiers(Config().notify.model_dump()) == []
    assert not [e for e in logs if e["log_level"] in {"warning", "error"}]


class BadConfig:
    @hookimpl
    def lw_remediate_notifiers(self, config):
        raise ConfigError("notify.custom.enabled: must be true")


class NotANotifier:
    @hookimpl
    def lw_remediate_notifiers(self):
        return ["not a notifier"]


class SyncNotifier:
    @hookimpl
    def lw_remediate_notifiers(self):
        class Sync:
            name = "sync"

            def notify(self, notification):
                pass

        return [Sync()]


class SecondSlack:
    @hookimpl
    def lw_remediate_notifiers(self):
        return [Recording("slack")]


@pytest.mark.parametrize(
    ("plugin", "message"),
    [
        (BadConfig(), "ConfigError: notify.custom.enabled: must be true"),
        (NotANotifier(), "returned str, not a Notifier"),
        (SyncNotifier(), "returned Sync, not a Notifier"),
        (SecondSlack(), "notifier name(s) already provided: slack"),
    ],
)
def test_a_failing_notifier_plugin_is_skipped_and_logged(plugin, message):
    tables = {"custom": {"enabled": True}, "slack": {"webhook_url": "https://hooks.slack.com/x"}}
    with structlog.testing.capture_logs() as logs:
        notifiers = load_notifiers(
            tables,
            extra_plugins=[("bad", plugin), ("good", CustomChannel())],
            entry_points=False,
        )
    assert [n.name for n in notifiers] == ["slack", "custom"]
    [failed] = [e for e in logs if e["event"] == "notifier_load_failed"]
    assert failed["distribution"] == "bad" and message in failed["error"]
    with pytest.raises(MapLoadError, match="bad"):
        load_notifiers(tables, extra_plugins=[("bad", plugin)], entry_points=False, strict=True)


def test_a_broken_slack_table_skips_slack_only(tmp_path):
    with structlog.testing.capture_logs() as logs:
        notifiers = load_notifiers(
            {"slack": {"webhook_url_file": str(tmp_path / "missing")}, "custom": {"enabled": 1}},
            extra_plugins=[("c", CustomChannel())],
            entry_points=False,
        )
    assert [n.name for n in notifiers] == ["custom"]
    [failed] = [e for e in logs if e["event"] == "notifier_load_failed"]
    assert failed["distribution"] == "lw_remediate.notify.slack"
    assert "notify.slack.webhook_url_file: cannot read" in failed["error"]


def test_a_channel_nobody_handles_is_reported():
    with structlog.testing.capture_logs() as logs:
        assert load_notifiers({"pagerduty": {"key": "k"}}, entry_points=False) == []
    assert [e["channel"] for e in logs if e["event"] == "notify_channel_unclaimed"] == ["pagerduty"]


def test_a_broken_installed_plugin_does_not_stop_the_notifiers(broken_map_dir, monkeypatch):
    import sys

    monkeypatch.syspath_prepend(str(broken_map_dir))
    with structlog.testing.capture_logs() as logs:
        notifiers = load_notifiers({"slack": {"webhook_url": "https://hooks.slack.com/x"}})
    assert [n.name for n in notifiers] == ["slack"]
    assert [e["distribution"] for e in logs if e["event"] == "notifier_load_failed"] == [
        "lw-map-broken"
    ]
    sys.modules.pop("lw_map_broken", None)


# -- configuration --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[notify]\nteams = 3\n", "notify.teams: Input should be a valid dictionary"),
        ('[notify.slack]\nwebhok_url = "x"\n', "notify.slack.webhok_url: unknown key"),
        ('[notify.slack]\nstatuses = ["done"]\n', "notify.slack.statuses.0: Input should be"),
    ],
)
def test_notify_config_errors_name_the_key(tmp_path, toml, message):
    path = tmp_path / "config.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        load_config(path, environ={})
