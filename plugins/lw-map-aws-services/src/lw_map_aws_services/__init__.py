"""lw-map-aws-services: remediations for Lacework's AWS service rules (EBS, EC2 tags, ELB
ciphers, RDS, Redshift, Lambda, Elasticsearch/OpenSearch)."""

from __future__ import annotations

from collections.abc import Iterable

from lw_remediate import Remediation, hookimpl

from .remediations import (
    ebs_encryption,
    elb_ciphers,
    encrypt_in_place,
    es_access,
    instance_tags,
    lambda_access,
    lambda_tracing,
    manual,
    public_access,
    public_snapshot,
)


@hookimpl
def lw_remediate_remediations() -> Iterable[Remediation]:
    return [
        ebs_encryption.REMEDIATION,
        public_snapshot.REMEDIATION,
        instance_tags.REMEDIATION,
        elb_ciphers.REMEDIATION,
        *public_access.REMEDIATIONS,
        lambda_tracing.REMEDIATION,
        lambda_access.REMEDIATION,
        es_access.REMEDIATION,
        *encrypt_in_place.REMEDIATIONS,
        *manual.REMEDIATIONS,
    ]
