"""The web console's security: no page without a session, CSRF on every form, the
session cookie's flags, logout, and stored text rendered inert.

Plain HTTP against a daemon on a loopback port (moto, the fake Lacework); the browser
tests are in test_console_browser.py.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from html import unescape

import aiohttp
import pytest

from lw_remediate.model import Status
from lw_remediate.store.base import ChangeRow
from lw_remediate.testing.fake_lacework import load_fixture

ACCOUNT = "123456789012"
ADMIN = "admin-" + secrets.token_urlsafe(24)
CAROL = "carol-" + secrets.token_urlsafe(24)

#: Every console route: (method, path). A test holds this list against the router.
ROUTES = [
    ("GET", "/ui/"),
    ("GET", "/ui/approvals"),
    ("POST", "/ui/actions/x/approve"),
    ("POST", "/ui/actions/x/reject"),
    ("POST", "/ui/logout"),
    ("GET", "/ui/actions"),
    ("GET", "/ui/actions/x"),
    ("POST", "/ui/actions/x/undo"),
    ("GET", "/ui/exemptions"),
    ("POST", "/ui/exemptions"),
    ("POST", "/ui/exemptions/x/remove"),
    ("GET", "/ui/kill-switch"),
    ("POST", "/ui/kill-switch/on"),
    ("POST", "/ui/kill-switch/off"),
    ("POST", "/ui/inbox/x/retry"),
    ("POST", "/ui/flapping/clear"),
    ("GET", "/ui/sweeps"),
    ("POST", "/ui/sweeps"),
    ("GET", "/ui/sweeps/x"),
    ("POST", "/ui/sweeps/x/stop"),
    ("GET", "/ui/maps"),
]


async def start(start_daemon, **overrides):
    server = {"admin_token": ADMIN, "operators": {"carol": CAROL}, **overrides.pop("server", {})}
    return await start_daemon(server=server, **overrides)


def browser() -> aiohttp.ClientSession:
    # unsafe=True: keep cookies for an IP address host (127.0.0.1), as a browser does.
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


async def login(http: aiohttp.ClientSession, url: str, token: str, **headers: str):
    async with http.get(f"{url}/ui/login", headers=headers) as resp:
        assert resp.status == 200
        form = {"csrf": csrf_of(await resp.text()), "token": token}
    if headers:  # a Secure login cookie is not sent back over plain HTTP: send it as a proxy would
        headers = {**headers, "Cookie": f"lwr_login={form['csrf']}"}
    async with http.post(
        f"{url}/ui/login", data=form, allow_redirects=False, headers=headers
    ) as resp:
        return resp.status, resp.headers.getall("Set-Cookie", []), resp.headers.get("Location")


async def page(http: aiohttp.ClientSession, url: str, path: str) -> tuple[int, str]:
    async with http.get(f"{url}{path}", allow_redirects=False) as resp:
        return resp.status, await resp.text()


def test_route_list_is_complete():
    from lw_remediate.web.ui import ui_app

    app = ui_app()
    routes = {
        (r.method, "/ui" + (r.resource.canonical if r.resource else ""))
        for r in app.router.routes()
        if r.method != "HEAD"
    }
    public = {("GET", "/ui/login"), ("POST", "/ui/login"), ("GET", "/ui/static")}
    declared = {(m, re.sub(r"/x(/|$)", r"/{id}\1", p)) for m, p in ROUTES}
    assert routes - public == declared


async def test_every_route_needs_a_session(start_daemon):
    daemon = await start(start_daemon)
    async with browser() as http:
        for method, path in ROUTES:
            # The admin token as a Bearer does not open the console either: it is a login.
            async with http.request(
                method,
                f"{daemon.url}{path}",
                allow_redirects=False,
                headers={"Authorization": f"Bearer {ADMIN}"},
            ) as resp:
                if method == "GET":
                    assert resp.status == 303, path
                    assert resp.headers["Location"] == "/ui/login"
                else:
                    assert resp.status == 401, path
                assert "Content-Security-Policy" in resp.headers
        # A made-up session cookie is no session.
        http.cookie_jar.update_cookies({"lwr_session": "forged"})
        status, _ = await page(http, daemon.url, "/ui/")
        assert status == 303


async def test_console_is_off_without_an_admin_token(start_daemon):
    daemon = await start_daemon()
    async with browser() as http:
        status, _ = await page(http, daemon.url, "/ui/login")
        assert status == 404


async def test_login_sets_a_strict_httponly_cookie_and_names_the_operator(start_daemon):
    daemon = await start(start_daemon)
    async with browser() as http:
        status, _, _ = await login(http, daemon.url, "wrong-" + secrets.token_urlsafe(20))
        assert status == 401
        status, cookies, location = await login(http, daemon.url, CAROL)
        assert status == 303 and location == "/ui/"
        session = next(c for c in cookies if c.startswith("lwr_session="))
        flags = {f.strip().lower() for f in session.split(";")[1:]}
        assert {"httponly", "samesite=strict", "path=/ui"} <= flags
        assert "secure" not in flags  # plain HTTP: a Secure cookie would never come back
        assert CAROL not in session
        status, html = await page(http, daemon.url, "/ui/")
        assert status == 200 and "carol" in html and CAROL not in html
    # Behind a TLS-terminating proxy the cookie is Secure.
    async with browser() as http:
        _, cookies, _ = await login(http, daemon.url, ADMIN, **{"X-Forwarded-Proto": "https"})
        session = next(c for c in cookies if c.startswith("lwr_session="))
        assert "secure" in {f.strip().lower() for f in session.split(";")[1:]}


async def test_pages_carry_a_strict_csp(start_daemon):
    daemon = await start(start_daemon)
    async with browser() as http:
        await login(http, daemon.url, ADMIN)
        async with http.get(f"{daemon.url}/ui/") as resp:
            csp = resp.headers["Content-Security-Policy"]
            assert "default-src 'none'" in csp and "script-src 'self'" in csp
            assert "unsafe-inline" not in csp
            assert resp.headers["X-Frame-Options"] == "DENY"


async def test_logout_ends_the_session(start_daemon):
    daemon = await start(start_daemon)
    async with browser() as http:
        await login(http, daemon.url, ADMIN)
        status, html = await page(http, daemon.url, "/ui/")
        assert status == 200
        old = {c.key: c.value for c in http.cookie_jar}["lwr_session"]
        async with http.post(
            f"{daemon.url}/ui/logout", data={"csrf": csrf_of(html)}, allow_redirects=False
        ) as resp:
            assert resp.status == 303 and resp.headers["Location"] == "/ui/login"
        status, _ = await page(http, daemon.url, "/ui/")
        assert status == 303
    # The old cookie replayed by someone who kept it opens nothing.
    async with browser() as http:
        http.cookie_jar.update_cookies({"lwr_session": old})
        status, _ = await page(http, daemon.url, "/ui/approvals")
        assert status == 303


async def _awaiting(daemon, fake_lacework, s3, bucket: str) -> str:
    s3.create_bucket(Bucket=bucket)
    fake_lacework.add_compliance_alert(
        "61001", "LW_S3_16", [(f"arn:aws:s3:::{bucket}", "us-east-1", ACCOUNT)]
    )
    body = load_fixture("webhook_classic_compliance_lw_s3_16.json")
    body.update(event_id="61001", rec_id="LW_S3_16")
    status, _ = await daemon.post(body)
    assert status == 202
    await daemon.settle()
    rows = await daemon.engine.store.list_actions(status=str(Status.AWAITING_APPROVAL))
    assert len(rows) == 1
    return rows[0].record.id or ""


async def test_a_form_without_its_csrf_token_changes_nothing(
    start_daemon, fake_lacework, admin_client
):
    s3 = admin_client("s3")
    daemon = await start(start_daemon, remediation={"default_mode": "approve"})
    action_id = await _awaiting(daemon, fake_lacework, s3, "csrf-bucket")
    async with browser() as http:
        await login(http, daemon.url, CAROL)
        for form in ({}, {"csrf": "wrong"}, {"csrf": ""}):
            async with http.post(
                f"{daemon.url}/ui/actions/{action_id}/approve", data=form, allow_redirects=False
            ) as resp:
                assert resp.status == 403
        row = await daemon.engine.store.get_action(action_id)
        assert row is not None and row.record.status is Status.AWAITING_APPROVAL
        assert "Status" not in s3.get_bucket_versioning(Bucket="csrf-bucket")
        # With the token from the page, the same form approves, as carol.
        _, html = await page(http, daemon.url, "/ui/approvals")
        assert "csrf-bucket" in html
        async with http.post(
            f"{daemon.url}/ui/actions/{action_id}/approve",
            data={"csrf": csrf_of(html)},
            allow_redirects=False,
        ) as resp:
            assert resp.status == 303
        assert s3.get_bucket_versioning(Bucket="csrf-bucket")["Status"] == "Enabled"
        events = await daemon.engine.store.audit_events(action_id=action_id, limit=50)
        assert any(e.kind == "approved" and e.actor == "carol" for e in events)


async def test_login_form_needs_its_csrf_token(start_daemon):
    daemon = await start(start_daemon)
    async with (
        browser() as http,
        http.post(f"{daemon.url}/ui/login", data={"token": ADMIN}, allow_redirects=False) as resp,
    ):
        assert resp.status == 403
        assert not any(c.startswith("lwr_session=") for c in resp.headers.getall("Set-Cookie", []))


@pytest.mark.parametrize("where", ["resource", "url"])
async def test_script_in_stored_text_is_rendered_inert(start_daemon, where):
    daemon = await start(start_daemon)
    evil = "<script>alert(1)</script>"
    async with browser() as http:
        await login(http, daemon.url, ADMIN)
        _, html = await page(http, daemon.url, "/ui/approvals")
        if where == "url":
            # An id in the path that is echoed back in the error message (no "/" in it).
            evil = "<script>alert(1)<\\script>"
            async with http.post(
                f"{daemon.url}/ui/actions/{evil}/reject", data={"csrf": csrf_of(html)}
            ) as resp:
                text = await resp.text()
                assert resp.status == 404
                assert "no action &#39;&lt;script&gt;alert(1)&lt;" in text
        else:
            action_id = await _store_awaiting(daemon, f"arn:aws:s3:::{evil}")
            text = ""
            for path in ("/ui/approvals", "/ui/actions", f"/ui/actions/{action_id}"):
                status, html = await page(http, daemon.url, path)
                assert status == 200
                assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, path
                assert evil not in html, path
                text += html
        assert evil not in text
        # The only script element is the console's own htmx file.
        assert text.count("<script") == text.count('<script src="/ui/static/htmx.min.js"') >= 1


async def _store_awaiting(daemon, arn: str) -> str:
    """An action awaiting approval whose violation names ``arn`` (stored as the runner
    stores one: Lacework chose the name, the console must not trust it)."""
    from lw_remediate.model import ActionRecord, Mode, Plan, Violation

    store = daemon.engine.store
    violation = Violation(rule_id="LW_S3_16", resource_arn=arn, account_id=ACCOUNT)
    violation_id = await store.add_violation(None, violation)
    record, _ = await store.create_action(
        violation_id,
        None,
        ActionRecord(remediation_id="s3.enable_versioning", violation=violation, mode=Mode.APPROVE),
    )
    record.status, record.state = Status.AWAITING_APPROVAL, "awaiting_approval"
    record.plan = Plan(summary=f"enable versioning on {arn}")
    record.detail = "waits for approval"
    await store.save_action(record)
    return record.id or ""


class _Recorder:
    name = "recorder"

    def __init__(self) -> None:
        self.sent: list = []

    async def notify(self, notification) -> None:
        self.sent.append(notification)


async def test_slack_approval_message_links_to_the_approval_page(
    start_daemon, fake_lacework, admin_client
):
    from lw_remediate.notify import NotificationKind
    from lw_remediate.notify.slack import slack_message

    daemon = await start(
        start_daemon,
        server={"public_url": "https://remediate.example.com/"},
        remediation={"default_mode": "approve"},
    )
    recorder = _Recorder()
    daemon.engine.notifiers.notifiers.append(recorder)
    action_id = await _awaiting(daemon, fake_lacework, admin_client("s3"), "linked-bucket")
    [requested] = [n for n in recorder.sent if n.kind is NotificationKind.APPROVAL_REQUESTED]
    url = f"https://remediate.example.com/ui/approvals#action-{action_id}"
    assert requested.data["approval_url"] == url
    texts = [b["text"]["text"] for b in slack_message(requested)["blocks"] if "text" in b]
    assert f"<{url}|Approve or reject in the console>" in texts


async def test_overview_retries_a_dead_alert_and_clears_a_flapping_resource(start_daemon):
    daemon = await start(start_daemon)
    store = daemon.engine.store
    [(inbox_id, _)] = await store.enqueue([("dead-1", "classic", "dead-1", {"x": 1})])
    await store.mark_inbox(inbox_id, "dead", error="Lacework said 404")
    arn = "arn:aws:s3:::flappy-<b>"
    await store.flag_flapping("LW_S3_16", ACCOUNT, arn, changes=5, now=daemon.engine.safety.clock())
    async with browser() as http:
        await login(http, daemon.url, CAROL)
        status, html = await page(http, daemon.url, "/ui/")
        assert status == 200
        assert "Lacework said 404" in html and "flappy-&lt;b&gt;" in html
        csrf = csrf_of(html)
        async with http.post(
            f"{daemon.url}/ui/inbox/{inbox_id}/retry", data={"csrf": csrf}, allow_redirects=False
        ) as resp:
            assert resp.status == 303
        row = await store.get_inbox(inbox_id)
        # Queued again with a fresh attempt count; the worker may already have taken it
        # again (its body still cannot be read, so it ends dead once more, attempt 1).
        assert row is not None and (row.state != "dead" or row.attempts == 1)
        async with http.post(
            f"{daemon.url}/ui/flapping/clear",
            data={"csrf": csrf, "resource_arn": arn, "rule_id": "LW_S3_16"},
            allow_redirects=False,
        ) as resp:
            assert resp.status == 303
        assert await store.list_flapping() == []
        # Retrying what is not dead is refused with the reason, as plain text.
        async with http.post(
            f"{daemon.url}/ui/inbox/{inbox_id + 99}/retry", data={"csrf": csrf}
        ) as resp:
            assert resp.status == 404 and f"no inbox entry {inbox_id + 99}" in await resp.text()
    events = await store.audit_events(limit=50)
    assert {(e.kind, e.actor) for e in events} >= {
        ("inbox_retried", "carol"),
        ("flap_cleared", "carol"),
    }


async def test_every_form_refuses_a_post_without_its_csrf_token(start_daemon):
    """Each POST route, logged in, without the token or with a wrong one: 403 and
    nothing written (no audit event, no sweep, the kill switch still off)."""
    daemon = await start(start_daemon)
    store = daemon.engine.store
    posts = [path for method, path in ROUTES if method == "POST" and path != "/ui/logout"]
    async with browser() as http:
        await login(http, daemon.url, CAROL)
        _, html = await page(http, daemon.url, "/ui/")
        real = csrf_of(html)
        for path in posts:
            for form in ({}, {"csrf": ""}, {"csrf": real[:-1]}, {"csrf": ADMIN}):
                data = {
                    **form,
                    "accounts": ACCOUNT,
                    "reason": "r",
                    "owner": "o",
                    "arn": "arn:aws:s3:::b",
                    "resource_arn": "arn:aws:s3:::b",
                }
                async with http.post(
                    f"{daemon.url}{path}", data=data, allow_redirects=False
                ) as resp:
                    assert resp.status == 403, (path, form)
                    assert "CSRF" in await resp.text()
        # Logging out is a form too: without the token the session stays.
        async with http.post(f"{daemon.url}/ui/logout", allow_redirects=False) as resp:
            assert resp.status == 403
        status, _ = await page(http, daemon.url, "/ui/")
        assert status == 200
    assert await store.audit_events(limit=10) == []
    assert await store.list_sweeps() == []
    assert await store.list_exemptions() == []
    assert not daemon.engine.safety.kill_switch.is_on()


async def test_every_page_answers_with_the_security_headers(start_daemon):
    daemon = await start(start_daemon)
    async with browser() as http:
        await login(http, daemon.url, CAROL)
        for method, path in ROUTES:
            if method != "GET":
                continue
            # An unknown id answers 404 with the reason, under the same headers.
            async with http.get(f"{daemon.url}{path}", allow_redirects=False) as resp:
                assert resp.status == (404 if path.endswith("/x") else 200), path
                assert resp.headers["Content-Security-Policy"].startswith("default-src 'none'")
                assert resp.headers["X-Frame-Options"] == "DENY"
                assert resp.headers["Cache-Control"] == "no-store"
                assert resp.headers["Referrer-Policy"] == "no-referrer"


async def test_script_typed_into_a_form_is_echoed_inert(start_daemon):
    """What an operator types comes back escaped: a refused sweep (accounts echoed in
    the reason and the form) and an exemption's owner and reason."""
    daemon = await start(start_daemon)
    evil = "<script>alert(1)</script>"
    async with browser() as http:
        await login(http, daemon.url, CAROL)
        _, html = await page(http, daemon.url, "/ui/sweeps")
        csrf = csrf_of(html)
        async with http.post(
            f"{daemon.url}/ui/sweeps", data={"csrf": csrf, "accounts": evil, "rules": evil}
        ) as resp:
            text = await resp.text()
            assert resp.status == 400
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and evil not in text
        async with http.post(
            f"{daemon.url}/ui/exemptions",
            data={"csrf": csrf, "arn": f"arn:aws:s3:::{evil}", "owner": evil, "reason": evil},
            allow_redirects=False,
        ) as resp:
            assert resp.status == 303
        status, html = await page(http, daemon.url, "/ui/exemptions")
        assert status == 200
        assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 3 and evil not in html
        for answer in (text, html):
            assert answer.count("<script") == answer.count('<script src="/ui/static/htmx.min.js"')


