"""The web console in a real browser: Playwright drives Debian's Chromium against a
daemon on a loopback port with moto and the fake Lacework.

Without /usr/bin/chromium these tests skip with the reason; with ``CI=true`` they fail
instead (CI installs the ``chromium`` package, see .ci/run). Screenshots of every page
are saved under ``artifacts/console/`` (git-ignored) for a human to look at.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from lw_remediate.model import Status
from lw_remediate.operate.sweep import SweepStore
from lw_remediate.testing.fake_lacework import load_fixture

ACCOUNT = "123456789012"
ADMIN = "admin-" + secrets.token_urlsafe(24)
ALICE = "alice-" + secrets.token_urlsafe(24)
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts" / "console"
#: The machine's network is closed: no background fetches, no QUIC, no sandbox (root).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def chromium() -> Path:
    """Debian's chromium, or a skip with the reason (a failure under ``CI=true``)."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} not found: install Debian's chromium package to run the browser tests"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI never skips the browser tests: {reason}")
        pytest.skip(reason)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return CHROMIUM


async def _page(chromium: Path, *, javascript: bool) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = await browser.new_context(java_script_enabled=javascript)
            page = await context.new_page()
            # A CSP violation, a script error or a missing file shows as a console
            # error: none allowed. A page the console answered with a 4xx and its
            # reason (a refused form) is logged too, and is expected.
            errors: list[tuple[str, str]] = []
            refused: set[str] = set()
            page.on(
                "console",
                lambda m: (
                    errors.append((m.text, m.location.get("url", "")))
                    if m.type == "error"
                    else None
                ),
            )
            page.on("pageerror", lambda e: errors.append((str(e), "")))
            page.on(
                "response",
                lambda r: (
                    refused.add(r.url)
                    if r.request.is_navigation_request() and r.status >= 400
                    else None
                ),
            )
            yield page
            assert [e for e in errors if e[1] not in refused] == []
        finally:
            await browser.close()


@pytest.fixture
async def browser_page(chromium: Path) -> AsyncIterator[Any]:
    """A page in headless Chromium with JavaScript on."""
    async for page in _page(chromium, javascript=True):
        yield page


@pytest.fixture
async def nojs_page(chromium: Path) -> AsyncIterator[Any]:
    """A page in headless Chromium with JavaScript off."""
    async for page in _page(chromium, javascript=False):
        yield page


#: Sweep pacing for tests: no rate limit, progress saved often, short back-off.
FAST_SWEEP = {
    "rate_per_region": 0,
    "lacework_requests_per_minute": 6000,
    "progress_seconds": 0.05,
    "backoff_seconds": 0.01,
}


async def login(page: Any, url: str, token: str) -> None:
    from playwright.async_api import expect

    await page.goto(f"{url}/ui/login")
    await page.get_by_label("Token").fill(token)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("heading", name="Overview")).to_be_visible()


async def shot(page: Any, name: str) -> None:
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def post_alert(daemon: Any, fake_lacework: Any, event_id: str, *buckets: str) -> None:
    resources = [(f"arn:aws:s3:::{b}", "us-east-1", ACCOUNT) for b in buckets]
    fake_lacework.add_compliance_alert(event_id, "LW_S3_16", resources)
    body = load_fixture("webhook_classic_compliance_lw_s3_16.json")
    body.update(event_id=event_id, rec_id="LW_S3_16")
    status, answer = await daemon.post(body)
    assert status == 202, answer
    await daemon.settle()


