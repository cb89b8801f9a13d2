"""The map's policies: every session policy fits STS's 2,048 characters with the options
that widen it most, no write is granted on ``*`` except account settings AWS scopes to no
resource, and ``policy --format cloudformation`` carries the map's resource-scoped policy."""

from __future__ import annotations

import json
import subprocess
import sys

import pydantic
import pytest

from lw_remediate.maps import load_maps

#: Options that widen each remediation's policy the most (others: defaults).
WIDEST = {
    "services.tag_untagged_instance": {"enforce": True, "default_tags": {"owner": "x"}},
    "services.set_elb_cipher_policy": {"enforce": True},
    "services.enable_lambda_tracing": {"attach_xray_policy": True},
    "services.encrypt_redshift_cluster": {
        "enforce": True,
        "kms_key_id": "arn:aws:kms:us-east-1:123456789012:key/mrk-0123456789abcdef0123456789abcdef",
    },
    "services.encrypt_es_domain": {
        "enforce": True,
        "kms_key_id": "arn:aws:kms:us-east-1:123456789012:key/mrk-0123456789abcdef0123456789abcdef",
    },
}

#: Writes AWS authorises on no resource type: EBS encryption by default is an account
#: setting of the region.
ON_STAR = frozenset({"ec2:EnableEbsEncryptionByDefault", "ec2:DisableEbsEncryptionByDefault"})

REGISTRY = load_maps(allow=["lw-map-aws-services"], strict=True)


@pytest.mark.parametrize("rid", sorted(REGISTRY.remediations))
def test_session_policy_fits_and_scopes_writes(rid):
    rem = REGISTRY.remediations[rid]
    doc = rem.session_policy(rem.parse_options(WIDEST.get(rid, {})), account="123456789012")
    assert len(json.dumps(doc, separators=(",", ":"))) < 2048
    for statement in doc["Statement"]:
        if statement.get("Effect") == "Deny":
            continue
        writes = [
            a
            for a in statement["Action"]
            if not a.split(":")[1].startswith(("Describe", "Get", "List")) and a not in ON_STAR
        ]
        assert not writes or statement["Resource"] != "*", (rid, writes)


KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.mark.parametrize("rid", ["services.encrypt_redshift_cluster", "services.encrypt_es_domain"])
@pytest.mark.parametrize(
    ("key", "resource"),
    [
        (KEY_ID, f"arn:aws:kms:*:123456789012:key/{KEY_ID}"),
        (
            f"arn:aws:kms:eu-west-1:210987654321:key/{KEY_ID}",
            f"arn:aws:kms:eu-west-1:210987654321:key/{KEY_ID}",
        ),
    ],
)
def test_a_configured_key_grants_the_dependent_kms_actions_on_that_key_only(rid, key, resource):
    rem = REGISTRY.remediations[rid]
    options = rem.parse_options({"enforce": True, "kms_key_id": key})
    for doc in (
        rem.session_policy(options, account="123456789012"),
        rem.policy_for(options).render(account="123456789012"),
    ):
        [kms] = [s for s in doc["Statement"] if any(a.startswith("kms:") for a in s["Action"])]
        assert kms["Action"] == ["kms:CreateGrant", "kms:DescribeKey"]
        assert kms["Resource"] == resource
    # no key (the AWS-managed one) or no enforce: no KMS action at all
    for raw in ({"enforce": True}, {"kms_key_id": key}):
        assert not {a for a in rem.policy_for(rem.parse_options(raw)).actions if "kms:" in a}


@pytest.mark.parametrize(
    "key", ["alias/warehouse", "arn:aws:kms:us-east-1:123456789012:alias/warehouse", "k", ""]
)
def test_a_key_option_must_name_the_key(key):
    rem = REGISTRY.remediations["services.encrypt_redshift_cluster"]
    with pytest.raises(pydantic.ValidationError, match="key id or key ARN"):
        rem.parse_options({"enforce": True, "kms_key_id": key})


def test_xray_attach_is_limited_to_the_managed_policy():
    rem = REGISTRY.remediations["services.enable_lambda_tracing"]
    doc = rem.session_policy(rem.parse_options({"attach_xray_policy": True}), account="1" * 12)
    [attach] = [s for s in doc["Statement"] if "iam:AttachRolePolicy" in s["Action"]]
    assert attach["Condition"] == {
        "ArnEquals": {"iam:PolicyARN": "arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess"}
    }


def test_cloudformation_carries_the_services_policy():
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from lw_remediate.cli import main; main()",
            "policy",
            "--format",
            "cloudformation",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    template = json.loads(result.stdout)
    [name] = [
        n
        for n, r in template["Resources"].items()
        if r["Type"] == "AWS::IAM::ManagedPolicy"
        and any(
            "ec2:ModifySnapshotAttribute" in s["Action"]
            for s in r["Properties"]["PolicyDocument"]["Statement"]
        )
    ]
    statements = template["Resources"][name]["Properties"]["PolicyDocument"]["Statement"]
    [snapshot] = [s for s in statements if "ec2:ModifySnapshotAttribute" in s["Action"]]
    resources = (
        snapshot["Resource"] if isinstance(snapshot["Resource"], list) else [snapshot["Resource"]]
    )
    assert {"Fn::Sub": "arn:${AWS::Partition}:ec2:*::snapshot/*"} in resources
    role = template["Resources"]["RemediationRole"]["Properties"]["ManagedPolicyArns"]
    assert {"Ref": name} in role
