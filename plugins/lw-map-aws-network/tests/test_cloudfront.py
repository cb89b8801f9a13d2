"""CloudFront: network.require_cloudfront_viewer_https (50), restrict_cloudfront_origin_tls
(42), require_cloudfront_origin_https (41, manual by default)."""

from __future__ import annotations

import json

import pytest

from lw_map_aws_network.remediations.cloudfront import ORIGIN_HTTPS, ORIGIN_TLS, VIEWER_HTTPS
from lw_remediate import ResourceChanged, Status


def _behaviour(policy, pattern=None):
    behaviour = {
        "TargetOriginId": "app",
        "ViewerProtocolPolicy": policy,
        "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
        "MinTTL": 0,
    }
    if pattern:
        behaviour["PathPattern"] = pattern
    return behaviour


@pytest.fixture
def distribution(admin_client):
    """A distribution: default behaviour allow-all, /api/* allow-all, /static/* https-only;
    a custom origin over match-viewer offering TLSv1 and TLSv1.2; an S3 origin."""
    config = {
        "CallerReference": "lw-test",
        "Comment": "test",
        "Enabled": True,
        "Origins": {
            "Quantity": 2,
            "Items": [
                {
                    "Id": "app",
                    "DomainName": "app.example.com",
                    "CustomOriginConfig": {
                        "HTTPPort": 80,
                        "HTTPSPort": 443,
                        "OriginProtocolPolicy": "match-viewer",
                        "OriginSslProtocols": {"Quantity": 2, "Items": ["TLSv1", "TLSv1.2"]},
                    },
                },
                {
                    "Id": "assets",
                    "DomainName": "assets.s3.amazonaws.com",
                    "S3OriginConfig": {"OriginAccessIdentity": ""},
                },
            ],
        },
        "DefaultCacheBehavior": _behaviour("allow-all"),
        "CacheBehaviors": {
            "Quantity": 2,
            "Items": [_behaviour("allow-all", "/api/*"), _behaviour("https-only", "/static/*")],
        },
    }
    dist = admin_client("cloudfront").create_distribution(DistributionConfig=config)
    return dist["Distribution"]["Id"]


@pytest.fixture
def cf_violation(make_violation):
    def _make(rule, dist):
        return make_violation(
            rule, f"arn:aws:cloudfront::123456789012:distribution/{dist}", region=None
        )

    return _make


def config_of(admin_client, dist):
    return admin_client("cloudfront").get_distribution_config(Id=dist)["DistributionConfig"]


def viewer_policies(config):
    return [config["DefaultCacheBehavior"]["ViewerProtocolPolicy"]] + [
        b["ViewerProtocolPolicy"] for b in config["CacheBehaviors"]["Items"]
    ]


async def test_viewer_https_on_every_behaviour_and_undo(
    distribution, admin_client, cf_violation, run_remediation, revert_action
):
    record = await run_remediation(VIEWER_HTTPS, cf_violation("LW_AWS_NETWORKING_50", distribution))
    assert record.status is Status.REMEDIATED, record.detail
    config = config_of(admin_client, distribution)
    assert viewer_policies(config) == ["redirect-to-https", "redirect-to-https", "https-only"]
    assert config["Origins"]["Items"][0]["CustomOriginConfig"]["OriginProtocolPolicy"] == (
        "match-viewer"
    )
    assert len(record.plan.changes) == 2
    await revert_action(VIEWER_HTTPS, record)
    assert viewer_policies(config_of(admin_client, distribution)) == [
        "allow-all",
        "allow-all",
        "https-only",
    ]


async def test_viewer_https_only_option(distribution, admin_client, cf_violation, run_remediation):
    record = await run_remediation(
        VIEWER_HTTPS,
        cf_violation("LW_AWS_NETWORKING_50", distribution),
        options={"viewer_protocol_policy": "https-only"},
    )
    assert record.status is Status.REMEDIATED
    assert set(viewer_policies(config_of(admin_client, distribution))) == {"https-only"}


async def test_compliant_distribution_is_resolved(
    distribution, cf_violation, run_remediation, writes
):
    first = await run_remediation(VIEWER_HTTPS, cf_violation("LW_AWS_NETWORKING_50", distribution))
    assert first.status is Status.REMEDIATED
    record = await run_remediation(VIEWER_HTTPS, cf_violation("LW_AWS_NETWORKING_50", distribution))
    assert record.status is Status.RESOLVED
    assert writes(record) == []


