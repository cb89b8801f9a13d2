"""What to sweep: the validated request (accounts, report types, rules, mode)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from ...config import Config
from ...errors import LwRemediateError
from ...model import Mode
from ...plugins import MapRegistry
from ...rules import canonical_rule_id

#: Report types of ``GET /api/v2/Reports`` for AWS (Lacework API v2, ``reportType``).
#: ``AWS_CIS_S3`` is the legacy report holding the LW_S3_* / AWS_CIS_1_* ids.
KNOWN_REPORT_TYPES: Final = (
    "AWS_CIS_S3",
    "AWS_CIS_14",
    "AWS_SOC_Rev2",
    "NIST_800-53_Rev4",
    "NIST_800-171_Rev2",
    "ISO_2700",
    "HIPAA",
    "SOC",
    "PCI",
    "AWS_CMMC_1.02",
    "AWS_ISO_27001:2013",
    "AWS_NIST_CSF",
    "AWS_HIPAA",
    "AWS_NIST_800-53_rev5",
    "AWS_NIST_800-171_rev2",
    "AWS_PCI_DSS_3.2.1",
    "AWS_SOC_2",
    "LW_AWS_SEC_ADD_1_0",
    "AWS_CIS_1_4_ISO_IEC_27002_2022",
    "AWS_Cyber_Essentials_2_2",
    "AWS_CSA_CCM_4_0_5",
)


class SweepError(LwRemediateError):
    """A sweep request is invalid (the message is one line naming the bad argument)."""


class SweepBusy(LwRemediateError):
    """A sweep with the same parameters is running (in this or another live process)."""


@dataclass(frozen=True)
class SweepRequest:
    """What to sweep: accounts, report types, optional rule filter and mode override."""

    accounts: tuple[str, ...]
    report_types: tuple[str, ...]
    rules: tuple[str, ...] | None = None
    mode: Mode | None = None

    @property
    def key(self) -> str:
        """Identity for resumption: a re-run with the same key continues an interrupted sweep."""
        return json.dumps(self.to_dict(), sort_keys=True)

    def to_dict(self) -> dict[str, Any]:
        return {
            "accounts": sorted(self.accounts),
            "report_types": sorted(self.report_types),
            "rules": sorted(self.rules) if self.rules is not None else None,
            "mode": str(self.mode) if self.mode else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SweepRequest:
        rules = data.get("rules")
        mode = data.get("mode")
        return cls(
            accounts=tuple(data["accounts"]),
            report_types=tuple(data["report_types"]),
            rules=tuple(rules) if rules is not None else None,
            mode=Mode(mode) if mode else None,
        )


def build_request(
    config: Config,
    registry: MapRegistry,
    *,
    accounts: Iterable[str] = (),
    all_accounts: bool = False,
    rules: Iterable[str] = (),
    mode: str | Mode | None = None,
    report_types: Iterable[str] = (),
) -> SweepRequest:
    """Validate sweep arguments (CLI or admin API); raise :class:`SweepError` with one line."""
    wanted = [str(a).strip() for a in accounts]
    if all_accounts and wanted:
        raise SweepError("give --account or --all-accounts, not both")
    if all_accounts:
        if not config.aws.accounts:
            raise SweepError(
                "--all-accounts sweeps the [aws] accounts allow-list, which is empty; "
                "list the accounts with --account"
            )
        wanted = list(config.aws.accounts)
    if not wanted:
        raise SweepError("give at least one --account ID (or --all-accounts)")
    for account in wanted:
        if not (account.isdigit() and len(account) == 12):
            raise SweepError(f"--account: {account!r} is not a 12-digit AWS account id")
        if config.aws.accounts and account not in config.aws.accounts:
            raise SweepError(f"--account: {account} is not in the [aws] accounts allow-list")
    types = [str(t).strip() for t in report_types] or list(config.sweep.report_types)
    known = {t.lower(): t for t in KNOWN_REPORT_TYPES}
    resolved_types: list[str] = []
    for rtype in types:
        if rtype.lower() not in known:
            raise SweepError(
                f"--report-type: {rtype!r} is not a known AWS report type "
                f"(e.g. AWS_CIS_S3, AWS_CIS_14; see `lw-remediate sweep --help`)"
            )
        resolved_types.append(known[rtype.lower()])
    rule_ids: list[str] | None = None
    given_rules = [str(r).strip() for r in rules]
    if given_rules:
        rule_ids = []
        for rule in given_rules:
            canonical = canonical_rule_id(rule) if rule else ""
            if not rule or not registry.index.knows(rule):
                raise SweepError(f"--rule: no installed remediation handles {rule!r}")
            rule_ids.append(canonical)
    resolved_mode: Mode | None = None
    if mode is not None and str(mode) != "":
        try:
            resolved_mode = Mode(str(mode))
        except ValueError:
            raise SweepError(
                f"--mode: {str(mode)!r} is not one of dry-run, approve, auto"
            ) from None
        if resolved_mode is Mode.OFF:
            raise SweepError("--mode: 'off' would do nothing; use dry-run, approve or auto")
    return SweepRequest(
        accounts=tuple(sorted(dict.fromkeys(wanted))),
        report_types=tuple(dict.fromkeys(resolved_types)),
        rules=tuple(sorted(dict.fromkeys(rule_ids))) if rule_ids is not None else None,
        mode=resolved_mode,
    )
