"""``plan`` builds on what ``check`` read moments ago in the same run (``ctx.checked``).

A dry-run reads the password policy, a user's credentials (user, login profile, keys and
their last use), SSH keys, the security contact, the instance, the support roles or the
admin policy's holders once; ``plan`` on its own (``ctx.checked`` None) still reads them
itself and plans exactly the same change.
"""

from __future__ import annotations

import json

from lw_map_cis_iam.remediations import (
    admin_policies,
    console_password,
    inactive_user,
    instance_profile,
    key_rotation,
    password_policy,
    security_contact,
    setup_keys,
    ssh_keys,
    support_role,
    unused_credentials,
)


async def test_password_policy(admin_client, make_violation, plans_on_check):
    admin_client("iam").update_account_password_policy(MinimumPasswordLength=8)
    operations, alone = await plans_on_check(
        password_policy.REMEDIATION,
        make_violation("AWS_CIS_1_9", "root"),
    )
    assert operations == alone == ["GetAccountPasswordPolicy"]


async def test_password_policy_when_there_is_none(make_violation, plans_on_check):
    operations, alone = await plans_on_check(
        password_policy.REMEDIATION,
        make_violation("AWS_CIS_1_9", "root"),
    )
    assert operations == alone == ["GetAccountPasswordPolicy"]


async def test_unused_credentials(seed, make_violation, plans_on_check):
    seed.user("bob", console=True, age_days=400)
    seed.password_used("bob", 200)
    seed.key("bob", age_days=400, used_days_ago=120)
    seed.key("bob", age_days=400, used_days_ago=3)
    operations, alone = await plans_on_check(
        unused_credentials.REMEDIATION,
        make_violation("AWS_CIS_1_3", "bob"),
        options={"delete_login_profile": True},
    )
    # one GetAccessKeyLastUsed per key, each once
    read = [
        "GetUser",
        "GetLoginProfile",
        "ListAccessKeys",
        "GetAccessKeyLastUsed",
        "GetAccessKeyLastUsed",
    ]
    assert operations == alone == read


async def test_inactive_user(seed, make_violation, plans_on_check):
    seed.user("ina", console=True, age_days=200)
    seed.password_used("ina", 60)
    seed.key("ina", age_days=150, used_days_ago=45)
    operations, alone = await plans_on_check(
        inactive_user.REMEDIATION,
        make_violation("LW_AWS_IAM_7", "ina"),
        options={"deactivate_keys": True, "delete_login_profile": True},
    )
    assert (
        operations
        == alone
        == ["GetUser", "GetLoginProfile", "ListAccessKeys", "GetAccessKeyLastUsed"]
    )


async def test_console_password(seed, make_violation, plans_on_check):
    seed.user("pat", console=True, age_days=400)
    seed.password_used("pat", 120)
    seed.key("pat", age_days=100, used_days_ago=1)
    operations, alone = await plans_on_check(
        console_password.REMEDIATION,
        make_violation("LW_AWS_IAM_14", "pat"),
        options={"delete_login_profile": True},
    )
    assert operations == alone == ["GetUser", "GetLoginProfile"]


async def test_ssh_keys(seed, make_violation, plans_on_check):
    seed.user("bob")
    seed.ssh_key("bob", age_days=40)
    seed.ssh_key("bob", age_days=3)
    operations, alone = await plans_on_check(
        ssh_keys.REMEDIATION, make_violation("LW_AWS_IAM_3", "bob")
    )
    assert operations == alone == ["ListSSHPublicKeys"]


async def test_key_rotation(seed, make_violation, plans_on_check):
    seed.user("bob")
    seed.key("bob", age_days=120, used_days_ago=10)
    seed.key("bob", age_days=5, used_days_ago=1)
    operations, alone = await plans_on_check(
        key_rotation.REMEDIATION,
        make_violation("AWS_CIS_1_4", "bob"),
        options={"action": "deactivate_if_rotated"},
    )
    assert operations == alone
    assert operations == ["ListAccessKeys", "GetAccessKeyLastUsed", "GetAccessKeyLastUsed"]