async def test_origin_tls_12_only(distribution, admin_client, cf_violation, run_remediation):
    record = await run_remediation(ORIGIN_TLS, cf_violation("LW_AWS_NETWORKING_42", distribution))
    assert record.status is Status.REMEDIATED, record.detail
    origin = config_of(admin_client, distribution)["Origins"]["Items"][0]["CustomOriginConfig"]
    assert origin["OriginSslProtocols"]["Items"] == ["TLSv1.2"]
    assert origin["OriginProtocolPolicy"] == "match-viewer"


async def test_origin_https_is_manual_by_default(
    distribution, cf_violation, run_remediation, writes
):
    record = await run_remediation(ORIGIN_HTTPS, cf_violation("LW_AWS_NETWORKING_41", distribution))
    assert record.status is Status.MANUAL
    assert f"--id {distribution}" in record.detail
    assert writes(record) == []


async def test_origin_https_enforced(
    distribution, admin_client, cf_violation, run_remediation, revert_action
):
    options = {"enforce": True}
    record = await run_remediation(
        ORIGIN_HTTPS, cf_violation("LW_AWS_NETWORKING_41", distribution), options=options
    )
    assert record.status is Status.REMEDIATED, record.detail
    origin = config_of(admin_client, distribution)["Origins"]["Items"][0]["CustomOriginConfig"]
    assert origin["OriginProtocolPolicy"] == "https-only"
    await revert_action(ORIGIN_HTTPS, record, options=options)
    origin = config_of(admin_client, distribution)["Origins"]["Items"][0]["CustomOriginConfig"]
    assert origin["OriginProtocolPolicy"] == "match-viewer"


async def test_undo_refuses_when_the_config_changed(
    distribution, admin_client, cf_violation, run_remediation, revert_action
):
    record = await run_remediation(ORIGIN_TLS, cf_violation("LW_AWS_NETWORKING_42", distribution))
    cloudfront = admin_client("cloudfront")
    response = cloudfront.get_distribution_config(Id=distribution)
    config = response["DistributionConfig"]
    config["Comment"] = "edited by hand"
    cloudfront.update_distribution(
        Id=distribution, IfMatch=response["ETag"], DistributionConfig=config
    )
    with pytest.raises(ResourceChanged):
        await revert_action(ORIGIN_TLS, record)


async def test_missing_distribution_is_resolved(cf_violation, run_remediation):
    record = await run_remediation(
        VIEWER_HTTPS, cf_violation("LW_AWS_NETWORKING_50", "E2QWRUHAPOMQZL")
    )
    assert record.status is Status.RESOLVED


@pytest.mark.parametrize(
    ("remediation", "rule", "options"),
    [
        (VIEWER_HTTPS, "LW_AWS_NETWORKING_50", {}),
        (ORIGIN_TLS, "LW_AWS_NETWORKING_42", {}),
        (ORIGIN_HTTPS, "LW_AWS_NETWORKING_41", {"enforce": True}),
    ],
)
async def test_dry_run_reads_the_config_once(
    remediation, rule, options, distribution, cf_violation, plans_on_check
):
    # plan builds on the edits check worked out (ctx.checked); plan alone reads the config
    operations, alone = await plans_on_check(
        remediation, cf_violation(rule, distribution), "GetDistributionConfig", options=options
    )
    assert operations == alone == ["GetDistributionConfig"]


async def test_check_keeps_only_the_edits_never_the_config(
    distribution, admin_client, cf_violation, remediation_context
):
    """Origin custom headers often carry a shared secret: what check keeps for plan is the
    fields to change, not the distribution config."""
    cloudfront = admin_client("cloudfront")
    answer = cloudfront.get_distribution_config(Id=distribution)
    config = answer["DistributionConfig"]
    config["Origins"]["Items"][0]["CustomHeaders"] = {
        "Quantity": 1,
        "Items": [{"HeaderName": "X-Origin-Secret", "HeaderValue": "s3cr3t-value"}],
    }
    cloudfront.update_distribution(
        Id=distribution, DistributionConfig=config, IfMatch=answer["ETag"]
    )
    violation = cf_violation("LW_AWS_NETWORKING_50", distribution)
    result = await VIEWER_HTTPS.check(remediation_context(VIEWER_HTTPS, violation), violation)
    assert result.present
    assert set(result.observed) == {"edits"}
    assert "s3cr3t-value" not in json.dumps(result.observed)