async def test_approve_and_reject_in_the_browser(
    start_daemon, fake_lacework, admin_client, browser_page
):
    from playwright.async_api import expect

    page = browser_page
    s3 = admin_client("s3")
    for bucket in ("ui-approve-me", "ui-reject-me"):
        s3.create_bucket(Bucket=bucket)
    daemon = await start_daemon(
        server={"admin_token": ADMIN, "operators": {"alice": ALICE}},
        remediation={"default_mode": "approve"},
    )
    await post_alert(daemon, fake_lacework, "71001", "ui-approve-me", "ui-reject-me")
    rows = await daemon.engine.store.list_actions(status=str(Status.AWAITING_APPROVAL))
    ids = {r.record.violation.resource_name: r.record.id for r in rows}
    assert set(ids) == {"ui-approve-me", "ui-reject-me"}

    # Not logged in: the console sends the browser to the login page.
    await page.goto(f"{daemon.url}/ui/approvals")
    assert page.url == f"{daemon.url}/ui/login"
    await shot(page, "login")
    await page.get_by_label("Token").fill(ALICE)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    await expect(page.locator("#outcomes")).to_contain_text("awaiting_approval")
    # htmx (shipped in the wheel) loaded under the strict CSP; it refreshes #live.
    assert await page.evaluate("typeof htmx") == "object"
    await expect(page.locator("#no-javascript")).to_be_hidden()
    assert await page.locator("#live").get_attribute("hx-trigger") == "every 10s"
    await shot(page, "overview")

    await page.get_by_role("link", name="Approvals", exact=True).click()
    approve_me = page.locator(f"#action-{ids['ui-approve-me']}")
    await expect(approve_me).to_contain_text("arn:aws:s3:::ui-approve-me")
    await expect(approve_me.locator(".plan-summary")).to_contain_text("versioning")
    await shot(page, "approvals")

    await approve_me.get_by_role("button", name="Approve and apply").click()
    await expect(approve_me).to_have_count(0)
    assert s3.get_bucket_versioning(Bucket="ui-approve-me")["Status"] == "Enabled"

    reject_me = page.locator(f"#action-{ids['ui-reject-me']}")
    await reject_me.get_by_label("Reason").fill("change freeze")
    await reject_me.get_by_role("button", name="Reject").click()
    await expect(page.locator("#nothing-waits")).to_be_visible()
    await shot(page, "approvals-empty")
    assert "Status" not in s3.get_bucket_versioning(Bucket="ui-reject-me")

    rejected = await daemon.engine.store.get_action(ids["ui-reject-me"] or "")
    assert rejected is not None and rejected.record.status is Status.REFUSED
    assert rejected.record.detail == "rejected by alice: change freeze"
    events = await daemon.engine.store.audit_events(action_id=ids["ui-approve-me"], limit=50)
    assert any(e.kind == "approved" and e.actor == "alice" for e in events)

    # Log out: the console is closed again.
    await page.get_by_role("button", name="Log out").click()
    await expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    await page.goto(f"{daemon.url}/ui/")
    assert page.url == f"{daemon.url}/ui/login"


async def test_exemption_kill_switch_and_history_in_the_browser(
    start_daemon, fake_lacework, admin_client, browser_page
):
    from playwright.async_api import expect

    page = browser_page
    s3 = admin_client("s3")
    for bucket in ("ui-exempt-me", "ui-paused", "ui-fixed"):
        s3.create_bucket(Bucket=bucket)
    daemon = await start_daemon(server={"admin_token": ADMIN})
    await login(page, daemon.url, ADMIN)

    # An exemption added in the console: the next violation on that bucket is left alone.
    await page.get_by_role("link", name="Exemptions").click()
    await page.get_by_label("Resource ARN").fill("arn:aws:s3:::ui-exempt-me")
    await page.get_by_label("Owner").fill("web-team")
    await page.get_by_label("Reason", exact=True).fill("static website")
    await page.get_by_label("Expires").fill("30d")
    await page.get_by_role("button", name="Add exemption").click()
    await expect(page.locator("#exemptions")).to_contain_text("arn:aws:s3:::ui-exempt-me")
    await shot(page, "exemptions")
    await post_alert(daemon, fake_lacework, "72001", "ui-exempt-me", "ui-fixed")
    rows = {
        r.record.violation.resource_name: r.record for r in await daemon.engine.store.list_actions()
    }
    assert rows["ui-exempt-me"].status is Status.EXEMPTED
    assert "Status" not in s3.get_bucket_versioning(Bucket="ui-exempt-me")
    assert rows["ui-fixed"].status is Status.REMEDIATED

    # The kill switch on, with a reason: the next apply is parked, nothing written.
    await page.get_by_role("link", name="Kill switch").click()
    await page.get_by_label("Reason").fill("incident 42")
    await page.get_by_role("button", name="Turn the kill switch on").click()
    await expect(page.locator("#kill-switch-state")).to_contain_text("incident 42")
    await shot(page, "kill-switch-on")
    await post_alert(daemon, fake_lacework, "72002", "ui-paused")
    paused = [
        r.record
        for r in await daemon.engine.store.list_actions()
        if r.record.violation.resource_name == "ui-paused"
    ]
    assert [p.status for p in paused] == [Status.AWAITING_APPROVAL]
    assert paused[0].detail.startswith("paused by the kill switch")
    assert "Status" not in s3.get_bucket_versioning(Bucket="ui-paused")
    await page.get_by_role("link", name="Overview").click()
    await expect(page.locator("#kill-switch-state")).to_contain_text("ON")
    await page.get_by_role("link", name="Kill switch").click()
    await page.get_by_role("button", name="Turn the kill switch off").click()
    await expect(page.locator("#kill-switch-state")).to_contain_text("off")
    assert not daemon.engine.safety.kill_switch.is_on()

    # History: filter by status, open the detail with its plan, calls and audit events.
    await page.get_by_role("link", name="Actions").click()
    await page.get_by_label("Status").select_option("remediated")
    await page.get_by_role("button", name="Filter").click()
    table = page.locator("#actions")
    await expect(table).to_contain_text("ui-fixed")
    await expect(table).not_to_contain_text("ui-exempt-me")
    await shot(page, "actions")
    await table.get_by_role("link", name=rows["ui-fixed"].id or "").click()
    await expect(page.locator("#status")).to_have_text("remediated")
    await expect(page.locator("#calls")).to_contain_text("PutBucketVersioning")
    await expect(page.locator("#before_image")).to_be_visible()
    await shot(page, "action-detail")


