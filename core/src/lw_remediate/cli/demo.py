"""``lw-remediate demo``: the whole daemon against a simulated cloud, on loopback.

Starts a moto server (the simulated AWS), a fake Lacework API and the daemon on
127.0.0.1 ports, seeds two simulated accounts with misconfigured resources covered
by the installed maps, posts the webhooks Lacework would send, lets the daemon
remediate them (mode ``auto``, for the demo only) and prints a before/after table.
Nothing leaves this machine: no AWS or Lacework account is used.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import click
from aiohttp import web

from ..config import Config
from ..model import Status
from ..plugins import MapRegistry
from ..runtime import Runtime

ACCOUNTS = ("123456789012", "210987654321")


@dataclass(frozen=True)
class Scenario:
    """One misconfiguration: how to create it, and how to describe the resource's state."""

    remediation_id: str
    rule_id: str  # as Lacework sends it
    account: str
    resource_arn: str
    label: str
    seed: Callable[[Any], None]  # gets MotoServer
    describe: Callable[[Any], str]


def _versioning(index: int, account: str) -> Scenario:
    bucket = f"demo-unversioned-{index + 1}"

    def seed(moto: Any) -> None:
        moto.client("s3", account=account).create_bucket(Bucket=bucket)

    def describe(moto: Any) -> str:
        status = (
            moto.client("s3", account=account).get_bucket_versioning(Bucket=bucket).get("Status")
        )
        return f"versioning {status or 'never enabled'}"

    # The second account's alert uses the new-style id, to show both id schemes.
    rule = "LW_S3_16" if index == 0 else "lacework-global-97"
    return Scenario(
        "s3.enable_versioning",
        rule,
        account,
        f"arn:aws:s3:::{bucket}",
        f"bucket {bucket}",
        seed,
        describe,
    )


def _password_policy(account: str) -> Scenario:
    def seed(moto: Any) -> None:
        moto.client("iam", account=account).update_account_password_policy(
            MinimumPasswordLength=8, RequireSymbols=True, AllowUsersToChangePassword=True
        )

    def describe(moto: Any) -> str:
        p = moto.client("iam", account=account).get_account_password_policy()["PasswordPolicy"]
        return f"min length {p['MinimumPasswordLength']}, symbols {'on' if p['RequireSymbols'] else 'off'}"

    return Scenario(
        "cis_iam.tighten_password_policy",
        "AWS_CIS_1_9",
        account,
        f"arn:aws:iam::{account}:root",
        "account password policy",
        seed,
        describe,
    )


def scenarios() -> list[Scenario]:
    out = [_versioning(i, account) for i, account in enumerate(ACCOUNTS)]
    out.append(_password_policy(ACCOUNTS[0]))
    out.extend(extra_scenarios())
    return out


ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"


def _public_acl(account: str) -> Scenario:
    bucket = "demo-public-website"

    def seed(moto: Any) -> None:
        s3 = moto.client("s3", account=account)
        s3.create_bucket(Bucket=bucket, ACL="public-read")

    def describe(moto: Any) -> str:
        grants = moto.client("s3", account=account).get_bucket_acl(Bucket=bucket)["Grants"]
        public = sorted(g["Permission"] for g in grants if g["Grantee"].get("URI") == ALL_USERS)
        return (
            f"Everyone: {', '.join(public)}" if public else f"no public grant ({len(grants)} kept)"
        )

    return Scenario(
        "s3.remove_public_acl_grants",
        "LW_S3_1",
        account,
        f"arn:aws:s3:::{bucket}",
        f"bucket {bucket}",
        seed,
        describe,
    )


def _stale_key(account: str) -> Scenario:
    user = "demo-departed-contractor"

    def seed(moto: Any) -> None:
        import datetime as dt

        from moto.iam.models import AccessKeyLastUsed

        iam = moto.client("iam", account=account)
        iam.create_user(UserName=user)
        key_id = iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"]
        past = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(days=200)
        key = next(
            k
            for k in moto.iam_backend(account).users[user].access_keys
            if k.access_key_id == key_id
        )
        key.create_date = past
        key.last_used = AccessKeyLastUsed(past, "s3", "us-east-1")  # 200 days ago

    def describe(moto: Any) -> str:
        keys = moto.client("iam", account=account).list_access_keys(UserName=user)[
            "AccessKeyMetadata"
        ]
        return ", ".join(f"key {k['Status']}" for k in keys) + " (unused 200 days)"

    return Scenario(
        "cis_iam.disable_unused_credentials",
        "AWS_CIS_1_3",
        account,
        f"arn:aws:iam::{account}:user/{user}",
        f"user {user}",
        seed,
        describe,
    )


def extra_scenarios() -> list[Scenario]:
    """Scenarios for the other remediations the first two map sets provide."""
    return [_public_acl(ACCOUNTS[1]), _stale_key(ACCOUNTS[0])]


