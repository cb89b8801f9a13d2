"""End to end: account- and region-level rows of real-shaped reports reach their remediations.

The reports (``api_v2_report_aws_cis_s3_account_targets.json`` and the NIST 800-53 rev5
one, see the fixtures README) carry the password policy with no ``resource``, the support
role as the AWS-managed ``AWSSupportAccess`` policy, a bare account id, region-only rows
and bare ``vpc-…`` ids. A sweep through the fake Lacework Reports API and moto fixes the
password policy and creates the support role; the same targets arrive through a webhook
(Alerts API v2 enrichment).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

import pytest

from lw_remediate.model import Scope
from lw_remediate.operate.sweep import Sweep, build_request
from lw_remediate.testing.fake_lacework import load_fixture

from .conftest import daemon_config, to_toml

ACCOUNT = "123456789012"
TRUSTED = f"arn:aws:iam::{ACCOUNT}:role/SecOps"
SUPPORT_POLICY = "arn:aws:iam::aws:policy/AWSSupportAccess"
FAST = {"rate_per_region": 0, "lacework_requests_per_minute": 6000, "backoff_seconds": 0.01}
REPORTS = {
    "AWS_CIS_S3": "api_v2_report_aws_cis_s3_account_targets.json",
    "AWS_NIST_800-53_rev5": "api_v2_report_aws_nist_800_53_rev5_account_targets.json",
}
PASSWORD = "cis_iam.tighten_password_policy"
SUPPORT = "cis_iam.create_support_role"


def remediation_options():
    return {SUPPORT: {"trusted_principal_arns": [TRUSTED]}}


def support_roles(iam) -> list[str]:
    roles = iam.list_entities_for_policy(PolicyArn=SUPPORT_POLICY, EntityFilter="Role")
    return [r["RoleName"] for r in roles["PolicyRoles"]]


@pytest.mark.parametrize("report_type", sorted(REPORTS))
async def test_a_sweep_fixes_the_password_policy_and_creates_the_support_role(
    aws_managed_policies, start_daemon, admin_client, fake_lacework, report_type
):
    iam = admin_client("iam")
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_account_password_policy()
    assert support_roles(iam) == []
    fake_lacework.add_report(ACCOUNT, report_type, load_fixture(REPORTS[report_type])["data"][0])
    daemon = await start_daemon(sweep=FAST, remediation=remediation_options())
    request = build_request(
        daemon.config,
        daemon.engine.registry,
        accounts=[ACCOUNT],
        report_types=[report_type],
        mode="auto",
    )
    sweep = await Sweep(daemon.engine, request).run()
    snap = sweep.snapshot()
    (note,) = snap["reports"]
    assert (note["status"], note["dropped"], note["drop_reasons"]) == ("ok", 0, {})

    by_remediation: dict[str, list] = {}
    for record in sweep.records:
        by_remediation.setdefault(record.remediation_id, []).append(record)
    password = by_remediation[PASSWORD]
    assert {str(r.status) for r in password} == {"remediated"}, [r.detail for r in password]
    assert {r.violation.scope for r in password} == {Scope.ACCOUNT}
    assert {r.violation.resource_arn for r in password} == {f"arn:aws:iam::{ACCOUNT}:root"}
    policy = iam.get_account_password_policy()["PasswordPolicy"]
    assert policy["MinimumPasswordLength"] >= 14
    assert policy.get("PasswordReusePrevention", 0) >= 1

    (support,) = by_remediation[SUPPORT]
    assert str(support.status) == "remediated", support.detail
    assert support.violation.account_id == ACCOUNT
    assert support.violation.resource_arn == SUPPORT_POLICY
    assert support_roles(iam) == ["aws-support-incident"]

    # Region-level rows stay one violation per region; bare vpc ids became ARNs.
    arns = {r.violation.resource_arn for r in sweep.records}
    assert f"arn:aws:iam:eu-north-1:{ACCOUNT}:root" in arns
    assert f"arn:aws:ec2:eu-north-1:{ACCOUNT}:vpc/vpc-0a1b2c3d4e5f60718" in arns
    assert snap["total"] == len(sweep.records)


async def test_a_webhook_for_an_account_level_rule_reaches_the_password_policy(
    start_daemon, admin_client, fake_lacework
):
    iam = admin_client("iam")
    fake_lacework.add_alert(
        880011,
        {
            "alertId": 880011,
            "alertName": "Compliance violation",
            "policyId": "lacework-global-37",
            "severity": "High",
            "entityMap": {"Resource": [{"KEY": {"account_id": ACCOUNT}, "PROPS": {}}]},
        },
    )
    daemon = await start_daemon()
    status, _ = await daemon.post(
        {
            "event_id": "880011",
            "event_type": "Compliance",
            "event_title": "New Violations",
            "rec_id": "lacework-global-37",
            "lacework_account": "customerdemo",
            "event_severity": "2",
        }
    )
    assert status == 202
    await daemon.settle()
    (row,) = await daemon.engine.store.list_actions()
    record = row.record
    assert (record.remediation_id, str(record.status)) == (PASSWORD, "remediated"), record.detail
    assert record.violation.scope is Scope.ACCOUNT
    assert record.violation.rule_id == "AWS_CIS_1_9"
    assert iam.get_account_password_policy()["PasswordPolicy"]["MinimumPasswordLength"] >= 14


async def test_cli_sweep_counts_every_unusable_row_per_reason(moto_server, fake_lacework, tmp_path):
    """64 bare vpc ids without a region and 3 unknown resources: all counted, by reason,
    in ``sweep --json`` and under the table; the sweep exits 1."""
    report = load_fixture(REPORTS["AWS_CIS_S3"])["data"][0]
    rec = next(r for r in report["recommendations"] if r["REC_ID"] == "AWS_CIS_2_9")
    rec["VIOLATIONS"] = [{"resource": f"vpc-{n:08x}", "reasons": ["X"]} for n in range(64)]
    rec["VIOLATIONS"] += [{"resource": "no-such-thing", "reasons": ["X"]}] * 3
    report["recommendations"] = [rec]
    fake_lacework.add_report(ACCOUNT, "AWS_CIS_S3", report)
    config = tmp_path / "config.toml"
    config.write_text(to_toml(daemon_config(moto_server.endpoint_url, fake_lacework, tmp_path)))
    base = [sys.executable, "-c", "from lw_remediate.cli import main; main()", "sweep"]
    args = [*base, "--config", str(config), "--account", ACCOUNT, "--report-type", "AWS_CIS_S3"]
    code, out, err = await run(*args, "--json")
    assert code == 1, err
    (note,) = json.loads(out)["sweep"]["reports"]
    assert note["dropped"] == 67
    assert note["drop_reasons"] == {
        "bare EC2 id without a region": 64,
        "resource is not an ARN, a 12-digit account id or a known bare id": 3,
    }
    code, out, _ = await run(*args)
    assert code == 1
    assert (
        "report AWS_CIS_S3 for 123456789012: 67 row(s) not usable: "
        "64 bare EC2 id without a region; 3 resource is not an ARN" in out
    )


async def run(*args: str) -> tuple[int | None, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LW_")}
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env
    )
    out, err = await proc.communicate()
    return proc.returncode, out.decode(), err.decode()