class HoldCredentials:
    """Makes the first AWS credentials request wait for ``release``: a sweep's action
    paused inside its lane, so the page can be seen while the sweep runs."""

    def __init__(self, engine: Any) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        original = engine.aws.session_for
        calls = 0

        async def session_for(*args: Any, **kwargs: Any) -> Any:
            nonlocal calls
            calls += 1
            if calls == 1:
                self.entered.set()
                await self.release.wait()
            return await original(*args, **kwargs)

        engine.aws.session_for = session_for


def public_report(bucket: str) -> dict[str, Any]:
    """The legacy AWS_CIS_S3 report listing one publicly readable bucket under LW_S3_1."""
    report = load_fixture("api_v2_report_aws_cis_s3_legacy.json")["data"][0]
    for rec in report["recommendations"]:
        if rec["REC_ID"] == "LW_S3_1":
            rec["VIOLATIONS"] = [{"resource": f"arn:aws:s3:::{bucket}", "region": "us-east-1"}]
    return report


def all_users_read(s3: Any, bucket: str) -> bool:
    grants = s3.get_bucket_acl(Bucket=bucket)["Grants"]
    return any(g["Grantee"].get("URI", "").endswith("/AllUsers") for g in grants)


async def test_dry_run_sweep_and_maps_in_the_browser(
    start_daemon, fake_lacework, admin_client, browser_page
):
    from playwright.async_api import expect

    page = browser_page
    s3 = admin_client("s3")
    s3.create_bucket(Bucket="ui-swept", ACL="public-read")
    fake_lacework.add_report(ACCOUNT, "AWS_CIS_S3", public_report("ui-swept"))
    # Configured auto: the sweep's own dry-run mode is what keeps the bucket public.
    daemon = await start_daemon(
        server={"admin_token": ADMIN, "operators": {"alice": ALICE}},
        remediation={"default_mode": "auto"},
        sweep=FAST_SWEEP,
    )
    hold = HoldCredentials(daemon.engine)
    await login(page, daemon.url, ALICE)

    await page.get_by_role("link", name="Sweeps", exact=True).click()
    await expect(page.locator("#sweeps")).to_contain_text("no sweeps yet")
    await page.get_by_label("Accounts").fill(ACCOUNT)
    await page.get_by_label("Rules").fill("LW_S3_1")
    await page.get_by_label("Mode").select_option("dry-run")
    await shot(page, "sweeps")
    await page.get_by_role("button", name="Start sweep").click()

    # The sweep's page while its one action is held: running, with a Stop button.
    await hold.entered.wait()
    await expect(page.get_by_role("heading", name="Sweep 1")).to_be_visible()
    await expect(page.locator("#sweep-state")).to_have_text("running")
    await expect(page.locator("#sweep-mode")).to_have_text("dry-run")
    await expect(page.get_by_role("button", name="Stop (running actions finish)")).to_be_visible()
    await shot(page, "sweep-running")
    # A marker only this document holds: still there after the sweep finishes, so the
    # page was updated in place (htmx), not reloaded.
    await page.evaluate("document.body.dataset.marker = 'same-page'")
    hold.release.set()
    await expect(page.locator("#sweep-state")).to_have_text("completed", timeout=20_000)
    assert await page.evaluate("document.body.dataset.marker") == "same-page"
    await expect(page.locator("#sweep-statuses")).to_contain_text("planned")
    await expect(page.locator("#sweep-reports")).to_contain_text("AWS_CIS_S3")
    await expect(page.get_by_role("button", name="Stop (running actions finish)")).to_have_count(0)
    await shot(page, "sweep-finished")
    assert all_users_read(s3, "ui-swept")  # a dry run changes nothing
    [row] = await daemon.engine.store.list_actions()
    assert (row.record.status, row.record.violation.resource_name) == (Status.PLANNED, "ui-swept")
    events = [e for e in await daemon.engine.store.audit_events() if e.kind.startswith("sweep_")]
    assert {(e.kind, e.actor, e.data["via"]) for e in events} == {
        ("sweep_started", "alice", "ui"),
        ("sweep_finished", "alice", "ui"),
    }
    await page.get_by_role("link", name="Sweeps", exact=True).click()
    await expect(page.locator("#sweeps")).to_contain_text("completed")

    # A bad request is answered on the page with its reason; nothing starts.
    await page.get_by_label("Accounts").fill("12")
    await page.get_by_role("button", name="Start sweep").click()
    await expect(page.get_by_role("alert")).to_contain_text(
        "accounts: '12' is not a 12-digit AWS account id"
    )
    assert [s["id"] for s in await SweepStore(daemon.engine.store).list()] == [1]

    # Maps: each remediation with its capability, configured mode and IAM policy.
    await page.get_by_role("link", name="Maps", exact=True).click()
    remediation = page.locator("#remediation-s3\\.remove_public_acl_grants")
    await expect(remediation).to_contain_text("LW_S3_1 (lacework-global-130)")
    await expect(remediation.locator(".mode")).to_have_text("auto")
    await remediation.locator("summary").click()
    await expect(remediation.locator(".policy")).to_contain_text("s3:PutBucketAcl")
    await shot(page, "maps")


