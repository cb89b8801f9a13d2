"""Plugin loading: fault isolation, strict mode, allow-list, conflicts."""

from __future__ import annotations

import json
import sys

import pytest

from lw_remediate import (
    CheckResult,
    IamPolicy,
    MapLoadError,
    Plan,
    Remediation,
    RemediationDeclarationError,
    hookimpl,
)
from lw_remediate.plugins import load_maps


async def _check(ctx, violation):
    return CheckResult.compliant("fine")


async def _plan(ctx, violation):
    return Plan("nothing")


def manual(rid: str, rules: tuple[str, ...], reasons: tuple[str, ...] = ()) -> Remediation:
    return Remediation(
        id=rid,
        rules=rules,
        title="t",
        policy=IamPolicy(),
        check=_check,
        plan=_plan,
        auto_remediable=False,
        runbook="do it by hand",
        reasons=reasons,
    )


class GoodMap:
    @hookimpl
    def lw_remediate_remediations(self):
        return [manual("extra.fix_thing", ("LW_S3_1",))]


class TypoHookMap:
    @hookimpl
    def lw_remediate_remediation(self):  # missing "s"
        return []


class WrongReturnMap:
    @hookimpl
    def lw_remediate_remediations(self):
        return ["not a remediation"]


def test_installed_maps_load():
    registry = load_maps()
    names = {m.name for m in registry.maps if m.loaded}
    assert {"lw-map-s3", "lw-map-cis-iam"} <= names
    assert "s3.enable_versioning" in registry.remediations
    assert registry.origin["s3.enable_versioning"] == "lw-map-s3"


def test_broken_import_is_listed_and_others_still_load(broken_map_dir, monkeypatch):
    monkeypatch.syspath_prepend(str(broken_map_dir))
    registry = load_maps()
    failed = {m.name: m for m in registry.failed}
    assert failed["lw-map-broken"].version == "0.3.1"
    assert "boom at import" in failed["lw-map-broken"].error
    assert "s3.enable_versioning" in registry.remediations
    sys.modules.pop("lw_map_broken", None)


def test_strict_maps_makes_a_broken_map_fatal(broken_map_dir, monkeypatch):
    monkeypatch.syspath_prepend(str(broken_map_dir))
    with pytest.raises(MapLoadError, match=r"lw-map-broken 0\.3\.1"):
        load_maps(strict=True)
    sys.modules.pop("lw_map_broken", None)


def test_allow_list_loads_only_named_distributions(broken_map_dir, monkeypatch):
    monkeypatch.syspath_prepend(str(broken_map_dir))
    registry = load_maps(allow=["lw-map-s3"])
    assert [m.name for m in registry.maps] == ["lw-map-s3"]
    assert "cis_iam.tighten_password_policy" not in registry.remediations


@pytest.mark.parametrize(
    ("plugin", "message"),
    [(TypoHookMap(), "unknown hook"), (WrongReturnMap(), "not Remediation")],
)
def test_bad_hooks_are_skipped_with_reason(plugin, message):
    registry = load_maps(entry_points=False, extra_plugins=[("bad", plugin), ("good", GoodMap())])
    assert message in registry.failed[0].error
    assert "extra.fix_thing" in registry.remediations


def test_two_maps_claiming_one_rule_is_a_reported_conflict():
    class Other:
        @hookimpl
        def lw_remediate_remediations(self):
            return [manual("other.fix_thing", ("lacework-global-130",))]

    registry = load_maps(entry_points=False, extra_plugins=[("a", GoodMap()), ("b", Other())])
    conflict = registry.index.conflicts["LW_S3_1"]
    assert conflict.remediation_ids == ("extra.fix_thing", "other.fix_thing")
    match = registry.index.lookup("LW_S3_1")
    assert match.conflict is conflict and match.remediations == ()
    chosen = load_maps(
        entry_points=False,
        extra_plugins=[("a", GoodMap()), ("b", Other())],
        rule_choices={"lacework-global-130": "other.fix_thing"},
    )
    assert not chosen.index.conflicts
    assert [r.id for r in chosen.index.lookup("LW_S3_1").remediations] == ["other.fix_thing"]


def test_reason_split_remediations_do_not_conflict():
    class Split:
        @hookimpl
        def lw_remediate_remediations(self):
            return [
                manual("x.fix_keys", ("AWS_CIS_1_3",), reasons=("AccessKey1NotUsed",)),
                manual("x.fix_passwords", ("AWS_CIS_1_3",), reasons=("PasswordNotUsed",)),
            ]

    registry = load_maps(entry_points=False, extra_plugins=[("split", Split())])
    assert not registry.index.conflicts
    assert [r.id for r in registry.index.lookup("AWS_CIS_1_3", "PasswordNotUsed").remediations] == [
        "x.fix_passwords"
    ]


def test_duplicate_ids_across_maps_skip_the_second():
    registry = load_maps(entry_points=False, extra_plugins=[("a", GoodMap()), ("b", GoodMap())])
    assert "already provided" in registry.failed[0].error


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"id": "NoDot"}, "not of the form"),
        ({"id": "s3.x", "rules": ("LW_S3_1",)}, "not of the form"),
        ({"rules": ()}, "no rule ids"),
        ({"runbook": ""}, "needs a runbook"),
    ],
)
def test_declaration_errors(kwargs, message):
    base = dict(
        id="s3.fix_it",
        rules=("LW_S3_1",),
        title="t",
        policy=IamPolicy(),
        check=_check,
        plan=_plan,
        auto_remediable=False,
        runbook="r",
    )
    base.update(kwargs)
    with pytest.raises(RemediationDeclarationError, match=message):
        Remediation(**base)


def test_cli_lists_broken_map_and_keeps_the_others(cli, broken_map_dir):
    result = cli("maps", "--json", pythonpath=broken_map_dir)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert {m["name"] for m in data["maps"]} >= {"lw-map-s3", "lw-map-cis-iam"}
    assert data["failed"] == [
        {
            "name": "lw-map-broken",
            "version": "0.3.1",
            "entry_point": "broken = lw_map_broken",
            "error": "RuntimeError: boom at import",
        }
    ]