async def test_sweeps_from_the_console_name_the_operator_and_refuse_bad_input(start_daemon):
    daemon = await start(start_daemon)
    async with browser() as http:
        await login(http, daemon.url, CAROL)
        _, text = await page(http, daemon.url, "/ui/sweeps")
        csrf = csrf_of(text)
        for form, reason in [
            ({}, "give at least one accounts ID (or all_accounts)"),
            ({"accounts": ACCOUNT, "mode": "off"}, "mode: 'off' would do nothing"),
            ({"accounts": ACCOUNT, "rules": "NOPE"}, "rules: no installed remediation handles"),
            ({"accounts": ACCOUNT, "report_types": "AWS_NOPE"}, "report_types: 'AWS_NOPE'"),
        ]:
            async with http.post(f"{daemon.url}/ui/sweeps", data={"csrf": csrf, **form}) as resp:
                assert resp.status == 400, form
                assert reason in unescape(await resp.text()), form
        assert await daemon.engine.store.list_sweeps() == []
        for path in ("/ui/sweeps/7", "/ui/sweeps/abc"):
            status, text = await page(http, daemon.url, path)
            assert status == 404 and "sweep" in text
        async with http.post(f"{daemon.url}/ui/sweeps/7/stop", data={"csrf": csrf}) as resp:
            assert resp.status == 404 and "no sweep 7" in await resp.text()


