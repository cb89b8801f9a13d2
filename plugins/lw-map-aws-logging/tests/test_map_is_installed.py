"""The lw-map-aws-logging entry point resolves and covers every Logging and Monitoring rule
of the reference table (AWS_CIS_2_9, the VPC flow-log rule, belongs to lw-map-aws-network)."""

from __future__ import annotations

import json
import os
from importlib.metadata import entry_points

from click.testing import CliRunner

import lw_map_aws_logging
from lw_remediate.cli import cli
from lw_remediate.maps import load_maps

#: Remediation id -> (rules, manual by default).
EXPECTED = {
    "logging.enable_multi_region_trail": ({"AWS_CIS_2_1"}, False),
    "logging.enable_log_file_validation": ({"AWS_CIS_2_2"}, False),
    "logging.restrict_trail_bucket": ({"AWS_CIS_2_3"}, False),
    "logging.attach_trail_cloudwatch_logs": ({"AWS_CIS_2_4"}, False),
    "logging.enable_config_recorder": ({"AWS_CIS_2_5"}, False),
    "logging.enable_trail_bucket_logging": ({"AWS_CIS_2_6"}, False),
    "logging.encrypt_trail_with_cmk": ({"AWS_CIS_2_7"}, False),
    "logging.enable_key_rotation": ({"AWS_CIS_2_8"}, False),
    "logging.create_metric_filter_alarm": ({f"AWS_CIS_3_{n}" for n in range(1, 15)}, False),
    "logging.review_sns_subscribers": ({"AWS_CIS_3_15"}, True),
}
LOGGING_AND_MONITORING = {f"AWS_CIS_2_{n}" for n in range(1, 9)} | {
    f"AWS_CIS_3_{n}" for n in range(1, 16)
}


def test_map_is_installed():
    [ep] = [e for e in entry_points(group="lw_remediate.maps") if e.name == "logging"]
    assert ep.load() is lw_map_aws_logging
    registry = load_maps(allow=["lw-map-aws-logging"], strict=True)
    assert set(registry.remediations) == set(EXPECTED)


def test_every_logging_and_monitoring_rule_has_exactly_one_remediation():
    registry = load_maps(allow=["lw-map-aws-logging"], strict=True)
    assert registry.index.conflicts == {}
    covered = {rule for rem in registry.remediations.values() for rule in rem.rules}
    assert covered == LOGGING_AND_MONITORING
    for rule in LOGGING_AND_MONITORING:
        assert len(registry.index.lookup(rule).remediations) == 1, rule


def test_rules_and_manual_flags():
    registry = load_maps(allow=["lw-map-aws-logging"], strict=True)
    for rid, (rules, manual) in EXPECTED.items():
        rem = registry.remediations[rid]
        assert set(rem.rules) == rules, rid
        assert rem.manual_by_default is manual, rid
        if rem.auto_remediable:
            assert rem.revert is not None, f"{rid} must be reversible"


#: Legacy id -> lacework-global id (aws-rules.md); AWS_CIS_3_15 has no new id.
NEW_IDS = {
    **{
        f"AWS_CIS_2_{n}": f"lacework-global-{g}"
        for n, g in zip(range(1, 9), (53, 75, 54, 55, 76, 56, 77, 78), strict=True)
    },
    **{
        f"AWS_CIS_3_{n}": f"lacework-global-{g}"
        for n, g in zip(
            range(1, 15), (57, 58, 59, 60, 61, 82, 83, 62, 84, 85, 86, 63, 64, 65), strict=True
        )
    },
}


def test_both_id_forms_reach_the_same_remediation():
    registry = load_maps(allow=["lw-map-aws-logging"], strict=True)
    for legacy, new in NEW_IDS.items():
        [by_legacy] = registry.index.lookup(legacy).remediations
        [by_new] = registry.index.lookup(new).remediations
        assert by_legacy is by_new, (legacy, new)


def test_lw_remediate_maps_lists_every_rule(tmp_path, monkeypatch):
    for name in [n for n in os.environ if n.startswith("LW_REMEDIATE_")]:
        monkeypatch.delenv(name)
    config = tmp_path / "config.toml"
    config.write_text('[maps]\nallow = ["lw-map-s3", "lw-map-aws-logging"]\n')
    result = CliRunner().invoke(cli, ["maps", "--config", str(config), "--json"])
    assert result.exit_code == 0, result.output
    listed = json.dumps(json.loads(result.output))
    for rule in LOGGING_AND_MONITORING:
        assert f'"{rule}"' in listed, rule
    for new in NEW_IDS.values():
        assert f'"{new}"' in listed, new


#: The widest options of each remediation (every option that adds actions or resources).
WIDEST = {
    "logging.enable_multi_region_trail": {"create_trail": True, "bucket_name": "ct-{account}"},
    "logging.attach_trail_cloudwatch_logs": {
        "log_group_name": "cloudtrail/{account}/{trail}",
        "delivery_role_arn": "arn:aws:iam::{account}:role/" + "r" * 64,
        "create_log_group": True,
        "retention_days": 365,
    },
    "logging.restrict_trail_bucket": {"apply_public_access_block": True},
    "logging.enable_config_recorder": {
        "role_arn": "arn:aws:iam::{account}:role/aws-service-role/config.amazonaws.com/"
        "AWSServiceRoleForConfig",
        "bucket_name": "config-{account}",
        "global_resources_region": "us-east-1",
    },
    "logging.encrypt_trail_with_cmk": {
        "kms_key_arn": "arn:aws:kms:{region}:{account}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    },
    "logging.create_metric_filter_alarm": {
        "sns_topic_arn": "arn:aws:sns:{region}:{account}:cis-alarms",
        "create_topic": True,
    },
}


def test_every_session_policy_fits_sts_limit_with_the_widest_options():
    for rem in lw_map_aws_logging.lw_remediate_remediations():
        options = rem.parse_options(WIDEST.get(rem.id, {}))
        document = rem.session_policy(options, account="123456789012")
        assert len(json.dumps(document, separators=(",", ":"))) < 2048, rem.id
