"""The actions listing's filters (status, rule in either id form, account,
remediation, time): one implementation (Control.list_actions) answered the same by
the admin API and the console."""

from __future__ import annotations

import json
import re
import secrets

import aiohttp

from lw_remediate.model import ActionRecord, Mode, Plan, Status, Violation

ADMIN = "admin-" + secrets.token_urlsafe(24)
ACCOUNT, OTHER = "123456789012", "210987654321"


async def stored(daemon, rule: str, account: str, remediation: str, bucket: str) -> str:
    store = daemon.engine.store
    arn = f"arn:aws:s3:::{bucket}"
    violation = Violation(rule_id=rule, resource_arn=arn, account_id=account)
    violation_id = await store.add_violation(None, violation)
    record, _ = await store.create_action(
        violation_id,
        None,
        ActionRecord(remediation_id=remediation, violation=violation, mode=Mode.DRY_RUN),
    )
    record.status, record.state = Status.PLANNED, "done"
    record.plan = Plan(summary=f"change {arn}")
    await store.save_action(record)
    return record.id or ""


async def admin_list(daemon, query: str) -> tuple[int, object]:
    async with daemon.http.get(
        f"{daemon.url}/admin/actions?{query}", headers={"Authorization": f"Bearer {ADMIN}"}
    ) as resp:
        return resp.status, json.loads(await resp.text())


async def console_list(http, daemon, query: str) -> tuple[int, list[str], str]:
    async with http.get(f"{daemon.url}/ui/actions?{query}") as resp:
        text = await resp.text()
        return resp.status, re.findall(r'href="/ui/actions/([0-9a-f]+)"', text), text


async def test_filters_answer_the_same_in_the_admin_api_and_the_console(start_daemon):
    daemon = await start_daemon(server={"admin_token": ADMIN})
    versioning = await stored(daemon, "LW_S3_16", ACCOUNT, "s3.enable_versioning", "a")
    acl = await stored(daemon, "LW_S3_1", OTHER, "s3.remove_public_acl_grants", "b")
    other_versioning = await stored(daemon, "LW_S3_16", OTHER, "s3.enable_versioning", "c")
    cases = [
        ("", [other_versioning, acl, versioning]),
        ("rule=LW_S3_16", [other_versioning, versioning]),
        ("rule=lacework-global-97", [other_versioning, versioning]),  # the new id form
        (f"account={OTHER}", [other_versioning, acl]),
        (f"account={OTHER}&rule=LW_S3_16", [other_versioning]),
        ("remediation=s3.remove_public_acl_grants", [acl]),
        ("since=1h", [other_versioning, acl, versioning]),
        ("since=2999-01-01", []),
        ("status=planned&rule=LW_S3_16", [other_versioning, versioning]),
        ("status=remediated", []),
    ]
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(f"{daemon.url}/ui/login") as resp:
            csrf = re.search(r'name="csrf" value="([^"]+)"', await resp.text())
        assert csrf
        async with http.post(
            f"{daemon.url}/ui/login", data={"csrf": csrf.group(1), "token": ADMIN}
        ) as resp:
            assert resp.status == 200
        for query, expected in cases:
            status, body = await admin_list(daemon, query)
            assert status == 200, (query, body)
            assert isinstance(body, list)
            assert [a["action_id"] for a in body] == expected, query
            status, ids, _ = await console_list(http, daemon, query)
            assert status == 200
            assert ids == expected, query
        # The admin API's limit cuts the filtered list (the console shows up to 500).
        status, body = await admin_list(daemon, "rule=LW_S3_16&limit=1")
        assert status == 200 and [a["action_id"] for a in body] == [other_versioning]
        # A time that is not one: 400 with the reason, on both.
        status, body = await admin_list(daemon, "since=yesterday")
        assert status == 400 and "since: 'yesterday' is not a date" in body["error"]
        status, ids, text = await console_list(http, daemon, "since=yesterday")
        assert status == 400 and ids == [] and "is not a date" in text