async def test_stopping_a_sweep_from_the_console_names_the_operator(
    start_daemon, fake_lacework, admin_client
):
    """A sweep held inside its one action: Stop on its page stops it, audited as carol
    (ui); the action running finishes, and a second Stop is refused with the reason."""
    from lw_remediate.operate.sweep import SweepStore

    from .test_console_browser import FAST_SWEEP, HoldCredentials, public_report

    s3 = admin_client("s3")
    report = public_report("stop-me")
    for bucket in ("stop-me", "never-started"):
        s3.create_bucket(Bucket=bucket, ACL="public-read")
    [rec] = [r for r in report["recommendations"] if r["REC_ID"] == "LW_S3_1"]
    rec["VIOLATIONS"].append({"resource": "arn:aws:s3:::never-started", "region": "us-east-1"})
    fake_lacework.add_report(ACCOUNT, "AWS_CIS_S3", report)
    # One action at a time in the lane: the second waits while the first is held.
    daemon = await start(start_daemon, sweep=FAST_SWEEP | {"concurrency_per_region": 1})
    hold = HoldCredentials(daemon.engine)
    async with browser() as http:
        await login(http, daemon.url, CAROL)
        _, text = await page(http, daemon.url, "/ui/sweeps")
        csrf = csrf_of(text)
        async with http.post(
            f"{daemon.url}/ui/sweeps",
            data={"csrf": csrf, "accounts": ACCOUNT, "rules": "LW_S3_1", "mode": "dry-run"},
            allow_redirects=False,
        ) as resp:
            assert resp.status == 303 and resp.headers["Location"] == "/ui/sweeps/1"
        await hold.entered.wait()
        async with http.post(
            f"{daemon.url}/ui/sweeps/1/stop", data={"csrf": csrf}, allow_redirects=False
        ) as resp:
            assert resp.status == 303
        hold.release.set()
        [task] = [t for t in asyncio.all_tasks() if t.get_name() == "sweep-1"] or [None]
        if task is not None:
            await task
        row = await SweepStore(daemon.engine.store).get(1)
        assert row is not None
        assert (row["state"], row["done"], row["not_started"]) == ("interrupted", 1, 1)
        async with http.post(f"{daemon.url}/ui/sweeps/1/stop", data={"csrf": csrf}) as resp:
            assert resp.status == 409
            assert "sweep 1 is not running here (state interrupted)" in await resp.text()
    events = {
        (e.kind, e.actor, e.data.get("via")) for e in await daemon.engine.store.audit_events()
    }
    assert ("sweep_stop_requested", "carol", "ui") in events
    assert ("sweep_started", "carol", "ui") in events


