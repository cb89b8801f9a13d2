"""deploy/ cannot rot: the example config matches the schema and the installed maps,
the systemd unit keeps its hardening, the container file its shape."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any, NamedTuple

import pydantic
import pytest

from lw_remediate.config import Config, load_config
from lw_remediate.plugins import load_maps

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
EXAMPLE = DEPLOY / "config.example.toml"
CONTAINER_CONFIG = DEPLOY / "container" / "config.toml"
HA_CONFIG = DEPLOY / "ha" / "config.toml"
UNIT = DEPLOY / "systemd" / "lw-remediate.service"
CONTAINERFILE = DEPLOY / "container" / "Containerfile"
CREDENTIALS = "/run/credentials/lw-remediate.service/"

#: Config fields that are not operator keys, or are tables of free-form entries.
NOT_KEYS = {("source",), ("remediations",), ("rules",)}

REGISTRY = load_maps()


# -- the example configuration --------------------------------------------------------


def schema_keys(model: type[pydantic.BaseModel], prefix: tuple[str, ...] = ()) -> set[tuple]:
    """Every leaf key of the configuration schema, as a path."""
    keys: set[tuple] = set()
    for name, info in model.model_fields.items():
        path = (*prefix, name)
        if path in NOT_KEYS:
            continue
        ann = info.annotation
        if isinstance(ann, type) and issubclass(ann, pydantic.BaseModel):
            keys |= schema_keys(ann, path)
        else:
            keys.add(path)
    return keys


def leaf_keys(table: dict[str, Any], prefix: tuple[str, ...] = ()) -> set[tuple]:
    keys: set[tuple] = set()
    for key, value in table.items():
        if isinstance(value, dict):
            keys |= leaf_keys(value, (*prefix, key))
        else:
            keys.add((*prefix, key))
    return keys


_HEADER = re.compile(r"^\[.*\]\s*$")
#: An optional key shown commented out: exactly ``# key = value``.
_COMMENTED_KEY = re.compile(r"^# ([a-z_]+) = \S")


#: A remediation table shown commented out: ``# [remediation."<id>"]``.
_COMMENTED_TABLE = re.compile(r'^# (\[remediation\."[a-z0-9_]+\.[a-z0-9_]+"\])$')
#: A key line inside a commented-out table (values on one line); ``# # key = value`` is
#: an alternative to other keys, still commented out once the table is uncommented.
_COMMENTED_TABLE_KEY = re.compile(r"^# (# )?([a-z][a-z0-9_]* = \S.*)$")


class CommentedTable(NamedTuple):
    values: dict[str, Any]
    alternatives: dict[str, Any]

    @property
    def shown(self) -> set[str]:
        return set(self.values) | set(self.alternatives)


def commented_keys(text: str) -> set[tuple]:
    """``# key = value`` lines, as paths under the table they appear in (the keys of a
    commented-out remediation table are :func:`commented_tables`)."""
    keys: set[tuple] = set()
    table: tuple[str, ...] | None = ()
    for line in text.splitlines():
        if _COMMENTED_TABLE.match(line):
            table = None
            continue
        if _HEADER.match(line):
            parsed = tomllib.loads(line)
            table = ()
            while parsed:
                ((name, parsed),) = parsed.items()
                table += (name,)
                if isinstance(parsed, list):  # [[array.of.tables]]
                    parsed = parsed[0]
            continue
        match = _COMMENTED_KEY.match(line)
        if match and table is not None:
            keys.add((*table, match.group(1)))
    return keys


def commented_tables(text: str) -> dict[str, CommentedTable]:
    """The commented-out ``[remediation."<id>"]`` tables, as they read uncommented: from
    the header to the next blank line, every ``# key = value`` line (``# # key = value``:
    an alternative, shown but not set)."""
    tables: dict[str, CommentedTable] = {}
    header: str | None = None
    body: list[str] = []
    alternatives: list[str] = []

    def parse(lines: list[str]) -> dict[str, Any]:
        table = tomllib.loads("\n".join([header or "", *lines]))["remediation"]
        return dict(next(iter(table.values())))

    def flush() -> None:
        if header is not None:
            rid = header.split('"')[1]
            assert rid not in tables, f"two commented tables for {rid}"
            tables[rid] = CommentedTable(parse(body), parse(alternatives))

    for line in [*text.splitlines(), ""]:
        match = _COMMENTED_TABLE.match(line)
        if match:
            flush()
            header, body, alternatives = match.group(1), [], []
        elif header is not None and not line.startswith("#"):
            flush()
            header = None
        elif header is not None and (key := _COMMENTED_TABLE_KEY.match(line)):
            (alternatives if key.group(1) else body).append(key.group(2))
    return tables


def _example_data() -> dict[str, Any]:
    return tomllib.loads(EXAMPLE.read_text())


@pytest.mark.parametrize(
    "path", [EXAMPLE, CONTAINER_CONFIG, HA_CONFIG], ids=lambda p: f"{p.parent.name}/{p.name}"
)
def test_config_loads_and_validates_against_the_installed_maps(path):
    config = load_config(path, environ={})
    config.validate_remediations(REGISTRY.remediations)


def test_the_example_config_runs_everything_in_dry_run():
    """Rollout step 1: nothing installed from the example changes anything."""
    config = load_config(EXAMPLE, environ={})
    modes = {config.mode_for(rid).value for rid in REGISTRY.remediations}
    assert modes <= {"dry-run", "off"}, modes


def test_example_config_shows_every_key_of_the_schema():
    text = EXAMPLE.read_text()
    data = _example_data()
    remediation_tables = {
        ("remediation", rid, key)
        for rid, table in data.get("remediation", {}).items()
        if isinstance(table, dict)
        for key in table
    }
    shown = (leaf_keys(data) | commented_keys(text)) - remediation_tables
    shown = {k for k in shown if k[0] != "rules"}
    schema = schema_keys(Config)
    missing = sorted(".".join(k) for k in schema - shown)
    assert not missing, f"deploy/config.example.toml does not show (and describe): {missing}"
    unknown = sorted(".".join(k) for k in shown - schema)
    assert not unknown, f"deploy/config.example.toml shows keys the schema lacks: {unknown}"
    assert "rules" in data, "the example shows the [rules] table"


def test_example_remediation_tables_show_every_option():
    data = _example_data()
    tables = {rid: t for rid, t in data["remediation"].items() if isinstance(t, dict)}
    assert {"s3.enable_versioning", "cis_iam.tighten_password_policy"} <= set(tables)
    for rid, table in tables.items():
        rem = REGISTRY.remediations[rid]
        assert "mode" in table, f'[remediation."{rid}"] shows its mode'
        missing = set(rem.options.model_fields) - set(table)
        assert not missing, f'[remediation."{rid}"] does not show option(s) {sorted(missing)}'
        assert rem.parse_options({k: v for k, v in table.items() if k != "mode"})


def test_every_remediation_with_options_has_a_table_in_the_example():
    """Each installed remediation with options shows them: a table of its own, set or
    commented out, so an operator finds every option of every map set in one place."""
    data = _example_data()
    shown = set(data["remediation"]) | set(commented_tables(EXAMPLE.read_text()))
    with_options = {rid for rid, rem in REGISTRY.remediations.items() if rem.options.model_fields}
    missing = sorted(with_options - shown)
    assert not missing, f"deploy/config.example.toml has no table for {missing}"


def test_commented_tables_are_dry_run_complete_and_valid():
    """Uncommented, each table is valid for its remediation, in dry-run, with every option."""
    tables = commented_tables(EXAMPLE.read_text())
    assert len(tables) > 40
    real = {rid for rid, t in _example_data()["remediation"].items() if isinstance(t, dict)}
    assert not real & set(tables), "a remediation has both a real and a commented table"
    for rid, table in tables.items():
        assert rid in REGISTRY.remediations, f"commented table for unknown remediation {rid}"
        rem = REGISTRY.remediations[rid]
        assert table.values.get("mode") == "dry-run", f'[remediation."{rid}"] is not dry-run'
        missing = set(rem.options.model_fields) - table.shown
        assert not missing, f'# [remediation."{rid}"] does not show option(s) {sorted(missing)}'
        unknown = table.shown - set(rem.options.model_fields) - {"mode"}
        assert not unknown, f'# [remediation."{rid}"] shows unknown key(s) {sorted(unknown)}'
        rem.parse_options({k: v for k, v in table.values.items() if k != "mode"})
        for key, value in table.alternatives.items():  # each alternative is valid in place
            rem.parse_options({key: value})


def test_the_example_with_every_table_uncommented_loads_and_stays_dry_run(tmp_path):
    text = EXAMPLE.read_text()
    tables = commented_tables(text)
    lines = []
    for rid, table in tables.items():
        lines.append(f'[remediation."{rid}"]')
        lines += [f"{key} = {_toml(value)}" for key, value in table.values.items()]
    path = tmp_path / "config.toml"
    path.write_text(text + "\n" + "\n".join(lines) + "\n")
    config = load_config(path, environ={})
    config.validate_remediations(REGISTRY.remediations)
    assert {config.mode_for(rid).value for rid in tables} == {"dry-run"}


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"
    return str(value)


def test_every_key_line_has_a_comment_above_it():
    """Each key (set or commented out) is described: a comment line comes before it,
    or it belongs to a block whose first key is."""
    lines = EXAMPLE.read_text().splitlines()
    for i, line in enumerate(lines):
        is_key = bool(_COMMENTED_KEY.match(line) or re.match(r"^[a-z_]+ = ", line))
        if is_key and i:
            above = lines[i - 1]
            assert above.startswith("#") or re.match(r"^[a-z_]+ = ", above), (
                f"config.example.toml line {i + 1} ({line!r}) has no comment"
            )


def test_secret_files_match_the_systemd_credentials():
    """Every credential the example reads is loaded by the unit, and vice versa."""
    text = EXAMPLE.read_text()
    used = set(re.findall(re.escape(CREDENTIALS) + r"([A-Za-z0-9_.-]+)", text))
    loaded = {
        value.split(":", 1)[0]
        for key, value in unit_settings(include_commented=True)
        if key == "LoadCredential"
    }
    assert used == loaded


# -- the systemd unit -----------------------------------------------------------------


def unit_settings(*, include_commented: bool = False) -> list[tuple[str, str]]:
    """(key, value) pairs of the unit, in order; keys may repeat."""
    pairs = []
    for raw in UNIT.read_text().splitlines():
        line = raw.strip()
        if include_commented and re.match(r"^#[A-Z][A-Za-z]+=", line):
            line = line[1:]
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        pairs.append((key.strip(), value.strip()))
    return pairs


@pytest.mark.parametrize(
    ("key", "value"),
    [
        (
            "ExecStart",
            "/opt/lw-remediate/bin/lw-remediate serve --config /etc/lw-remediate/config.toml",
        ),
        ("DynamicUser", "yes"),
        ("StateDirectory", "lw-remediate"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("NoNewPrivileges", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("CapabilityBoundingSet", ""),
        ("AmbientCapabilities", ""),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("SystemCallFilter", "@system-service"),
        ("SystemCallArchitectures", "native"),
        ("MemoryDenyWriteExecute", "yes"),
        ("RestrictNamespaces", "yes"),
        ("RestrictSUIDSGID", "yes"),
        ("LockPersonality", "yes"),
        ("ProtectKernelTunables", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectControlGroups", "yes"),
        ("UMask", "0077"),
        ("Restart", "on-failure"),
        ("RestartPreventExitStatus", "2"),
        ("ExecReload", "/bin/kill -HUP $MAINPID"),
    ],
)
def test_systemd_unit_keeps_its_hardening(key, value):
    assert (key, value) in unit_settings(), f"{UNIT.name} lacks {key}={value}"


def test_systemd_unit_loads_secrets_as_credentials_not_environment():
    settings = unit_settings()
    assert any(k == "LoadCredential" for k, _ in settings)
    env = " ".join(v for k, v in settings if k == "Environment")
    assert not re.search(r"TOKEN|SECRET|WEBHOOK_URL|API_KEY", env), env
    assert not any(k == "EnvironmentFile" for k, _ in settings)


def test_the_example_store_lives_in_the_state_directory():
    state = dict(unit_settings())["StateDirectory"]
    path = load_config(EXAMPLE, environ={}).store.path
    assert path.startswith(f"/var/lib/{state}/")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_analyze_rates_the_unit_well():
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", str(UNIT)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", result.stdout)
    if result.returncode != 0 and match is None:
        pytest.skip(f"systemd-analyze cannot rate offline here: {result.stderr.strip()[:200]}")
    assert match, result.stdout[-500:]
    assert float(match.group(1)) <= 2.0, result.stdout


# -- the container file ---------------------------------------------------------------


def test_containerfile_shape():
    text = CONTAINERFILE.read_text()
    instructions = [
        line.split(None, 1)
        for line in re.sub(r"\\\n", " ", text).splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    by_name: dict[str, list[str]] = {}
    for name, *rest in instructions:
        by_name.setdefault(name.upper(), []).append(rest[0] if rest else "")
    assert all(f.startswith("python:3.11-slim") for f in by_name["FROM"])
    user = by_name["USER"][-1].split(":")[0]
    assert user not in {"0", "root"}, "the daemon does not run as root"
    assert by_name["EXPOSE"] == ["8080"]
    assert any("/var/lib/lw-remediate" in v for v in by_name["VOLUME"])
    assert any("/healthz" in v for v in by_name["HEALTHCHECK"])
    install = " ".join(v for v in by_name["RUN"] if "pip install" in v)
    plugins = sorted(f"./plugins/{p.name}" for p in (ROOT / "plugins").iterdir() if p.is_dir())
    for source in ("./core", *plugins):
        assert source in install, f"the container does not install {source}"
    for copy in by_name["COPY"]:
        if copy.startswith("--from"):
            continue
        source = copy.split()[0]
        assert (ROOT / source).exists(), f"COPY source {source} does not exist"


def test_the_hand_sent_classic_sample_in_the_guide_is_a_classic_alert():
    import json

    from lw_remediate.ingest.alerts import Shape, parse_payload

    text = (ROOT / "docs" / "operating.md").read_text()
    match = re.search(r"-d '(\{\n  \"event_id\".*?\})'", text, re.S)
    assert match, "the classic curl sample is gone from docs/operating.md"
    (alert,) = parse_payload(json.loads(match.group(1)))
    assert alert.shape is Shape.CLASSIC and alert.rule_ids == ("LW_S3_16",)


def test_the_container_secrets_port_and_store_agree():
    """The secrets the image's example creates are the ones its configuration reads;
    the health check asks the port the daemon listens on; the store is on the volume,
    in a directory the image's user owns (issue 18)."""
    text = CONTAINERFILE.read_text()
    created = set(re.findall(r"podman secret create (\w+) -", text))
    passed = set(re.findall(r"--secret (\w+)", text))
    read = set(re.findall(r"/run/secrets/(\w+)", CONTAINER_CONFIG.read_text()))
    assert created == passed == read == {"lw_webhook_token", "lw_api_secret"}
    guide = (ROOT / "docs" / "operating.md").read_text()
    section = guide.split("## Running in a container", 1)[1].split("\n## ", 1)[0]
    (example,) = re.findall(r"```sh\n(.*?)```", section, re.S)[:1]
    assert set(re.findall(r"podman secret create (\w+) -", example)) == created
    assert set(re.findall(r"--secret (\w+)", example)) == created

    config = load_config(CONTAINER_CONFIG, environ={})
    (expose,) = re.findall(r"^EXPOSE (\d+)$", text, re.M)
    (health,) = re.findall(r"http://127\.0\.0\.1:(\d+)/healthz", text)
    assert config.server.port == int(expose) == int(health)

    (volume,) = re.findall(r'^VOLUME \["([^"]+)"\]', text, re.M)
    assert Path(config.store.path).parent == Path(volume)
    kill_switch = config.safety.resolved_kill_switch_file(config.store.path)
    assert Path(kill_switch).parent == Path(volume)
    (user,) = re.findall(r"^USER (\d+):\d+$", text, re.M)
    assert re.search(rf"install -d -o {user} -g \d+ -m 0700 {re.escape(volume)}", text)


def test_the_ha_example_reads_every_secret_from_the_units_credentials():
    """Two VMs, one unit: the HA config's secret files are credentials the unit loads."""
    used = set(re.findall(re.escape(CREDENTIALS) + r"([A-Za-z0-9_.-]+)", HA_CONFIG.read_text()))
    loaded = {
        value.split(":", 1)[0]
        for key, value in unit_settings(include_commented=True)
        if key == "LoadCredential"
    }
    assert used and used <= loaded, used - loaded
    config = load_config(HA_CONFIG, environ={})
    assert config.store.postgres and config.store.url is None
    assert config.store.url_file == f"{CREDENTIALS}store_url"
