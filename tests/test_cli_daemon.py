"""The daemon's CLI commands against moto: replay (multi-account), history, config check."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys

import pytest

from lw_remediate.testing.fake_lacework import load_fixture

from .conftest import to_toml

A, B = "123456789012", "210987654321"
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"


def cli(*args: str, cwd=None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LW_")}
    return subprocess.run(
        [sys.executable, "-c", "from lw_remediate.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=cwd,
    )


def two_account_s3_event() -> dict:
    """An EventBridge event with public-ACL S3 violations in two accounts."""
    event = load_fixture("eventbridge_new_violations_multi_rule_multi_account.json")
    item = event["detail"]["EVENT_DETAILS"]["data"][0]
    other = copy.deepcopy(item)
    item["ENTITY_MAP"] = {
        "NewViolation": [
            {
                "REC_ID": "LW_S3_1",
                "REASON": "LW_S3_1_ReadAccessGranted",
                "RESOURCE": "arn:aws:s3:::a-public-1",
            },
            {
                "REC_ID": "LW_S3_1",
                "REASON": "LW_S3_1_ReadAccessGranted",
                "RESOURCE": "arn:aws:s3:::a-public-2",
            },
        ],
        "RecId": [{"REC_ID": "LW_S3_1", "ACCOUNT_ID": A, "TITLE": "Everyone READ"}],
    }
    other["ENTITY_MAP"] = {
        "NewViolation": [
            {
                "REC_ID": "lacework-global-131",
                "REASON": "lacework-global-131_WriteAccessGranted",
                "RESOURCE": "arn:aws:s3:::b-public-1",
            },
        ],
        "RecId": [{"REC_ID": "lacework-global-131", "ACCOUNT_ID": B, "TITLE": "Everyone WRITE"}],
    }
    event["detail"]["EVENT_DETAILS"]["data"] = [item, other]
    return event


@pytest.fixture
def config_file(moto_server, tmp_path):
    def _write(**extra):
        data = {
            "aws": {
                "region": "us-east-1",
                "endpoint_url": moto_server.endpoint_url,
                "role_name": "lw-remediate",
            },
            "store": {"path": str(tmp_path / "lw.sqlite3")},
            **extra,
        }
        path = tmp_path / "lw.toml"
        path.write_text(to_toml(data))
        return path

    return _write


def grants_to_all_users(s3, bucket):
    return [
        g["Permission"]
        for g in s3.get_bucket_acl(Bucket=bucket)["Grants"]
        if g["Grantee"].get("URI") == ALL_USERS
    ]


def test_replay_eventbridge_fixes_each_bucket_in_its_account(admin_client, config_file, tmp_path):
    s3a, s3b = admin_client("s3", account=A), admin_client("s3", account=B)
    for bucket in ("a-public-1", "a-public-2"):
        s3a.create_bucket(Bucket=bucket, ACL="public-read")
    s3b.create_bucket(Bucket="b-public-1")
    # moto's canned "public-read-write" grants READ only, so the grants are explicit.
    owner = s3b.get_bucket_acl(Bucket="b-public-1")["Owner"]
    s3b.put_bucket_acl(
        Bucket="b-public-1",
        AccessControlPolicy={
            "Owner": owner,
            "Grants": [
                {
                    "Grantee": {"Type": "CanonicalUser", "ID": owner["ID"]},
                    "Permission": "FULL_CONTROL",
                },
                {"Grantee": {"Type": "Group", "URI": ALL_USERS}, "Permission": "READ"},
                {"Grantee": {"Type": "Group", "URI": ALL_USERS}, "Permission": "WRITE"},
            ],
        },
    )
    payload = tmp_path / "event.json"
    payload.write_text(json.dumps(two_account_s3_event()))
    config = config_file()

    result = cli("replay", "--mode", "auto", "--json", "--config", str(config), str(payload))
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    by_resource = {r["resource_arn"]: r for r in rows}
    assert set(by_resource) == {
        "arn:aws:s3:::a-public-1",
        "arn:aws:s3:::a-public-2",
        "arn:aws:s3:::b-public-1",
    }
    assert by_resource["arn:aws:s3:::b-public-1"]["account_id"] == B
    assert {r["status"] for r in rows} == {"remediated"}, json.dumps(rows, indent=1)
    assert {r["mode"] for r in rows} == {"auto"}
    assert (
        grants_to_all_users(s3a, "a-public-1") == []
        and grants_to_all_users(s3a, "a-public-2") == []
    )
    # LW_S3_2 is about WRITE: the WRITE grant is gone; READ (LW_S3_1's business) stays.
    assert grants_to_all_users(s3b, "b-public-1") == ["READ"]

    history = cli("history", "--json", "--config", str(config))
    assert history.returncode == 0, history.stderr
    actions = json.loads(history.stdout)
    assert len(actions) == 3
    assert all(a["before_image"] for a in actions)
    assert all(any(c["action"] == "s3:PutBucketAcl" for c in a["calls"]) for a in actions)
    # The filters of GET /admin/actions and the console's actions page.
    only_b = cli("history", "--json", "--account", B, "--since", "1h", "--config", str(config))
    assert only_b.returncode == 0, only_b.stderr
    assert [a["resource_arn"] for a in json.loads(only_b.stdout)] == ["arn:aws:s3:::b-public-1"]
    bad = cli("history", "--since", "yesterday", "--config", str(config))
    assert bad.returncode == 2 and "since: 'yesterday' is not a date" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1

    # The same event again: said so, nothing run, the earlier result not passed off as new.
    seen = cli("replay", "--mode", "auto", "--json", "--config", str(config), str(payload))
    assert seen.returncode == 1, seen.stderr
    assert json.loads(seen.stdout) == []
    assert "eventbridge:" in seen.stderr and "already in the store" in seen.stderr
    assert "--again" in seen.stderr
    assert len(json.loads(cli("history", "--json", "--config", str(config)).stdout)) == 3

    # --again runs it once more: new actions, which find the buckets already fixed.
    again = cli(
        "replay", "--mode", "auto", "--again", "--json", "--config", str(config), str(payload)
    )
    assert again.returncode == 0, again.stderr
    rerun = json.loads(again.stdout)
    assert {r["resource_arn"] for r in rerun} == set(by_resource)
    assert not {r["action_id"] for r in rerun} & {r["action_id"] for r in rows}
    assert {r["status"] for r in rerun} == {"resolved"}, json.dumps(rerun, indent=1)
    assert len(json.loads(cli("history", "--json", "--config", str(config)).stdout)) == 6


def test_replay_runs_new_alerts_and_names_the_seen_ones(admin_client, config_file, tmp_path):
    s3a = admin_client("s3", account=A)
    s3a.create_bucket(Bucket="a-public-1", ACL="public-read")
    first = two_account_s3_event()
    first["detail"]["EVENT_DETAILS"]["data"] = first["detail"]["EVENT_DETAILS"]["data"][:1]
    rows = first["detail"]["EVENT_DETAILS"]["data"][0]["ENTITY_MAP"]["NewViolation"]
    del rows[1:]
    second = copy.deepcopy(first)
    second["detail"]["EVENT_ID"] = "99999"
    one, two = tmp_path / "one.json", tmp_path / "two.json"
    one.write_text(json.dumps(first))
    two.write_text(json.dumps(second))
    config = config_file()
    assert cli("replay", "--config", str(config), str(one)).returncode == 0

    result = cli("replay", "--json", "--config", str(config), str(one), str(two))
    assert result.returncode == 0, result.stderr
    assert [r["status"] for r in json.loads(result.stdout)] == ["planned"]
    assert result.stderr.count("already in the store") == 1
    assert first["detail"]["EVENT_ID"] in result.stderr and "99999" not in result.stderr


def test_replay_dry_run_changes_nothing(admin_client, config_file, tmp_path):
    s3a = admin_client("s3", account=A)
    s3a.create_bucket(Bucket="a-public-1", ACL="public-read")
    payload = tmp_path / "event.json"
    event = two_account_s3_event()
    event["detail"]["EVENT_DETAILS"]["data"] = event["detail"]["EVENT_DETAILS"]["data"][:1]
    event["detail"]["EVENT_DETAILS"]["data"][0]["ENTITY_MAP"]["NewViolation"] = event["detail"][
        "EVENT_DETAILS"
    ]["data"][0]["ENTITY_MAP"]["NewViolation"][:1]
    payload.write_text(json.dumps(event))
    result = cli("replay", "--config", str(config_file()), str(payload))  # default mode: dry-run
    assert result.returncode == 0, result.stderr
    assert "planned" in result.stdout and "a-public-1" in result.stdout
    assert grants_to_all_users(s3a, "a-public-1") == ["READ"]


@pytest.mark.parametrize(
    ("content", "needle"),
    [("{not json", "not JSON"), ('{"hello": 1}', "no known Lacework payload shape")],
)
def test_replay_bad_files_are_one_line_exit_2(config_file, tmp_path, content, needle):
    payload = tmp_path / "bad.json"
    payload.write_text(content)
    result = cli("replay", "--config", str(config_file()), str(payload))
    assert result.returncode == 2
    assert needle in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_replay_missing_file(config_file):
    result = cli("replay", "--config", str(config_file()), "/nonexistent/alert.json")
    assert result.returncode == 2 and "No such file" in result.stderr


def test_config_check_ok_and_names_the_bad_key(config_file, tmp_path):
    good = config_file(
        server={"webhook_token": "t" * 32},
        remediation={"default_mode": "dry-run", "s3.enable_versioning": {"mode": "auto"}},
    )
    result = cli("config", "check", "--config", str(good))
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout and "auto" in result.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text('[remediation."cis_iam.tighten_password_policy"]\nmin_length = 200\n')
    result = cli("config", "check", "--config", str(bad))
    assert result.returncode == 2
    assert 'remediation."cis_iam.tighten_password_policy".min_length' in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_serve_refuses_without_a_webhook_token(config_file):
    result = cli("serve", "--config", str(config_file()))
    assert result.returncode == 2
    assert "webhook_token" in result.stderr and "Traceback" not in result.stderr


async def test_inbox_list_and_retry_from_the_cli(config_file, tmp_path):
    from lw_remediate.store import SqliteStore

    config = config_file()
    store = SqliteStore(str(tmp_path / "lw.sqlite3"))
    await store.open()
    [(inbox_id, _)] = await store.enqueue([("classic:77", "classic", "77", {"event_id": "77"})])
    await store.mark_inbox(inbox_id, "dead", error="Lacework has no alert 77")
    await store.close()

    listed = cli("inbox", "list", "--state", "dead", "--json", "--config", str(config))
    assert listed.returncode == 0, listed.stderr
    assert [(r["event_id"], r["last_error"]) for r in json.loads(listed.stdout)] == [
        ("77", "Lacework has no alert 77")
    ]
    retried = cli("inbox", "retry", str(inbox_id), "--by", "ops", "--config", str(config))
    assert retried.returncode == 0, retried.stderr
    assert "queued again" in retried.stdout
    again = cli("inbox", "retry", str(inbox_id), "--config", str(config))
    assert again.returncode == 1 and "not dead" in again.stderr
    missing = cli("inbox", "retry", "999", "--config", str(config))
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1