async def test_every_page_works_without_javascript(
    start_daemon, fake_lacework, admin_client, nojs_page
):
    """Every page reads fine with JavaScript off (no htmx), and its forms still work:
    plain POSTs answered with a redirect."""
    from playwright.async_api import expect

    page = nojs_page
    s3 = admin_client("s3")
    s3.create_bucket(Bucket="nojs-waits")
    s3.create_bucket(Bucket="nojs-swept", ACL="public-read")
    fake_lacework.add_report(ACCOUNT, "AWS_CIS_S3", public_report("nojs-swept"))
    daemon = await start_daemon(
        server={"admin_token": ADMIN, "operators": {"alice": ALICE}},
        remediation={"default_mode": "approve"},
        sweep=FAST_SWEEP,
    )
    await post_alert(daemon, fake_lacework, "73001", "nojs-waits")
    [waiting] = await daemon.engine.store.list_actions(status=str(Status.AWAITING_APPROVAL))
    action_id = waiting.record.id or ""
    await login(page, daemon.url, ALICE)
    await expect(page.locator("#outcomes")).to_contain_text("awaiting_approval")
    # JavaScript is off indeed: the console's <noscript> note shows.
    await expect(page.locator("#no-javascript")).to_be_visible()

    # A sweep started with a plain form post; its page shows the result once it ends.
    await page.get_by_role("link", name="Sweeps", exact=True).click()
    await page.get_by_label("Accounts").fill(ACCOUNT)
    await page.get_by_label("Rules").fill("LW_S3_1")
    await page.get_by_role("button", name="Start sweep").click()
    await expect(page.get_by_role("heading", name="Sweep 1")).to_be_visible()
    [task] = [t for t in asyncio.all_tasks() if t.get_name() == "sweep-1"] or [None]
    if task is not None:  # still running: wait for its task, then reload by hand
        await task
    await page.reload()
    await expect(page.locator("#sweep-state")).to_have_text("completed")
    await expect(page.locator("#sweep-statuses")).to_contain_text("planned")
    await shot(page, "nojs-sweep")

    pages = [
        ("overview", "/ui/", "Overview", "#queue", "done"),
        ("approvals", "/ui/approvals", "Approvals", f"#action-{action_id}", "nojs-waits"),
        ("actions", "/ui/actions", "Actions", "#actions", "nojs-swept"),
        ("action", f"/ui/actions/{action_id}", f"Action {action_id}", "#plan", "versioning"),
        ("exemptions", "/ui/exemptions", "Exemptions", "#exemptions", "no exemptions"),
        ("kill-switch", "/ui/kill-switch", "Kill switch", "#kill-switch-state", "off"),
        ("sweeps", "/ui/sweeps", "Sweeps", "#sweeps", "completed"),
        ("sweep", "/ui/sweeps/1", "Sweep 1", "#sweep-progress", "1 / 1"),
        ("maps", "/ui/maps", "Maps", "#remediation-s3\\.enable_versioning", "LW_S3_16"),
    ]
    for name, path, heading, where, text in pages:
        await page.goto(f"{daemon.url}{path}")
        await expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        await expect(page.locator(where)).to_contain_text(text)
        await shot(page, f"nojs-{name}")
    # The policy behind a <details> opens without JavaScript too.
    await page.locator("#remediation-s3\\.enable_versioning summary").click()
    await expect(page.locator("#remediation-s3\\.enable_versioning .policy")).to_contain_text(
        "s3:PutBucketVersioning"
    )

    # A decision without JavaScript: the approve form is a plain POST.
    await page.goto(f"{daemon.url}/ui/approvals")
    await (
        page.locator(f"#action-{action_id}").get_by_role("button", name="Approve and apply").click()
    )
    await expect(page.locator("#nothing-waits")).to_be_visible()
    assert s3.get_bucket_versioning(Bucket="nojs-waits")["Status"] == "Enabled"