async def test_setup_keys(seed, make_violation, plans_on_check):
    seed.user("bob", console=True)
    seed.key("bob", age_days=30)
    seed.key("bob", age_days=30, used_days_ago=2)
    operations, alone = await plans_on_check(
        setup_keys.REMEDIATION, make_violation("AWS_CIS_1_23", "bob")
    )
    assert operations == alone
    assert operations == [
        "GetLoginProfile",
        "ListAccessKeys",
        "GetAccessKeyLastUsed",
        "GetAccessKeyLastUsed",
    ]


async def test_security_contact(make_violation, plans_on_check):
    options = {
        "name": "Security Team",
        "title": "SecOps",
        "email": "security@example.com",
        "phone": "+1 555 0100",
    }
    operations, alone = await plans_on_check(
        security_contact.REMEDIATION,
        make_violation("AWS_CIS_1_20", "root"),
        options=options,
    )
    assert operations == alone == ["GetAlternateContact"]


async def test_instance_profile(admin_client, trust_policy, make_violation, plans_on_check):
    iam = admin_client("iam")
    role = iam.create_role(
        RoleName="ssm-core",
        AssumeRolePolicyDocument=json.dumps(trust_policy({"Service": "ec2.amazonaws.com"})),
    )["Role"]["Arn"]
    profile = iam.create_instance_profile(InstanceProfileName="baseline")["InstanceProfile"]["Arn"]
    iam.add_role_to_instance_profile(InstanceProfileName="baseline", RoleName="ssm-core")
    instance = admin_client("ec2").run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)[
        "Instances"
    ][0]["InstanceId"]
    operations, alone = await plans_on_check(
        instance_profile.REMEDIATION,
        make_violation("AWS_CIS_1_21", f"arn:aws:ec2:us-east-1:123456789012:instance/{instance}"),
        "DescribeInstances",
        options={"action": "associate", "instance_profile_arn": profile, "role_arn": role},
    )
    assert operations.count("DescribeInstances") == alone.count("DescribeInstances") == 1
    assert operations[0] == "DescribeInstances"


async def test_support_role(aws_managed_policies, make_violation, plans_on_check):
    operations, alone = await plans_on_check(
        support_role.REMEDIATION,
        make_violation("AWS_CIS_1_22", "root"),
        options={"trusted_principal_arns": ["arn:aws:iam::111122223333:role/SecOps"]},
    )
    assert operations.count("ListEntitiesForPolicy") == 1
    assert alone.count("ListEntitiesForPolicy") == 1
    assert operations == alone


async def test_admin_policies(admin_client, trust_policy, make_violation, plans_on_check):
    iam = admin_client("iam")
    admin = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
    }
    arn = iam.create_policy(PolicyName="god-mode", PolicyDocument=json.dumps(admin))["Policy"][
        "Arn"
    ]
    trust = json.dumps(trust_policy({"AWS": "arn:aws:iam::123456789012:root"}))
    iam.create_user(UserName="dev")
    iam.create_role(RoleName="break-glass", Path="/emergency/", AssumeRolePolicyDocument=trust)
    iam.attach_user_policy(UserName="dev", PolicyArn=arn)
    iam.attach_role_policy(RoleName="break-glass", PolicyArn=arn)
    options = {
        "action": "detach",
        "break_glass_principals": ["arn:aws:iam::123456789012:role/emergency/break-glass"],
    }
    operations, alone = await plans_on_check(
        admin_policies.REMEDIATION,
        make_violation("AWS_CIS_1_24", arn),
        options=options,
    )
    for read in ("GetPolicy", "GetPolicyVersion", "ListEntitiesForPolicy"):
        assert operations.count(read) == alone.count(read) == 1, (read, operations, alone)
    assert operations == alone