def test_the_maps_page_renders_a_map_s_own_text_inert():
    """Titles, activity classes and policy text come from installed maps (third-party
    code): the maps template escapes them like everything else."""
    import jinja2

    from lw_remediate.web.ui import HERE, pretty, when

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(when=when, pretty=pretty)
    evil = "<script>alert(1)</script>"
    remediation = {
        "id": "x.fix",
        "title": evil,
        "rules": [{"rule_id": evil, "alias": None, "alias_also_for": []}],
        "rule_ids": [],
        "privilege_sensitive": False,
        "auto_remediable": True,
        "manual_by_default": False,
        "mode": "dry-run",
        "reversible": True,
        "actions": ["s3:GetBucketAcl"],
    }
    activity = {"event_class": evil, "response": "re-check", "policy_ids": [evil], "apis": []}
    report = {
        "maps": [
            {"name": "m", "version": "1", "remediations": [remediation], "activity": [activity]}
        ],
        "failed": [{"name": evil, "version": "1", "error": evil}],
        "conflicts": [{"detail": evil}],
    }
    from lw_remediate.operate.catalog import capability, rule_text

    html = env.get_template("maps.html").render(
        report=report,
        policies={"x.fix": {"Statement": [{"Resource": evil, "Sid": "it's"}]}},
        capability=capability,
        rule_text=rule_text,
        operator="carol",
        csrf="t",
        page="maps",
    )
    assert evil not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # The policy is readable text: escaped for HTML, not \u-escaped for a script.
    assert '"Resource": "&lt;script&gt;alert(1)&lt;/script&gt;"'.replace('"', "&#34;") in html
    assert "it&#39;s" in html and "\\u0027" not in html
    assert html.count("<script") == html.count('<script src="/ui/static/htmx.min.js"') == 1


