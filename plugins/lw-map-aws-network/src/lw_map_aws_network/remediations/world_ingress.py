"""Security group open to the world on the rule's port(s): revoke only those permissions.

AWS_CIS_4_1 (tcp 22), AWS_CIS_4_2 (tcp 3389), LW_AWS_MONGODB_1-6 (tcp 27017/27018),
LW_AWS_NETWORKING_12-15 and 18-35 (one TCP or UDP port each), LW_AWS_NETWORKING_36 (all
ports) and LW_AWS_NETWORKING_43 (all ICMP). One table maps each rule to what it forbids
from ``0.0.0.0/0`` / ``::/0``; the engine (``_ingress``) revokes exactly the world-open
permissions that cover it and keeps everything else. Auto-remediable.
"""

from __future__ import annotations

from collections.abc import Mapping

from lw_remediate import Remediation

from .._ingress import POLICY, IngressLifecycle, IngressOptions, option_policy, revert_policy
from .._sg import ALL_ICMP, ALL_PORTS, Target, port

#: Rule -> (protocol, port) from the rule titles (remediation-catalog-aws.md section 3.1).
PORTS: Mapping[str, tuple[str, int]] = {
    "AWS_CIS_4_1": ("tcp", 22),
    "AWS_CIS_4_2": ("tcp", 3389),
    "LW_AWS_MONGODB_1": ("tcp", 27017),
    "LW_AWS_MONGODB_2": ("tcp", 27018),
    "LW_AWS_MONGODB_3": ("tcp", 27017),
    "LW_AWS_MONGODB_4": ("tcp", 27018),
    "LW_AWS_MONGODB_5": ("tcp", 27017),
    "LW_AWS_MONGODB_6": ("tcp", 27018),
    "LW_AWS_NETWORKING_12": ("tcp", 9300),  # Elasticsearch
    "LW_AWS_NETWORKING_13": ("tcp", 5601),  # Kibana
    "LW_AWS_NETWORKING_14": ("tcp", 6379),  # Redis
    "LW_AWS_NETWORKING_15": ("tcp", 2379),  # etcd
    "LW_AWS_NETWORKING_18": ("tcp", 23),  # Telnet
    "LW_AWS_NETWORKING_19": ("tcp", 135),  # Windows RPC
    "LW_AWS_NETWORKING_20": ("tcp", 445),  # Windows SMB
    "LW_AWS_NETWORKING_21": ("tcp", 3306),  # MySQL
    "LW_AWS_NETWORKING_22": ("tcp", 5432),  # PostgreSQL
    "LW_AWS_NETWORKING_23": ("tcp", 1433),  # SQL Server
    "LW_AWS_NETWORKING_24": ("udp", 1434),  # SQL Server browser
    "LW_AWS_NETWORKING_25": ("tcp", 4333),  # mSQL
    "LW_AWS_NETWORKING_26": ("tcp", 5500),  # VNC listener
    "LW_AWS_NETWORKING_27": ("tcp", 5900),  # VNC server
    "LW_AWS_NETWORKING_28": ("udp", 137),  # NetBIOS name
    "LW_AWS_NETWORKING_29": ("udp", 138),  # NetBIOS datagram
    "LW_AWS_NETWORKING_30": ("udp", 445),  # CIFS
    "LW_AWS_NETWORKING_31": ("tcp", 21),  # FTP
    "LW_AWS_NETWORKING_32": ("tcp", 20),  # FTP data
    "LW_AWS_NETWORKING_33": ("tcp", 25),  # SMTP
    "LW_AWS_NETWORKING_34": ("tcp", 53),  # DNS
    "LW_AWS_NETWORKING_35": ("udp", 53),  # DNS
}

TARGETS: Mapping[str, Target] = {
    **{rule: port(protocol, number) for rule, (protocol, number) in PORTS.items()},
    "LW_AWS_NETWORKING_36": ALL_PORTS,
    "LW_AWS_NETWORKING_43": ALL_ICMP,
}

#: New ids that each stand for two legacy rules of this table (the go-sdk's equivalence
#: map): the violation is about both ports.
SHARED: Mapping[str, Target] = {
    "lacework-global-68": port("tcp", 22, 3389),  # AWS_CIS_4_1, AWS_CIS_4_2
    "lacework-global-196": port("tcp", 27017, 27018),  # LW_AWS_MONGODB_1, 2 (EC2)
    "lacework-global-197": port("tcp", 27017, 27018),  # LW_AWS_MONGODB_3, 4 (ELB)
    "lacework-global-198": port("tcp", 27017, 27018),  # LW_AWS_MONGODB_5, 6 (ALB)
}

LIFECYCLE = IngressLifecycle(TARGETS, SHARED)

REMEDIATION = Remediation(
    id="network.revoke_world_ingress",
    rules=tuple(TARGETS),
    title="Revoke the world-open ingress permissions of a security group on the rule's port(s)",
    description=(
        "Revokes only the 0.0.0.0/0 and ::/0 ingress permissions covering the rule's port "
        "(or all ports / all ICMP); other CIDRs, prefix lists, referenced groups, "
        "descriptions and egress stay. Options re-grant to trusted networks first and split "
        "wider ranges."
    ),
    resource_type="ec2:security-group",
    policy=POLICY,
    option_policy=option_policy,
    revert_policy=revert_policy,
    options=IngressOptions,
    check=LIFECYCLE.check,
    plan=LIFECYCLE.plan,
    apply=LIFECYCLE.apply,
    verify=LIFECYCLE.verify,
    revert=LIFECYCLE.revert,
)
