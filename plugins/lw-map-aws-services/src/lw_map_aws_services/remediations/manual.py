"""Manual-only service rules: re-creation, IAM redesign or long migrations.

LW_AWS_GENERAL_SECURITY_4 (RDS not encrypted with a customer managed key), 6 (server
certificate from before Heartbleed), LW_AWS_SERVERLESS_1 (Lambda with admin privileges), 3
(one role for several functions), 5 (Lambda with VPC access), LW_AWS_ELASTICSEARCH_2
(domain not in a VPC) and 4 (domain encrypted with the AWS-managed key). Each ends
``manual`` with a runbook. ``check`` re-reads the state first where an API exposes it
cheaply and resolves a violation that is gone (resource deleted, function out of its VPC,
role no longer shared, domain moved into a VPC, certificate reissued, RDS instance or
domain on a customer managed key). They never write.
What ``check`` found (key, role, functions, VPC) is in the structured log event
``services_manual_finding``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

from lw_remediate import CheckResult, IamPolicy, Remediation, RemediationContext, Violation

from .._common import DB_INSTANCE, DOMAIN, FUNCTION, no_plan, on_star, or_none
from .._lambda import configuration, function_name

CheckFn = Callable[[RemediationContext[Any], Violation], Awaitable[CheckResult]]

#: Heartbleed (CVE-2014-0160) was disclosed on 2014-04-07.
HEARTBLEED = dt.datetime(2014, 4, 8, tzinfo=dt.UTC)


def _found(ctx: RemediationContext[Any], violation: Violation, **items: Any) -> None:
    ctx.log.info(
        "services_manual_finding",
        rule_id=violation.rule_id,
        resource_arn=violation.resource_arn,
        **items,
    )


async def _customer_managed(ctx: RemediationContext[Any], key: str | None) -> bool:
    """True when ``key`` is a customer managed KMS key (False: AWS managed, none, unknown)."""
    if not key:
        return False
    async with ctx.aws.client("kms") as kms:
        response = await or_none(kms.describe_key(KeyId=key))
    return bool(response) and response["KeyMetadata"].get("KeyManager") == "CUSTOMER"


async def check_rds_key(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    ident = violation.resource_name
    async with ctx.aws.client("rds") as rds:
        response = await or_none(rds.describe_db_instances(DBInstanceIdentifier=ident))
    instances = (response or {}).get("DBInstances", [])
    if not instances:
        return CheckResult.compliant(f"RDS instance {ident} no longer exists")
    db = instances[0]
    key = db.get("KmsKeyId") if db.get("StorageEncrypted") else None
    if await _customer_managed(ctx, key):
        return CheckResult.compliant(f"RDS instance {ident} is encrypted with customer key {key}")
    _found(ctx, violation, encrypted=db.get("StorageEncrypted"), kms_key=key)
    return CheckResult.violating(
        f"RDS instance {ident}: storage encrypted={bool(db.get('StorageEncrypted'))}, "
        f"key {key or 'none'} is not a customer managed key"
    )


async def check_certificate(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    name = violation.resource_name
    async with ctx.aws.client("iam") as iam:
        response = await or_none(iam.get_server_certificate(ServerCertificateName=name))
    if response is None:
        return CheckResult.compliant(f"server certificate {name} no longer exists")
    uploaded = response["ServerCertificate"]["ServerCertificateMetadata"]["UploadDate"]
    if uploaded >= HEARTBLEED:
        return CheckResult.compliant(f"server certificate {name} was uploaded {uploaded:%Y-%m-%d}")
    return CheckResult.violating(
        f"server certificate {name} was uploaded {uploaded:%Y-%m-%d}, before Heartbleed"
    )


async def check_admin_role(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    name = function_name(violation)
    config = await configuration(ctx, name)
    if config is None:
        return CheckResult.compliant(f"function {name} no longer exists")
    _found(ctx, violation, role=config.get("Role"))
    return CheckResult.violating(
        f"function {name} runs as {config.get('Role')}; Lacework's finding stands"
    )


async def check_shared_role(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    name = function_name(violation)
    config = await configuration(ctx, name)
    if config is None:
        return CheckResult.compliant(f"function {name} no longer exists")
    role = config.get("Role")
    sharing: list[str] = []
    async with ctx.aws.client("lambda") as client:
        async for page in client.get_paginator("list_functions").paginate():
            sharing += [
                f["FunctionName"]
                for f in page.get("Functions", [])
                if f.get("Role") == role and f["FunctionName"] != name
            ]
    if not sharing:
        return CheckResult.compliant(f"no other function in the region uses role {role}")
    _found(ctx, violation, role=role, functions=sorted(sharing))
    return CheckResult.violating(
        f"role {role} of {name} is also used by {', '.join(sorted(sharing))}"
    )


async def check_vpc_access(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    name = function_name(violation)
    config = await configuration(ctx, name)
    if config is None:
        return CheckResult.compliant(f"function {name} no longer exists")
    vpc = (config.get("VpcConfig") or {}).get("VpcId")
    if not vpc:
        return CheckResult.compliant(f"function {name} has no VPC configuration")
    _found(ctx, violation, vpc=vpc, subnets=(config.get("VpcConfig") or {}).get("SubnetIds"))
    return CheckResult.violating(f"function {name} is attached to {vpc}")


async def _domain(ctx: RemediationContext[Any], violation: Violation) -> dict[str, Any] | None:
    async with ctx.aws.client("opensearch") as client:
        response = await or_none(client.describe_domain(DomainName=violation.resource_name))
    return None if response is None else dict(response["DomainStatus"])


async def check_domain_vpc(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    domain = await _domain(ctx, violation)
    if domain is None:
        return CheckResult.compliant(f"domain {violation.resource_name} no longer exists")
    vpc = domain.get("VPCOptions") or {}
    if vpc.get("VPCId") or vpc.get("SubnetIds"):
        where = vpc.get("VPCId") or ", ".join(vpc["SubnetIds"])
        return CheckResult.compliant(f"domain {violation.resource_name} is in a VPC ({where})")
    return CheckResult.violating(f"domain {violation.resource_name} has a public endpoint")


async def check_domain_key(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    domain = await _domain(ctx, violation)
    if domain is None:
        return CheckResult.compliant(f"domain {violation.resource_name} no longer exists")
    options = domain.get("EncryptionAtRestOptions") or {}
    key = options.get("KmsKeyId") if options.get("Enabled") else None
    if await _customer_managed(ctx, key):
        return CheckResult.compliant(
            f"domain {violation.resource_name} is encrypted with customer key {key}"
        )
    _found(ctx, violation, encrypted=options.get("Enabled"), kms_key=key)
    return CheckResult.violating(
        f"domain {violation.resource_name}: encryption at rest {bool(options.get('Enabled'))}, key "
        f"{key or 'none'} is not a customer managed key"
    )


RUNBOOKS: dict[str, str] = {
    "LW_AWS_GENERAL_SECURITY_4": """\
