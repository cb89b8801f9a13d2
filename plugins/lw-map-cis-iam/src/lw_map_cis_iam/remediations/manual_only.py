"""Manual-only rules: they need the root user, the console, the payer account or a design.

AWS_CIS_1_1 (root use), 1_12 (root access key), 1_13 (root MFA), 1_14 (root hardware
MFA), 1_15 (security questions), 1_17 (detailed billing) and 1_19 (contact details):
an in-account principal cannot fix any of them. LW_AWS_IAM_8 (identity providers),
9 and 10 (role / user restricted to allowed networks) and 11 (a non-root user exists)
need decisions only the account's owners can make: which provider is valid, which
networks, whose identity. Each ends ``manual`` with a runbook that says exactly what to
do. Where IAM exposes the state (1_12, 1_13, 1_14, IAM_11; the user or role of IAM_9/10
still existing), ``check`` re-reads it first and resolves a violation that is already
gone; it never writes.

This module exposes several remediations (``REMEDIATIONS``), one per rule, because each
has its own runbook.
"""

from __future__ import annotations

from typing import Any

from lw_remediate import CheckResult, IamPolicy, Plan, Remediation, RemediationContext, Violation

from .._iam import USER_ARNS, unless_missing


async def _no_plan(ctx: RemediationContext[Any], violation: Violation) -> Plan:
    return Plan(f"{violation.rule_id} is manual-only: follow the runbook")


