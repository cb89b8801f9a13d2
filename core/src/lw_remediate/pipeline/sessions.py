"""The AWS session one action runs with: the role in the violation's account, narrowed
to the remediation's declared policy when ``[aws] session_policy`` is on."""

from __future__ import annotations

import json
from typing import Any

from ..aws.credentials import SESSION_POLICY_LIMIT, AwsProvider
from ..config import Config
from ..errors import RemediationRefused
from ..model import Violation
from ..remediation import Remediation, RemediationOptions


async def action_session(
    aws: AwsProvider,
    config: Config,
    rem: Remediation,
    violation: Violation,
    options: RemediationOptions,
) -> Any:
    """AWS session for one action: the role in the violation's account, narrowed to the
    remediation's declared policy with ``options`` (undo included) when ``[aws]
    session_policy`` is on."""
    role_name = config.role_for(rem.id)
    policy = (
        rem.session_policy(options, account=violation.account_id, partition=aws.partition)
        if config.aws.session_policy and role_name
        else None
    )
    if policy is not None:
        size = len(json.dumps(policy, separators=(",", ":")))
        if size > SESSION_POLICY_LIMIT:
            raise RemediationRefused(
                f"the declared policy of {rem.id} renders to {size} characters, over STS's "
                f"{SESSION_POLICY_LIMIT}-character session-policy limit; set [aws] "
                "session_policy = false to rely on the role's own policy"
            )
    return await aws.session_for(
        violation.account_id,
        violation.region,
        session_policy=policy,
        label=rem.id,
        role_name=role_name,
    )