async def test_overview_shows_what_each_budget_used_this_hour(start_daemon):
    daemon = await start(start_daemon, budgets={"global_per_hour": 10, "per_rule_per_hour": 4})
    store, now = daemon.engine.store, daemon.engine.safety.clock()
    other = "210987654321"
    changes = [  # (age in seconds, rule, account): the first is older than the hour
        (4000, "LW_S3_16", ACCOUNT),
        (60, "LW_S3_16", ACCOUNT),
        (50, "LW_S3_16", other),
        (40, "LW_S3_1", ACCOUNT),
    ]
    for i, (age, rule, account) in enumerate(changes):
        row = ChangeRow(f"a{i}", now - age, "s3.x", rule, account, f"arn:aws:s3:::b{i}")
        await store.reserve_change(row, since=0, flap_since=0, decide=lambda counts: None)
    async with browser() as http:
        await login(http, daemon.url, CAROL)
        status, html = await page(http, daemon.url, "/ui/")
    assert status == 200
    rows = {
        cells[0]: cells[1:]
        for cells in (
            re.findall(r"<td>(.*?)</td>", tr, re.S)
            for tr in re.findall(
                r"<tr>(.*?)</tr>", html.split('id="budgets"')[1].split("</table>")[0], re.S
            )
        )
        if cells
    }
    assert rows["global"][:2] == ["3", "10"]
    assert rows["per account"][:2] == ["2", "no limit"]
    assert f"{ACCOUNT}: 2, {other}: 1" in rows["per account"][2]
    assert rows["per rule"][:2] == ["2", "4"]
    assert "LW_S3_16: 2, LW_S3_1: 1" in rows["per rule"][2]