def _unreadable(what: str) -> Any:
    """A ``check`` for state no in-account API can read: Lacework's finding stands."""

    async def check(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
        return CheckResult.violating(
            f"{what} cannot be re-read through an in-account API; Lacework's finding stands"
        )

    return check


async def _summary(ctx: RemediationContext[Any]) -> dict[str, Any]:
    async with ctx.aws.client("iam") as iam:
        response = await iam.get_account_summary()
    return dict(response.get("SummaryMap", {}))


async def check_root_access_key(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    present = (await _summary(ctx)).get("AccountAccessKeysPresent", 0)
    if not present:
        return CheckResult.compliant("the root user has no access key", root_access_keys=present)
    return CheckResult.violating("the root user has an access key", root_access_keys=present)


async def check_root_mfa(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    enabled = (await _summary(ctx)).get("AccountMFAEnabled", 0)
    if enabled:
        return CheckResult.compliant("the root user has MFA enabled", root_mfa=enabled)
    return CheckResult.violating("the root user has no MFA", root_mfa=enabled)


async def check_root_hardware_mfa(
    ctx: RemediationContext[Any], violation: Violation
) -> CheckResult:
    if not (await _summary(ctx)).get("AccountMFAEnabled", 0):
        return CheckResult.violating("the root user has no MFA at all")
    # Hardware and FIDO devices are not listed as virtual devices; a virtual one assigned
    # to the root user means root's MFA is virtual.
    root = f"arn:{violation.arn.partition}:iam::{violation.account_id}:root"
    virtual: list[str] = []
    async with ctx.aws.client("iam") as iam:
        paginator = iam.get_paginator("list_virtual_mfa_devices")
        async for page in paginator.paginate(AssignmentStatus="Assigned"):
            virtual += [
                d["SerialNumber"]
                for d in page.get("VirtualMFADevices", [])
                if d.get("User", {}).get("Arn") == root
            ]
    if virtual:
        return CheckResult.violating(
            f"the root user's MFA is a virtual device ({', '.join(virtual)})", devices=virtual
        )
    return CheckResult.compliant("the root user's MFA is not a virtual device")


async def check_non_root_user(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    async with ctx.aws.client("iam") as iam:
        response = await iam.list_users(MaxItems=1)
    users = [u["UserName"] for u in response.get("Users", [])]
    if users:
        return CheckResult.compliant(f"account {violation.account_id} has IAM users", example=users)
    return CheckResult.violating(f"account {violation.account_id} has no IAM user")


def _still_exists(kind: str) -> Any:
    """A ``check`` for a user or role rule whose condition only people can judge: resolved
    when the entity is gone, otherwise Lacework's finding stands."""

    async def check(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
        name = violation.resource_name
        async with ctx.aws.client("iam") as iam:
            if kind == "role":
                found = await unless_missing(iam.get_role(RoleName=name))
            else:
                found = await unless_missing(iam.get_user(UserName=name))
        if found is None:
            return CheckResult.compliant(f"{kind} {name} no longer exists")
        return CheckResult.violating(
            f"{kind} {name} exists; whether its access is limited to allowed networks is "
            "Lacework's evaluation (an in-account read cannot decide it)"
        )

    return check


RUNBOOKS: dict[str, str] = {
    "AWS_CIS_1_1": """\
Lacework saw the root user of account {account} in use ({rule_id}). No in-account API can block
root or undo its use.
1. Find who used root and why: CloudTrail event history, user name "root"
   (aws cloudtrail lookup-events --lookup-attributes AttributeKey=Username,AttributeValue=root).
2. Credential report: aws iam generate-credential-report, then
   aws iam get-credential-report --query Content --output text | base64 -d
   and read the <root_account> row (password_last_used, access_key_*_last_used_date).
3. If the use was not expected: change the root password, delete root access keys, check the
   root MFA device, and review what was changed (treat it as an incident).
4. Move the task to an IAM role; keep root for the few tasks that need it.
5. In an AWS Organization, enable centralized root access (IAM > Root access management) or an
   SCP that denies actions by arn:{partition}:iam::*:root in member accounts.""",
    "AWS_CIS_1_12": """\
The root user of account {account} has an access key ({rule_id}). Only root can delete it.
1. Check whether it is used: CloudTrail (user name "root", an access key id) and the credential
   report's <root_account> row (access_key_1_last_used_date, access_key_2_last_used_date).
2. Move any consumer to an IAM role.
3. Sign in as root > Security credentials > Access keys: deactivate the key, wait, then delete it.
   With centralized root access, from the management account instead:
   aws sts assume-root --target-principal {account} \\
       --task-policy-arn arn=arn:{partition}:iam::aws:policy/root-task/IAMDeleteRootUserCredentials
   then, with those credentials: aws iam list-access-keys; aws iam delete-access-key --access-key-id <id>.
   Deleting a key is irreversible.""",
    "AWS_CIS_1_13": """\
The root user of account {account} has no MFA ({rule_id}). Enrolment needs root's sign-in.
1. Sign in as root > Security credentials > Multi-factor authentication > Assign MFA device.
2. Prefer a FIDO security key or a hardware TOTP token (see AWS_CIS_1_14); store it safely and
   register a second device as a backup.
3. In an AWS Organization, consider centralized root access, which removes root credentials
   from member accounts altogether.""",
    "AWS_CIS_1_14": """\
The root user of account {account} does not use a hardware MFA device ({rule_id}).
1. Sign in as root > Security credentials > Multi-factor authentication > Assign MFA device >
   "Security key" (FIDO) or "Hardware TOTP token".
2. Confirm you can sign in with it, then remove the virtual MFA device from root.
3. Keep the hardware device (and a registered backup) in a safe with documented access.""",
    "AWS_CIS_1_15": """\
Account {account}: security challenge questions are not registered ({rule_id}). There is no API
for them; they are a root-only console setting.
1. Sign in as root > Account (https://console.aws.amazon.com/billing/home#/account) >
   Configure Security Challenge Questions; set three, store the answers in your vault.
2. If the console no longer offers the section (AWS has been retiring security questions),
   make sure the root e-mail, phone number and alternate contacts are current instead, record
   that, and suppress {rule_id} for this account in Lacework with that reason.""",
    "AWS_CIS_1_17": """\
Account {account}: detailed billing is not enabled ({rule_id}). Billing reports are configured
in the payer (management) account, not by an in-account principal.
1. In the payer account: Billing and Cost Management > Data Exports > Create export >
   "Standard data export" (CUR 2.0), include resource IDs, daily or hourly granularity,
   delivered to an S3 bucket the payer account owns (the console sets the bucket policy for
   billingreports.amazonaws.com / bcm-data-exports.amazonaws.com).
2. Or the legacy Cost and Usage Report: aws cur put-report-definition --region us-east-1 ...
   with AdditionalSchemaElements RESOURCES.
3. Confirm the first report arrives in the bucket within 24 hours.""",
    "AWS_CIS_1_19": """\
Account {account}: confirm the contact details are current ({rule_id}). Whether they are
correct is a human judgement.
1. aws account get-contact-information   (or: console > Account > Contact information)
2. Check that the name, address, phone number and website reach your organisation today,
   and that the root e-mail address is a monitored distribution list.
3. Fix them: aws account put-contact-information --contact-information FullName=...,AddressLine1=...,City=...,CountryCode=...,PostalCode=...,PhoneNumber=...
4. Also check the alternate contacts (billing, operations, security: see AWS_CIS_1_20).""",
    "LW_AWS_IAM_8": """\
Account {account}: the IAM identity provider configuration is not valid ({rule_id}). Which
provider is right is your decision; the daemon does not change trust.
1. List the providers: aws iam list-saml-providers; aws iam list-open-id-connect-providers
2. SAML: aws iam get-saml-provider --saml-provider-arn <arn> -- check ValidUntil (metadata
   expiry) and the signing certificate; refresh the metadata from your IdP:
   aws iam update-saml-provider --saml-provider-arn <arn> --saml-metadata-document file://metadata.xml
3. OIDC: aws iam get-open-id-connect-provider --open-id-connect-provider-arn <arn> -- check the
   URL, the client ids (audiences) and the thumbprints against the issuer.
4. Delete providers nobody uses (first check that no role trusts them:
   aws iam list-roles and their AssumeRolePolicyDocument), e.g.
   aws iam delete-saml-provider --saml-provider-arn <arn>   (roles trusting it stop working).""",
    "LW_AWS_IAM_9": """\
IAM role {resource_name} in account {account} can be used from any network ({rule_id}).
Restricting it by source IP breaks every caller outside the allowed networks (AWS services
acting for you included), so only you can decide the networks and exemptions.
1. See who assumes it: CloudTrail AssumeRole events with
   requestParameters.roleArn = {resource}, and their sourceIPAddress.
2. Add a deny for other networks to the role (an inline policy), exempting AWS services:
   aws iam put-role-policy --role-name {resource_name} --policy-name lw-allowed-networks \
       --policy-document file://deny-outside-networks.json
   with one statement: "Effect": "Deny", "Action": "*", "Resource": "*", "Condition":
   {{"NotIpAddress": {{"aws:SourceIp": ["<your CIDRs>"]}}, "Bool": {{"aws:ViaAWSService": "false"}}}}
   (calls through VPC endpoints carry no public source IP: add aws:SourceVpce or
   aws:SourceVpc exemptions where needed).
3. Or restrict who can assume it: add the same aws:SourceIp condition to the Allow statement
   of its trust policy (aws iam update-assume-role-policy --role-name {resource_name} ...).
4. Watch CloudTrail for AccessDenied from legitimate callers and widen the list if needed.""",
    "LW_AWS_IAM_10": """\
IAM user {resource_name} in account {account} can be used from any network ({rule_id}).
Restricting it by source IP breaks every use outside the allowed networks, so only you can
decide the networks.
1. See where it is used from: CloudTrail events with userIdentity.userName = {resource_name},
   and their sourceIPAddress.
2. Add a deny for other networks (an inline policy, or a group the user is in):
   aws iam put-user-policy --user-name {resource_name} --policy-name lw-allowed-networks \
       --policy-document file://deny-outside-networks.json
   with one statement: "Effect": "Deny", "Action": "*", "Resource": "*", "Condition":
   {{"NotIpAddress": {{"aws:SourceIp": ["<your CIDRs>"]}}, "Bool": {{"aws:ViaAWSService": "false"}}}}
3. Better: replace the user with a role assumed from the allowed networks (or federation),
   and delete the user's access keys.
4. Watch CloudTrail for AccessDenied from legitimate use and widen the list if needed.""",
    "LW_AWS_IAM_11": """\
Account {account} has no IAM user, so administration is done as root ({rule_id}).
1. Prefer federation: enable IAM Identity Center (in the organization's management account)
   and assign an administrator permission set for account {account} to named people.
2. Without Identity Center, create a named administrator (with MFA) instead of using root:
   aws iam create-user --user-name <name>
   aws iam attach-user-policy --user-name <name> --policy-arn arn:{partition}:iam::aws:policy/AdministratorAccess
   aws iam create-login-profile --user-name <name> --password-reset-required --password <temporary>
   then have the person enrol MFA (see AWS_CIS_1_2).
3. Stop using root for daily work (see AWS_CIS_1_1); keep its credentials in a vault.
4. If everyone reaches the account through federation by design, record that and suppress
   {rule_id} for this account in Lacework with that reason.""",
}


def _manual(
    rule: str,
    verb_object: str,
    title: str,
    check: Any,
    policy: IamPolicy,
    description: str,
    *,
    resource_type: str = "iam:account",
) -> Remediation:
    return Remediation(
        id=f"cis_iam.{verb_object}",
        rules=(rule,),
        title=title,
        description=description,
        resource_type=resource_type,
        policy=policy,
        check=check,
        plan=_no_plan,
        auto_remediable=False,
        runbook=RUNBOOKS[rule],
    )


SUMMARY = IamPolicy.allow(["iam:GetAccountSummary"])

ROOT_USAGE = _manual(
    "AWS_CIS_1_1",
    "review_root_usage",
    "Avoid use of the root user (manual: investigate and move tasks to roles)",
    _unreadable("root usage history"),
    IamPolicy(),
    "Manual-only: root cannot be restricted from inside the account.",
)
ROOT_ACCESS_KEY = _manual(
    "AWS_CIS_1_12",
    "delete_root_access_key",
    "Delete the root user's access key (manual: needs root)",
    check_root_access_key,
    SUMMARY,
    "Manual-only: only root (or AssumeRoot from the management account) can delete it. "
    "check re-reads AccountAccessKeysPresent.",
)
ROOT_MFA = _manual(
    "AWS_CIS_1_13",
    "enable_root_mfa",
    "Enable MFA for the root user (manual: needs root)",
    check_root_mfa,
    SUMMARY,
    "Manual-only: MFA enrolment needs root's sign-in. check re-reads AccountMFAEnabled.",
)
ROOT_HARDWARE_MFA = _manual(
    "AWS_CIS_1_14",
    "enable_root_hardware_mfa",
    "Use a hardware MFA device for the root user (manual: needs root)",
    check_root_hardware_mfa,
    IamPolicy.allow(["iam:GetAccountSummary", "iam:ListVirtualMFADevices"]),
    "Manual-only. check re-reads AccountMFAEnabled and whether root's MFA is a virtual device.",
)
SECURITY_QUESTIONS = _manual(
    "AWS_CIS_1_15",
    "register_security_questions",
    "Register security challenge questions (manual: root console only)",
    _unreadable("security challenge questions"),
    IamPolicy(),
    "Manual-only: no API exists for security questions.",
)
DETAILED_BILLING = _manual(
    "AWS_CIS_1_17",
    "enable_detailed_billing",
    "Enable detailed billing (manual: payer account)",
    _unreadable("billing report configuration (payer account)"),
    IamPolicy(),
    "Manual-only: billing reports are set up in the payer account.",
)
CONTACT_DETAILS = _manual(
    "AWS_CIS_1_19",
    "review_contact_details",
    "Keep the account's contact details current (manual: human judgement)",
    _unreadable("whether the contact details are current"),
    IamPolicy(),
    "Manual-only: an API cannot tell whether contact details are correct.",
)

IDENTITY_PROVIDERS = _manual(
    "LW_AWS_IAM_8",
    "review_identity_providers",
    "Keep the IAM identity providers valid (manual: trust decisions)",
    _unreadable("whether the identity provider configuration is valid"),
    IamPolicy(),
    "Manual-only: which SAML/OIDC provider is valid, and whether to replace or delete one, "
    "is a trust decision.",
)
ROLE_NETWORKS = _manual(
    "LW_AWS_IAM_9",
    "restrict_role_networks",
    "Restrict an IAM role to allowed networks (manual: the networks are yours to decide)",
    _still_exists("role"),
    IamPolicy.allow(["iam:GetRole"], ("arn:{partition}:iam::{account}:role/*",)),
    "Manual-only: a source-IP condition breaks callers outside the networks, AWS services "
    "included. check resolves a role that no longer exists.",
    resource_type="iam:role",
)
USER_NETWORKS = _manual(
    "LW_AWS_IAM_10",
    "restrict_user_networks",
    "Restrict an IAM user to allowed networks (manual: the networks are yours to decide)",
    _still_exists("user"),
    IamPolicy.allow(["iam:GetUser"], USER_ARNS),
    "Manual-only: a source-IP condition breaks every use outside the networks. check "
    "resolves a user that no longer exists.",
    resource_type="iam:user",
)
NON_ROOT_USER = _manual(
    "LW_AWS_IAM_11",
    "create_non_root_user",
    "Have a non-root identity for administration (manual: whose identity is yours to decide)",
    check_non_root_user,
    IamPolicy.allow(["iam:ListUsers"]),
    "Manual-only: creating an administrator is an identity decision (prefer IAM Identity "
    "Center). check re-reads whether the account has any IAM user.",
)

REMEDIATIONS: tuple[Remediation, ...] = (
    ROOT_USAGE,
    ROOT_ACCESS_KEY,
    ROOT_MFA,
    ROOT_HARDWARE_MFA,
    SECURITY_QUESTIONS,
    DETAILED_BILLING,
    CONTACT_DETAILS,
    IDENTITY_PROVIDERS,
    ROLE_NETWORKS,
    USER_NETWORKS,
    NON_ROOT_USER,
)
