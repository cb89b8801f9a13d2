"""Seeding helpers for the IAM tests: users, keys and their ages through moto's backend.

The IAM API cannot set a key's creation or last-use date, a password's last use or an
SSH key's upload date; moto's backend can (remediation-catalog.md, gap 16).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from lw_remediate import IamPolicy, PolicyStatement

READ_PREFIXES = ("Get", "List", "Describe", "Generate")


def writes(record: Any) -> list[str]:
    """The operations of a record's AWS calls that change something."""
    return [c.operation for c in record.calls if not c.operation.startswith(READ_PREFIXES)]


#: Dependent actions: AWS checks them inside another call, so they are never recorded. The
#: core has no way to declare them yet; ``iam:PassRole`` (AWS_CIS_1_21) is declared with
#: the option's other actions and its scoping is asserted on the policy itself.
DEPENDENT_ACTIONS = frozenset({"iam:PassRole"})

#: Calls whose request names no resource the recorder can turn into an ARN (an association
#: id), so they are recorded against ``*``; AWS authorises them on the instance.
RECORDED_ON_STAR = frozenset({"ec2:DisassociateIamInstanceProfile"})

#: A group or role pattern with a path: ``arn:...:group/lw-remediation/require-mfa``.
_PATH_QUALIFIED = re.compile(r"^(arn:[^:]*:iam::[^:]*:(?:group|role))/.+/([^/]+)$")


def as_recorded(policy: IamPolicy) -> IamPolicy:
    """The declared policy as the core's call recorder names resources, for the kit's check
    of the recorded calls. Test-only: the product declares what AWS authorises.

    * A call that names a group or role only by name (``GetGroup``, ``AddUserToGroup``,
      ``AttachRolePolicy``, ...) is recorded on the path-less ARN (``group/require-mfa``;
      only ``Create*`` calls carry the path). Each path-qualified group/role pattern gets its
      path-less twin here.
    * :data:`RECORDED_ON_STAR` calls are widened to ``*``.
    * :data:`DEPENDENT_ACTIONS` are left out (no call would use them).

    Every other part of the assertion (real action names, sufficiency under moto, each
    action used) is unchanged.
    """
    statements = []
    for st in policy.statements:
        actions = tuple(a for a in st.actions if a not in DEPENDENT_ACTIONS)
        star = tuple(a for a in actions if a in RECORDED_ON_STAR)
        if star:
            statements.append(PolicyStatement(star, ("*",), st.conditions))
        actions = tuple(a for a in actions if a not in RECORDED_ON_STAR)
        if not actions:
            continue
        twins = tuple(
            f"{m[1]}/{m[2]}" for r in st.resources if (m := _PATH_QUALIFIED.match(r)) is not None
        )
        statements.append(PolicyStatement(actions, st.resources + twins, st.conditions))
    return IamPolicy(tuple(statements))


def _past(days: float) -> dt.datetime:
    # moto keeps naive UTC datetimes
    return dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(days=days)


class IamSeed:
    """Create IAM state in account 123456789012 and back-date it."""

    def __init__(self, moto_server: Any) -> None:
        self.moto = moto_server
        self.iam = moto_server.client("iam")

    @property
    def backend(self) -> Any:
        return self.moto.iam_backend()

    def user(
        self, name: str, *, console: bool = False, age_days: float = 0, mfa: bool = False
    ) -> str:
        self.iam.create_user(UserName=name)
        if console:
            self.iam.create_login_profile(UserName=name, Password="Correct-Horse-9!")
        if mfa:
            serial = self.iam.create_virtual_mfa_device(VirtualMFADeviceName=f"{name}-mfa")[
                "VirtualMFADevice"
            ]["SerialNumber"]
            self.iam.enable_mfa_device(
                UserName=name,
                SerialNumber=serial,
                AuthenticationCode1="123456",
                AuthenticationCode2="654321",
            )
        if age_days:
            # the login profile's CreateDate is the user's in moto
            self.backend.users[name].create_date = _past(age_days)
        return name

    def password_used(self, user: str, days_ago: float) -> None:
        self.backend.users[user].password_last_used = _past(days_ago)

    def key(
        self,
        user: str,
        *,
        age_days: float = 0,
        used_days_ago: float | None = None,
        active: bool = True,
    ) -> str:
        key_id = str(self.iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"])
        if not active:
            self.iam.update_access_key(UserName=user, AccessKeyId=key_id, Status="Inactive")
        key = self._key(user, key_id)
        key.create_date = _past(age_days)
        if used_days_ago is not None:
            from moto.iam.models import AccessKeyLastUsed

            key.last_used = AccessKeyLastUsed(_past(used_days_ago), "s3", "us-east-1")
        return key_id

    def _key(self, user: str, key_id: str) -> Any:
        return next(k for k in self.backend.users[user].access_keys if k.access_key_id == key_id)

    def key_status(self, user: str, key_id: str) -> str:
        keys = self.iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
        return str(next(k["Status"] for k in keys if k["AccessKeyId"] == key_id))

    def has_login_profile(self, user: str) -> bool:
        try:
            self.iam.get_login_profile(UserName=user)
        except self.iam.exceptions.NoSuchEntityException:
            return False
        return True

    def ssh_key(self, user: str, *, age_days: float = 0, active: bool = True) -> str:
        body = f"ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ{user}{age_days} {user}@example"
        key_id = str(
            self.iam.upload_ssh_public_key(UserName=user, SSHPublicKeyBody=body)["SSHPublicKey"][
                "SSHPublicKeyId"
            ]
        )
        if not active:
            self.iam.update_ssh_public_key(UserName=user, SSHPublicKeyId=key_id, Status="Inactive")
        self.ssh_age(user, key_id, age_days)
        return key_id

    def ssh_age(self, user: str, key_id: str, age_days: float) -> None:
        key = next(
            k for k in self.backend.users[user].ssh_public_keys if k.ssh_public_key_id == key_id
        )
        key.upload_date = _past(age_days)

    def ssh_status(self, user: str, key_id: str) -> str:
        keys = self.iam.list_ssh_public_keys(UserName=user)["SSHPublicKeys"]
        return str(next(k["Status"] for k in keys if k["SSHPublicKeyId"] == key_id))


@pytest.fixture
def seed(moto_server: Any) -> IamSeed:
    """``seed.user("bob", console=True)``, ``seed.key("bob", age_days=120)``, ..."""
    return IamSeed(moto_server)


@pytest.fixture
def least_privilege_as_recorded(least_privilege: Any) -> Any:
    """``await least_privilege_as_recorded(REMEDIATION, violation, options={...})``: the kit's
    least-privilege run with undo, the recorded calls checked against :func:`as_recorded`
    of the declared policy."""

    async def run(remediation: Any, violation: Any, *, options: dict[str, Any]) -> Any:
        opts = remediation.parse_options(options)
        declared = remediation.policy_for(opts, revert=True)
        return await least_privilege.run(
            remediation, violation, options=opts, revert=True, policy=as_recorded(declared)
        )

    return run


@pytest.fixture
def trust_policy() -> Any:
    """``trust_policy({"AWS": arn})``: a role trust policy letting that principal assume it."""

    def document(principal: dict[str, str]) -> dict[str, Any]:
        return {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}],
        }

    return document


@pytest.fixture
def write_calls() -> Any:
    """``write_calls(record)``: the operations of a record's calls that change something."""
    return writes