async def _wait_done(engine: Any, expected: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        counts = await engine.store.inbox_counts()
        if counts.get("done", 0) + counts.get("dead", 0) >= expected:
            return
        await asyncio.sleep(0.05)
    raise TimeoutError("the daemon did not finish the demo alerts in time")


async def run_demo(
    registry: MapRegistry, *, echo: Callable[[str], None] = click.echo, timeout: float = 120
) -> int:
    from ..testing.fake_lacework import FakeLacework
    from ..testing.moto import MotoServer, free_port

    chosen = [s for s in scenarios() if s.remediation_id in registry.remediations]
    if not chosen:
        echo("no demo scenario matches the installed maps (install lw-map-s3 or lw-map-cis-iam)")
        return 1
    # Simulated cloud: the daemon's "default credentials" are moto's, never the operator's.
    for key in (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        os.environ.pop(key, None)
    os.environ.update(
        AWS_ACCESS_KEY_ID="lw-remediate-demo",
        AWS_SECRET_ACCESS_KEY="lw-remediate-demo",  # noqa: S106 - moto accepts any key
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    echo("lw-remediate demo: the AWS cloud and the Lacework API are SIMULATED on this machine")
    echo("(a moto server and a fake Lacework API on 127.0.0.1); no real account is touched.\n")
    moto = MotoServer()
    workdir = Path(tempfile.mkdtemp(prefix="lw-remediate-demo-"))
    token = secrets.token_urlsafe(24)
    try:
        async with FakeLacework() as lacework:
            for s in chosen:
                s.seed(moto)
            before = {id(s): s.describe(moto) for s in chosen}
            config = Config.model_validate(
                {
                    "server": {"host": "127.0.0.1", "port": free_port(), "webhook_token": token},
                    "lacework": lacework.config,
                    "aws": {
                        "region": "us-east-1",
                        "endpoint_url": moto.endpoint_url,
                        "role_name": "lw-remediate-demo",
                        "accounts": list(ACCOUNTS),
                    },
                    "store": {"path": str(workdir / "demo.sqlite3")},
                    "remediation": {"default_mode": "auto"},
                }
            )
            runtime = Runtime(config, registry=registry)
            engine = runtime.engine
            from ..web.server import create_app

            app = create_app(runtime)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", config.server.port)
            await site.start()
            try:
                url = f"http://127.0.0.1:{config.server.port}/webhooks/lacework/{token}"
                async with aiohttp.ClientSession() as http:
                    for n, s in enumerate(chosen, start=1):
                        event_id = str(90000 + n)
                        region = "us-east-1" if ":s3:" in s.resource_arn else ""
                        lacework.add_compliance_alert(
                            event_id, s.rule_id, [(s.resource_arn, region, s.account)]
                        )
                        body = {
                            "event_title": "New Violations",
                            "event_source": "AwsCompliance",
                            "event_type": "Compliance",
                            "event_id": event_id,
                            "event_severity": "2",
                            "lacework_account": lacework.account,
                            "event_description": f"AWS Account {s.account} : {s.rule_id} {s.label}",
                            "event_timestamp": time.strftime("%d %b %Y %H:00 GMT", time.gmtime()),
                            "rec_id": s.rule_id,
                        }
                        async with http.post(url, json=body) as resp:
                            echo(f"POST webhook {s.rule_id:<20} -> HTTP {resp.status}")
                await _wait_done(engine, len(chosen), timeout)
                rows = await engine.store.list_actions(limit=1000)
            finally:
                await runner.cleanup()
            by_resource = {
                (
                    r.record.violation.account_id,
                    r.record.violation.resource_arn,
                    r.record.remediation_id,
                ): r
                for r in rows
            }
            echo("")
            header = f"{'account':<13} {'resource':<34} {'remediation':<35} {'before':<30} {'after':<30} status"
            echo(header)
            echo("-" * len(header))
            ok = True
            for s in chosen:
                row = by_resource.get((s.account, s.resource_arn, s.remediation_id))
                status = str(row.record.status) if row else "missing"
                ok = ok and status == Status.REMEDIATED
                echo(
                    f"{s.account:<13} {s.label[:34]:<34} {s.remediation_id[:35]:<35} {before[id(s)][:30]:<30} {s.describe(moto)[:30]:<30} {status}"
                )
            echo("")
            for s in chosen:
                row = by_resource.get((s.account, s.resource_arn, s.remediation_id))
                if row is not None and row.record.status is not Status.REMEDIATED:
                    echo(f"  {s.remediation_id}: {row.record.detail}")
            echo(f"audit trail (SQLite): {config.store.path}")
            echo(
                "all simulated violations remediated"
                if ok
                else "some violations were not remediated"
            )
            return 0 if ok else 1
    finally:
        moto.stop()