RDS instance {resource_name} ({region}, account {account}) is not encrypted with a customer
managed KMS key ({rule_id}). The key of an instance cannot be changed in place.
1. aws rds describe-db-instances --region {region} --db-instance-identifier {resource_name} \\
     --query "DBInstances[].[StorageEncrypted,KmsKeyId]"
2. aws rds create-db-snapshot --region {region} --db-instance-identifier {resource_name} \\
     --db-snapshot-identifier {resource_name}-pre-cmk
3. aws rds copy-db-snapshot --region {region} \\
     --source-db-snapshot-identifier {resource_name}-pre-cmk \\
     --target-db-snapshot-identifier {resource_name}-cmk --kms-key-id <customer managed key>
4. aws rds restore-db-instance-from-db-snapshot --region {region} \\
     --db-instance-identifier {resource_name}-cmk --db-snapshot-identifier {resource_name}-cmk
   (same class, subnet group, parameter and option groups, security groups)
5. Cut clients over (endpoint or DNS), then delete the old instance and snapshots.""",
    "LW_AWS_GENERAL_SECURITY_6": """\
IAM server certificate {resource_name} (account {account}) was uploaded before the
Heartbleed disclosure (2014-04-07) ({rule_id}); its private key may have leaked.
1. aws iam get-server-certificate --server-certificate-name {resource_name} \\
     --query "ServerCertificate.ServerCertificateMetadata"
2. Issue a new certificate with a NEW private key (ACM: aws acm request-certificate), put it
   on every listener using the old one (aws elb set-load-balancer-listener-ssl-certificate,
   aws elbv2 modify-listener --certificates), revoke the old certificate with its CA.
3. aws iam delete-server-certificate --server-certificate-name {resource_name}
   (AWS refuses while a load balancer still uses it).""",
    "LW_AWS_SERVERLESS_1": """\
Lambda function {resource_name} ({region}, account {account}) runs with administrator
privileges ({rule_id}). Narrowing its role is a redesign of what it may do.
1. aws lambda get-function-configuration --region {region} --function-name {resource_name} --query Role
2. aws iam list-attached-role-policies --role-name <role>; aws iam list-role-policies --role-name <role>
3. Find what it really calls (IAM Access Analyzer policy generation from CloudTrail:
   aws accessanalyzer start-policy-generation), give it a role with only that, then detach
   AdministratorAccess / remove the "*:*" statements.""",
    "LW_AWS_SERVERLESS_3": """\
Lambda function {resource_name} ({region}, account {account}) shares its execution role
with other functions ({rule_id}); each function should have its own least-privilege role.
1. aws lambda list-functions --region {region} --query "Functions[].[FunctionName,Role]"
2. Per function: create a role with only what that function needs, then
   aws lambda update-function-configuration --region {region} \\
     --function-name {resource_name} --role <new role arn>""",
    "LW_AWS_SERVERLESS_5": """\
