"""Start-up: `config check` runs the checks `serve` runs; every start-up failure is one
line with exit status 2 (the systemd unit does not restart those); the documented
table of checks is the list the code runs."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lw_remediate.config import load_config
from lw_remediate.errors import ConfigError
from lw_remediate.operate.startup import CHECKS, ONLINE_CHECKS, checks_table, run_checks

from .conftest import to_toml

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "w" * 24
UNWRITABLE = "/sys"  # not writable even for root


def cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None):
    base = {k: v for k, v in os.environ.items() if not k.startswith("LW_")}
    return subprocess.run(
        [sys.executable, "-c", "from lw_remediate.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**base, **(env or {})},
        cwd=cwd,
    )


def write_config(tmp_path: Path, **sections: Any) -> Path:
    data: dict[str, Any] = {
        "server": {"host": "127.0.0.1", "port": 1, "webhook_token": TOKEN},
        "store": {"path": str(tmp_path / "lw.sqlite3")},
    }
    for name, values in sections.items():
        if isinstance(values, dict) and isinstance(data.get(name), dict):
            data[name] = {**data[name], **values}
        else:
            data[name] = values
    path = tmp_path / "lw.toml"
    path.write_text(to_toml(data))
    return path


#: check key -> (config sections making it fail, what the one line must contain)
FAILING: dict[str, tuple[dict[str, Any], str]] = {
    "*_file": (
        {"lacework": {"account": "acme", "key_id": "K", "secret_file": "/nonexistent/secret"}},
        "lacework.secret_file: cannot read /nonexistent/secret: No such file or directory",
    ),
    "server.webhook_token": (
        {"server": {"webhook_token": "short"}},
        "server.webhook_token: 5 characters; use at least 16",
    ),
    "server.admin_token": (
        {"server": {"admin_token": TOKEN}},
        "server.admin_token: must differ from server.webhook_token",
    ),
    "lacework": ({"lacework": {"account": "acme"}}, "lacework.key_id: required"),
    "remediation, rules, exemptions": (
        {"remediation": {"cis_iam.tighten_password_policy": {"min_length": 200}}},
        'remediation."cis_iam.tighten_password_policy".min_length',
    ),
    "notify.slack": (
        {"notify": {"slack": {"webhook_url": "http://hooks.example.com/services/T/B/X"}}},
        "notify.slack.webhook_url: not an https:// URL",
    ),
    "store.path": (
        {"store": {"path": f"{UNWRITABLE}/lw.sqlite3"}},
        f"store.path: cannot write {UNWRITABLE}/lw.sqlite3: Permission denied",
    ),
    "safety.kill_switch_file": (
        {"safety": {"kill_switch_file": f"{UNWRITABLE}/lw.kill-switch"}},
        f"safety.kill_switch_file: cannot write {UNWRITABLE}/lw.kill-switch: Permission denied",
    ),
}


def _documented_prefix(message: str) -> str:
    """The fixed start of a documented message (up to the first placeholder)."""
    for marker in ("<", "("):
        message = message.split(marker, 1)[0]
    return message.strip()


def test_every_check_has_a_failing_case():
    assert set(FAILING) == {c.key for c in CHECKS}


@pytest.mark.parametrize("key", list(FAILING))
def test_each_check_fails_with_its_documented_message(tmp_path, key):
    sections, needle = FAILING[key]
    config = load_config(write_config(tmp_path, **sections), environ={})
    with pytest.raises(ConfigError) as caught:
        run_checks(config)
    message = str(caught.value)
    assert needle in message
    (check,) = [c for c in CHECKS if c.key == key]
    prefix = _documented_prefix(check.message)
    if not prefix.startswith(("<key>", "remediation")):  # those name the key itself
        assert message.startswith(prefix), (message, check.message)


def test_slack_table_without_a_url_is_refused(tmp_path):
    config = load_config(
        write_config(tmp_path, notify={"slack": {"timeout_seconds": 5}}), environ={}
    )
    with pytest.raises(ConfigError, match=r"^notify\.slack: no webhook_url"):
        run_checks(config)


def test_a_loopback_http_slack_url_passes(tmp_path):
    config = load_config(
        write_config(tmp_path, notify={"slack": {"webhook_url": "http://127.0.0.1:9/hook"}}),
        environ={},
    )
    assert run_checks(config).registry is not None


def test_the_operating_guide_shows_the_check_list():
    text = (ROOT / "docs" / "operating.md").read_text()
    assert checks_table() in text, "regenerate the table: print(checks_table())"
    for check in (*CHECKS, *ONLINE_CHECKS):
        assert check.message in text


# -- through the CLI: config check predicts serve ------------------------------------------


@pytest.mark.parametrize(
    "key", ["*_file", "server.admin_token", "notify.slack", "store.path", "safety.kill_switch_file"]
)
def test_config_check_and_serve_fail_alike_in_one_line(tmp_path, key):
    sections, needle = FAILING[key]
    path = write_config(tmp_path, **sections)
    check = cli("config", "check", "--config", str(path))
    serve = cli("serve", "--config", str(path))
    assert check.returncode == 2 and serve.returncode == 2
    assert check.stdout == ""  # never "OK" and then the error
    line = check.stderr.strip()
    assert len(line.splitlines()) == 1 and needle in line, check.stderr
    assert line in serve.stderr.splitlines(), serve.stderr
    assert "Traceback" not in serve.stderr


def test_serve_with_the_port_in_use_is_one_line_exit_2(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        path = write_config(tmp_path, server={"port": port})
        result = cli("serve", "--config", str(path))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last == (
        f"lw-remediate: cannot start: cannot listen on 127.0.0.1:{port}: Address already in use"
    )


def test_serve_with_a_store_that_is_not_sqlite_is_one_line_exit_2(tmp_path):
    store = tmp_path / "lw.sqlite3"
    store.write_text("not a database, but long enough to have a header " * 4)
    result = cli("serve", "--config", str(write_config(tmp_path)))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"lw-remediate: cannot start: store.path: cannot open {store}: file is not a database"
    )


def test_kill_switch_on_with_an_unwritable_file_is_one_line_exit_2(tmp_path):
    path = write_config(tmp_path, safety={"kill_switch_file": f"{UNWRITABLE}/ks"})
    result = cli("kill-switch", "on", "--config", str(path), "--by", "alice", "--reason", "x")
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (
        f"lw-remediate: config error: safety.kill_switch_file: cannot create {UNWRITABLE}/ks: "
        f"Permission denied (the switch is NOT on; `touch {UNWRITABLE}/ks` as a user who can "
        "write there also stops every apply)"
    )


def test_config_check_ok_says_which_checks_ran(tmp_path):
    result = cli("config", "check", "--config", str(write_config(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert "OK (start-up checks passed)" in result.stdout
    assert "no [lacework] API key configured" in result.stderr


# -- config check --online -----------------------------------------------------------------


@pytest.fixture
async def slack_recorder():
    """A loopback stand-in for a Slack incoming webhook: ``/services/good`` answers an
    empty message as Slack does (400 no_text), anything else 404 no_service."""
    from aiohttp import web

    from lw_remediate.testing.moto import free_port

    posted: list[Any] = []

    async def hook(request: web.Request) -> web.Response:
        body = await request.json()
        posted.append(body)
        if request.match_info["name"] != "good":
            return web.Response(status=404, text="no_service")
        if not body.get("text"):
            return web.Response(status=400, text="no_text")
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/services/{name}", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}/services", posted
    await runner.cleanup()


def online_config(tmp_path, moto_server, fake_lacework, **sections):
    base = {
        "lacework": {**fake_lacework.config},
        "aws": {"endpoint_url": moto_server.endpoint_url, "accounts": ["123456789012"]},
    }
    for name, values in sections.items():
        base[name] = {**base.get(name, {}), **values}
    return load_config(write_config(tmp_path, **base), environ={})


async def test_online_checks_pass_against_live_dependencies(
    tmp_path, moto_server, fake_lacework, slack_recorder, admin_client
):
    from lw_remediate.operate.startup import run_online_checks

    url, posted = slack_recorder
    admin_client("iam").create_role(RoleName="lw-remediate", AssumeRolePolicyDocument="{}")
    config = online_config(
        tmp_path,
        moto_server,
        fake_lacework,
        aws={"role_name": "lw-remediate"},
        notify={"slack": {"webhook_url": f"{url}/good"}},
    )
    await run_online_checks(run_checks(config))
    assert fake_lacework.count("/api/v2/access/tokens", 201) == 1
    assert posted == [{}]  # an empty message: Slack shows nothing


@pytest.mark.parametrize(
    ("case", "needle"),
    [
        ("lacework", "lacework: Lacework rejected the API key"),
        ("slack", "notify.slack.webhook_url: 127.0.0.1 refused the webhook: HTTP 404 no_service"),
    ],
)
async def test_online_checks_name_the_failing_dependency(
    tmp_path, moto_server, fake_lacework, slack_recorder, case, needle
):
    from lw_remediate.operate.startup import run_online_checks

    url, _ = slack_recorder
    sections: dict[str, Any] = {"notify": {"slack": {"webhook_url": f"{url}/good"}}}
    if case == "lacework":
        sections["lacework"] = {"secret": "_wrong-secret-0123456789"}
    else:
        sections["notify"] = {"slack": {"webhook_url": f"{url}/gone"}}
    config = online_config(tmp_path, moto_server, fake_lacework, **sections)
    with pytest.raises(ConfigError) as caught:
        await run_online_checks(run_checks(config))
    assert needle in str(caught.value)
    assert url not in str(caught.value)


async def test_online_check_says_the_role_is_missing_once(tmp_path, moto_server, fake_lacework):
    from lw_remediate.operate.startup import run_online_checks

    config = online_config(tmp_path, moto_server, fake_lacework, aws={"role_name": "no-such-role"})
    with pytest.raises(ConfigError) as caught:
        await run_online_checks(run_checks(config))
    assert str(caught.value).startswith(
        "aws.role_name: role arn:aws:iam::123456789012:role/no-such-role not found in account "
        "123456789012"
    )


async def test_config_check_online_from_the_cli(tmp_path, moto_server, fake_lacework):
    import asyncio

    path = write_config(
        tmp_path,
        lacework={**fake_lacework.config},
        aws={"endpoint_url": moto_server.endpoint_url},
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("LW_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from lw_remediate.cli import main; main()",
        "config",
        "check",
        "--online",
        "--config",
        str(path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()
    assert "OK (start-up and online checks passed)" in out.decode()
    assert fake_lacework.count("/api/v2/access/tokens", 201) == 1


def test_the_store_url_can_come_from_a_file(tmp_path):
    from lw_remediate.redact import redact

    secret = tmp_path / "store_url"
    secret.write_text("postgresql://lw:s3cret-pw-0123@db.internal:5432/lw\n")
    config = load_config(
        write_config(
            tmp_path,
            store={"url_file": str(secret), "path": f"{UNWRITABLE}/lw.sqlite3"},
            safety={"kill_switch_file": str(tmp_path / "ks")},
        ),
        environ={},
    )
    assert config.store.postgres
    assert config.store.resolved_url == "postgresql://lw:s3cret-pw-0123@db.internal:5432/lw"
    assert run_checks(config).registry is not None  # PostgreSQL: the SQLite path is unused
    assert "s3cret-pw-0123" not in redact("login failed for lw:s3cret-pw-0123")


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (None, "store.url_file: cannot read {path}: No such file or directory"),
        ("mysql://lw@db/lw", "store.url_file: {path}: must be a postgresql:// URL"),
    ],
)
def test_a_store_url_file_that_is_missing_or_no_postgresql_url_is_one_line(
    tmp_path, content, error
):
    secret = tmp_path / "store_url"
    if content is not None:
        secret.write_text(content)
    config = load_config(
        write_config(
            tmp_path,
            store={"url_file": str(secret)},
            safety={"kill_switch_file": str(tmp_path / "ks")},
        ),
        environ={},
    )
    with pytest.raises(ConfigError) as caught:
        run_checks(config)
    assert str(caught.value).startswith(error.format(path=secret)), caught.value


def test_with_a_postgresql_store_the_sqlite_path_is_not_checked(tmp_path):
    config = load_config(
        write_config(
            tmp_path,
            store={"url": "postgresql://lw@127.0.0.1:9/lw", "path": f"{UNWRITABLE}/lw.sqlite3"},
            safety={"kill_switch_file": str(tmp_path / "ks")},
        ),
        environ={},
    )
    assert run_checks(config).registry is not None


async def test_online_check_reads_a_postgresql_stores_schema_version(
    tmp_path, moto_server, fake_lacework, postgres_url
):
    import asyncpg

    from lw_remediate.operate.startup import run_online_checks
    from lw_remediate.store import PostgresStore
    from lw_remediate.store.postgres_schema import LATEST

    config = online_config(tmp_path, moto_server, fake_lacework, store={"url": postgres_url})
    state = run_checks(config)
    await run_online_checks(state)  # an empty database: start migrates it
    assert (
        "store.url: the database is at schema version 0; serve (or lw-remediate store "
        f"migrate) applies migrations 1 to {LATEST}"
    ) in state.notes
    store = PostgresStore(postgres_url)
    await store.open()
    await store.close()
    state = run_checks(config)
    await run_online_checks(state)
    assert not [n for n in state.notes if n.startswith("store.url")], state.notes

    conn = await asyncpg.connect(postgres_url)
    try:  # a newer release migrated it
        await conn.execute(
            "INSERT INTO schema_migrations (version, description, applied_at) VALUES ($1, '', 0)",
            LATEST + 1,
        )
    finally:
        await conn.close()
    with pytest.raises(ConfigError) as caught:
        await run_online_checks(run_checks(config))
    assert str(caught.value) == (
        f"store.url: the database is at schema version {LATEST + 1}, newer than this "
        f"lw-remediate (version {LATEST}); upgrade lw-remediate"
    )


def test_config_check_online_names_an_unreachable_postgresql_store(tmp_path):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    password = "pw-" + os.urandom(8).hex()
    path = write_config(tmp_path, safety={"kill_switch_file": str(tmp_path / "ks")})
    env = {k: v for k, v in os.environ.items() if not k.startswith("LW_")}
    env["LW_REMEDIATE_STORE_URL"] = f"postgresql://lw:{password}@127.0.0.1:{port}/lw"
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from lw_remediate.cli import main; main()",
            "config",
            "check",
            "--online",
            "--config",
            str(path),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "store.url: cannot connect: " in lines[0], result.stderr
    assert password not in result.stderr + result.stdout
