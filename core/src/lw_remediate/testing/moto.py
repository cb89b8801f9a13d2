"""A moto server on 127.0.0.1 for aiobotocore tests, with the fixes the kit needs.

aiobotocore cannot use moto's in-process mock, so the kit runs
``moto.server.ThreadedMotoServer`` in this process: IAM enforcement switches and
backend access (back-dating keys, for instance) still work.

Known moto gaps worked around here (and only here, never in product code):

* Several S3 operations are authorised under the wrong action name
  (``GetBucketEncryption`` is checked as ``s3:ListBucket``, ``PutPublicAccessBlock``
  as ``s3:CreateBucket``, ``HeadBucket`` as ``s3:HeadBucket``). :func:`patch_s3_action_map`
  makes moto check the real IAM names.
* moto authorises IAM, EC2, Account and STS calls against resource ``*`` only, and
  ignores conditions. :func:`moto_view` turns a declared policy into what moto can
  evaluate: non-S3 resources become ``*``, conditions are dropped. Resource scoping
  of those calls is checked by the kit itself against the recorded calls.
* moto authorises CloudWatch calls under the service's endpoint prefix
  (``monitoring:PutMetricAlarm``), not the IAM prefix (``cloudwatch:PutMetricAlarm``):
  :func:`moto_view` grants each declared ``cloudwatch:`` action under both names.
"""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import botocore.config

from ..aws.session import AwsSession, Credentials
from ..policy import IamPolicy, PolicyStatement

DEFAULT_ACCOUNT = "123456789012"
DEFAULT_REGION = "us-east-1"
_ADMIN = Credentials("testing", "testing")

_S3_ACTION_FIXES: dict[str, dict[str, str]] = {
    "GET": {
        "encryption": "GetEncryptionConfiguration",
        "publicAccessBlock": "GetBucketPublicAccessBlock",
        "ownershipControls": "GetBucketOwnershipControls",
    },
    "PUT": {
        "encryption": "PutEncryptionConfiguration",
        "publicAccessBlock": "PutBucketPublicAccessBlock",
        "ownershipControls": "PutBucketOwnershipControls",
    },
    "DELETE": {
        "encryption": "PutEncryptionConfiguration",
        "publicAccessBlock": "PutBucketPublicAccessBlock",
        "ownershipControls": "PutBucketOwnershipControls",
    },
}


def patch_s3_action_map() -> None:
    """Make moto authorise S3 bucket sub-resources under their real IAM action names."""
    from moto.s3 import responses as s3r

    bucket = s3r.ACTION_MAP["BUCKET"]
    for method, extra in _S3_ACTION_FIXES.items():
        bucket[method].update(extra)
    bucket["HEAD"]["DEFAULT"] = "ListBucket"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: IAM prefix -> the prefix moto checks the same actions under, where they differ.
_MOTO_PREFIXES: dict[str, str] = {"cloudwatch": "monitoring"}


def _as_moto_checks(action: str) -> tuple[str, ...]:
    prefix, _, name = action.partition(":")
    alias = _MOTO_PREFIXES.get(prefix.lower())
    return (action, f"{alias}:{name}") if alias else (action,)


def moto_view(policy: IamPolicy, *, account: str, partition: str = "aws") -> dict[str, Any]:
    """The declared policy as moto can evaluate it (see the module docstring)."""
    statements: list[PolicyStatement] = []
    for st in policy.statements:
        s3 = tuple(a for a in st.actions if a.lower().startswith("s3:"))
        other = tuple(
            alias
            for a in st.actions
            if not a.lower().startswith("s3:")
            for alias in _as_moto_checks(a)
        )
        if s3:
            statements.append(PolicyStatement(s3, st.resources))
        if other:
            statements.append(PolicyStatement(other, ("*",)))
    return IamPolicy(tuple(statements)).render(account=account, partition=partition)


class MotoServer:
    """A running moto server plus helpers to seed it and reach its backends."""

    def __init__(self, port: int | None = None) -> None:
        from moto.server import ThreadedMotoServer

        patch_s3_action_map()
        self._server = ThreadedMotoServer(
            ip_address="127.0.0.1", port=port or free_port(), verbose=False
        )
        self._server.start()
        host, bound = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{bound}"

    def stop(self) -> None:
        self._server.stop()

    def reset(self) -> None:
        """Forget all state (POST /moto-api/reset)."""
        import urllib.request

        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    # -- clients ------------------------------------------------------------------------

    def admin_credentials(self, account: str = DEFAULT_ACCOUNT) -> Credentials:
        """Credentials that act in ``account`` (IAM enforcement is off outside the kit's runs)."""
        if account == DEFAULT_ACCOUNT:
            return _ADMIN
        sts = self.client("sts")
        creds = sts.assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/lw-remediate-test-admin",
            RoleSessionName="seed",
        )["Credentials"]
        return Credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])

    def client(
        self,
        service: str,
        *,
        account: str = DEFAULT_ACCOUNT,
        region: str = DEFAULT_REGION,
        credentials: Credentials | None = None,
    ) -> Any:
        """A synchronous boto3 client for seeding and inspecting state."""
        creds = credentials or self.admin_credentials(account)
        return boto3.client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=region,
            aws_access_key_id=creds.access_key_id,
            aws_secret_access_key=creds.secret_access_key,
            aws_session_token=creds.session_token,
            config=botocore.config.Config(s3={"addressing_style": "path"}),
        )

    def session(
        self,
        *,
        account: str = DEFAULT_ACCOUNT,
        region: str = DEFAULT_REGION,
        credentials: Credentials | None = None,
    ) -> AwsSession:
        """An :class:`~lw_remediate.AwsSession` (what remediations get) bound to this server."""
        return AwsSession(
            account_id=account,
            region=region,
            credentials=credentials or self.admin_credentials(account),
            endpoint_url=self.endpoint_url,
        )

    def principal_with_policy(
        self, policy: IamPolicy, *, account: str = DEFAULT_ACCOUNT, name: str | None = None
    ) -> Credentials:
        """Credentials of a fresh role that holds only ``moto_view(policy)``.

        A role (not a user) so it never shows up in ``ListUsers`` of the account
        under test.
        """
        role = name or f"lw-remediate-least-privilege-{uuid.uuid4().hex[:8]}"
        iam = self.client("iam", account=account)
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))
        iam.put_role_policy(
            RoleName=role,
            PolicyName="declared",
            PolicyDocument=json.dumps(moto_view(policy, account=account)),
        )
        sts = self.client("sts", account=account)
        creds = sts.assume_role(
            RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName="lp"
        )["Credentials"]
        return Credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])

    # -- backends -----------------------------------------------------------------------

    def iam_backend(self, account: str = DEFAULT_ACCOUNT) -> Any:
        """moto's IAM backend of ``account``, for state the API cannot set (key ages)."""
        from moto.iam.models import iam_backends

        return iam_backends[account]["aws"]


@contextmanager
def iam_enforcement() -> Iterator[None]:
    """Within this block moto authorises every request against the caller's policies."""
    from moto.core import enable_iam_authentication

    with enable_iam_authentication():
        yield