Lambda function {resource_name} ({region}, account {account}) is attached to a VPC
({rule_id}). Whether it needs to be is an architecture decision.
1. aws lambda get-function-configuration --region {region} --function-name {resource_name} \\
     --query VpcConfig
2. If it reaches nothing private: aws lambda update-function-configuration --region {region} \\
     --function-name {resource_name} --vpc-config SubnetIds=[],SecurityGroupIds=[]
   Otherwise keep it in the VPC with narrow security groups.""",
    "LW_AWS_ELASTICSEARCH_2": """\
Domain {resource_name} ({region}, account {account}) has a public endpoint, not a VPC one
({rule_id}). A domain cannot move into a VPC; it has to be re-created.
1. aws opensearch describe-domain --region {region} --domain-name {resource_name}
2. Create a domain with --vpc-options SubnetIds=…,SecurityGroupIds=…, restore a manual
   snapshot into it (register a snapshot repository, _snapshot API), repoint clients,
   delete the old domain.""",
    "LW_AWS_ELASTICSEARCH_4": """\
Domain {resource_name} ({region}, account {account}) is encrypted with the AWS-managed key,
not a customer managed key ({rule_id}). The key cannot be changed after encryption is on.
1. aws opensearch describe-domain --region {region} --domain-name {resource_name} \\
     --query DomainStatus.EncryptionAtRestOptions
2. Create a domain with --encryption-at-rest-options Enabled=true,KmsKeyId=<customer key>,
   restore a manual snapshot into it, repoint clients, delete the old domain.""",
}


def _manual(
    rule: str, verb_object: str, title: str, resource_type: str, check: CheckFn, policy: IamPolicy
) -> Remediation:
    return Remediation(
        id=f"services.{verb_object}",
        rules=(rule,),
        title=title,
        resource_type=resource_type,
        policy=policy,
        check=check,
        plan=no_plan,
        auto_remediable=False,
        runbook=RUNBOOKS[rule],
    )


#: Whether the key is customer managed (KeyManager).
_KEY_READ = IamPolicy.allow(["kms:DescribeKey"], ["arn:{partition}:kms:{region}:{account}:key/*"])
_LAMBDA_READ = IamPolicy.allow(["lambda:GetFunctionConfiguration"], [FUNCTION])

RDS_KEY = _manual(
    "LW_AWS_GENERAL_SECURITY_4",
    "recreate_rds_with_cmk",
    "Re-create an RDS instance encrypted with a customer managed key (manual: migration)",
    "rds:db",
    check_rds_key,
    IamPolicy.allow(["rds:DescribeDBInstances"], [DB_INSTANCE]) + _KEY_READ,
)
HEARTBLEED_CERTIFICATE = _manual(
    "LW_AWS_GENERAL_SECURITY_6",
    "reissue_server_certificate",
    "Reissue a server certificate uploaded before Heartbleed (manual: new key)",
    "iam:server-certificate",
    check_certificate,
    IamPolicy.allow(
        ["iam:GetServerCertificate"], ["arn:{partition}:iam::{account}:server-certificate/*"]
    ),
)
LAMBDA_ADMIN = _manual(
    "LW_AWS_SERVERLESS_1",
    "narrow_lambda_role",
    "Narrow a Lambda function's administrator role (manual: IAM redesign)",
    "lambda:function",
    check_admin_role,
    _LAMBDA_READ,
)
LAMBDA_SHARED_ROLE = _manual(
    "LW_AWS_SERVERLESS_3",
    "split_lambda_role",
    "Give each Lambda function its own role (manual: IAM redesign)",
    "lambda:function",
    check_shared_role,
    _LAMBDA_READ + on_star("lambda:ListFunctions"),
)
LAMBDA_VPC = _manual(
    "LW_AWS_SERVERLESS_5",
    "review_lambda_vpc_access",
    "Review a Lambda function's VPC attachment (manual: architecture)",
    "lambda:function",
    check_vpc_access,
    _LAMBDA_READ,
)
DOMAIN_VPC = _manual(
    "LW_AWS_ELASTICSEARCH_2",
    "move_es_domain_into_vpc",
    "Re-create an Elasticsearch/OpenSearch domain inside a VPC (manual: re-creation)",
    "es:domain",
    check_domain_vpc,
    IamPolicy.allow(["es:DescribeDomain"], [DOMAIN]),
)
DOMAIN_KEY = _manual(
    "LW_AWS_ELASTICSEARCH_4",
    "recreate_es_domain_with_cmk",
    "Re-create an Elasticsearch/OpenSearch domain with a customer managed key (manual)",
    "es:domain",
    check_domain_key,
    IamPolicy.allow(["es:DescribeDomain"], [DOMAIN]) + _KEY_READ,
)

REMEDIATIONS: tuple[Remediation, ...] = (
    RDS_KEY,
    HEARTBLEED_CERTIFICATE,
    LAMBDA_ADMIN,
    LAMBDA_SHARED_ROLE,
    LAMBDA_VPC,
    DOMAIN_VPC,
    DOMAIN_KEY,
)
