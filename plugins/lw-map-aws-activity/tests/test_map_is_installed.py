"""The lw-map-aws-activity entry point resolves; `lw-remediate maps` lists every activity
class with its response kind and the public policy ids."""

from __future__ import annotations

import json
import os
from importlib.metadata import entry_points

from click.testing import CliRunner

import lw_map_aws_activity
from lw_remediate.cli import cli
from lw_remediate.maps import load_maps

EXPECTED = {
    "activity.start_logging": False,
    "activity.start_config_recorder": False,
    "activity.cancel_key_deletion": False,
    "activity.restore_public_access_block": False,
    "activity.review_root_usage": True,
    "activity.review_unauthorized_calls": True,
    "activity.review_console_login_without_mfa": True,
    "activity.review_new_user": True,
    "activity.review_new_geolocation_login": True,
}


def test_map_is_installed_without_conflicts():
    [ep] = [e for e in entry_points(group="lw_remediate.maps") if e.name == "activity"]
    assert ep.load() is lw_map_aws_activity
    registry = load_maps(allow=["lw-map-aws-activity"], strict=True)
    assert registry.index.conflicts == {}
    assert {rid: r.manual_by_default for rid, r in registry.remediations.items()} == EXPECTED
    for rid, rem in registry.remediations.items():
        if rem.auto_remediable:
            assert rem.revert is not None, f"{rid} must be reversible"
    assert [name for name, _ in registry.touch_hooks] == ["lw-map-aws-activity"]


def test_all_maps_load_together_without_conflicts():
    registry = load_maps(strict=True)
    assert registry.index.conflicts == {}


def test_lw_remediate_maps_lists_every_activity_class(tmp_path, monkeypatch):
    for name in [n for n in os.environ if n.startswith("LW_REMEDIATE_")]:
        monkeypatch.delenv(name)
    config = tmp_path / "config.toml"
    config.write_text('[maps]\nallow = ["lw-map-aws-activity"]\n')
    result = CliRunner().invoke(cli, ["maps", "--config", str(config), "--json"])
    assert result.exit_code == 0, result.output
    [listed] = json.loads(result.output)["maps"]
    classes = {a["event_class"]: a for a in listed["activity"]}
    assert len(classes) == len(lw_map_aws_activity.lw_remediate_activity_policies())
    ids = {i for a in listed["activity"] for i in a["policy_ids"]}
    assert ids == {f"lacework-global-{n}" for n in (1, 2, 8, 19, 29)}
    assert classes["Security group change"]["response"] == "re-evaluate"
    assert classes["CloudTrail logging stopped"]["response"] == "revert"
    assert classes["Root account usage"]["response"] == "watch"
    text = CliRunner().invoke(cli, ["maps", "--config", str(config)])
    assert text.exit_code == 0, text.output
    assert "ACTIVITY ALERT" in text.output
    assert "Security group change" in text.output and "lacework-global-2" in text.output
    assert "(no public id) [StopLogging]" in text.output


def test_every_session_policy_fits_sts_limit():
    for rem in lw_map_aws_activity.lw_remediate_remediations():
        options = rem.parse_options({"enable_key": True} if "key" in rem.id else {})
        document = rem.session_policy(options, account="123456789012")
        assert len(json.dumps(document, separators=(",", ":"))) < 2048, rem.id
