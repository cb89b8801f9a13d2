"""The web console in a real browser: Playwright drives Debian's Chromium against a
daemon on a loopback port with moto and the fake Lacework.

Without /usr/bin/chromium these tests skip with the reason; with ``CI=true`` they fail
instead (CI installs the ``chromium`` package, see .ci/run). Screenshots of every page
are saved under ``artifacts/console/`` (git-ignored) for a human to look at.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from lw_remediate.model import Status
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


@pytest.fixture
async def browser_page(chromium: Path) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = await browser.new_context()
            page = await context.new_page()
            # A CSP violation or a script error shows as a console error: none allowed.
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            yield page
            assert errors == []
        finally:
            await browser.close()


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
    await page.goto(f"{daemon.url}/ui/login")
    await page.get_by_label("Token").fill(ADMIN)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("heading", name="Overview")).to_be_visible()

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
