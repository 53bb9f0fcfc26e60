"""The vault planner: its rule tables row by row, field diffs, drift and request bodies (pure)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from keyvault_platform.config.environment import NetworkAcls, VaultSpec
from keyvault_platform.core.plan import Action
from keyvault_platform.provision import vault as vaults
from keyvault_platform.provision.vault import OTHER_FIELDS

from .provision_helpers import RG_ID, TENANT, deleted_state, environment, vault_state

OTHER_TENANT = "00000000-0000-0000-0000-000000000000"


def plan(tmp_path: Path, **kwargs):
    spec = environment(tmp_path).vault
    spec = replace(spec, **kwargs.pop("spec", {}))
    args = {"actual": None, "deleted": None, "name_available": True}
    args.update(kwargs)
    return vaults.plan_vault(spec, tenant_id=TENANT, resource_group_id=RG_ID, **args)


def errors(result) -> list[str]:
    return [d.summary for d in result.diagnostics if d.severity == "error"]


def test_new_vault_is_created_with_every_field(tmp_path: Path) -> None:
    result = plan(tmp_path)
    assert result.change.action is Action.CREATE
    assert [f.name for f in result.change.fields] == list(vaults.FIELDS)
    assert not result.diagnostics


def test_matching_vault_is_a_no_op(tmp_path: Path) -> None:
    result = plan(tmp_path, actual=vault_state())
    assert result.change.action is Action.NO_OP
    assert result.diagnostics == ()


def test_drift_is_planned_back(tmp_path: Path) -> None:
    actual = vault_state(
        tags={"env": "unit", "added": "by-hand"},
        properties={
            "publicNetworkAccess": "Disabled",
            "networkAcls": {"defaultAction": "Deny", "ipRules": [{"value": "1.2.3.4"}]},
        },
    )
    result = plan(tmp_path, actual=actual)
    assert result.change.action is Action.UPDATE
    assert result.change.reason == vaults.DIFFERS
    changed = {f.name: (f.old, f.new) for f in result.change.fields}
    assert changed["public_network_access"] == ("Disabled", "Enabled")
    assert changed["network_acls.default_action"] == ("Deny", "Allow")
    assert changed["network_acls.ip_rules"] == (["1.2.3.4/32"], [])
    assert changed["tags"][1] == {"env": "unit"}
    assert not errors(result)


def test_ip_rules_compare_in_cidr_form(tmp_path: Path) -> None:
    actual = vault_state(properties={"networkAcls": {"ipRules": [{"value": "1.2.3.4/32"}]}})
    spec = {"network_acls": NetworkAcls(ip_rules=("1.2.3.4/32",))}
    assert plan(tmp_path, actual=actual, spec=spec).change.action is Action.NO_OP


def test_turning_purge_protection_on_is_an_update(tmp_path: Path) -> None:
    actual = vault_state(properties={"enablePurgeProtection": None})
    result = plan(tmp_path, actual=actual)
    assert result.change.action is Action.UPDATE and not errors(result)
    params = vaults.patch_parameters(environment(tmp_path).vault, result.changed_fields)
    assert params.properties.enable_purge_protection is True
    assert params.properties.enable_rbac_authorization is True  # always sent
    assert params.tags is None


def test_soft_deleted_name_recover_policy_plans_a_recovery(tmp_path: Path) -> None:
    result = plan(tmp_path, deleted=deleted_state(), name_available=None)
    change = result.change
    assert change.action is Action.RECOVER and not result.diagnostics
    assert "2026-11-01" in change.reason and "2027-01-30" in change.reason
    assert any("not its role assignments" in n for n in change.notes)


def test_a_recovered_vault_matching_what_it_shows_needs_no_update(tmp_path: Path) -> None:
    result = plan(tmp_path, deleted=deleted_state(), name_available=None)
    assert result.change.fields == () and result.converge is None
    assert result.changes == (result.change,)
    assert any("read back after the recover" in n for n in result.change.notes)


def test_recover_then_converge_is_a_second_change_with_its_own_address(tmp_path: Path) -> None:
    deleted = deleted_state(tags={"env": "old", "owner": "x"}, purge_protection=False)
    result = plan(tmp_path, deleted=deleted, name_available=None)
    assert result.change.address == "vault.kv-unit" and result.change.action is Action.RECOVER
    converge = result.converge
    assert converge is not None and result.changes == (result.change, converge)
    assert converge.address == "vault_settings.kv-unit" and converge.action is Action.UPDATE
    assert [(f.name, f.old, f.new) for f in converge.fields] == [
        ("purge_protection", False, True),
        ("tags", {"env": "old", "owner": "x"}, {"env": "unit"}),
    ]
    assert result.changed_fields == ("purge_protection", "tags")
    assert "vault.kv-unit" in (converge.reason or "")


def test_unplanned_fields_are_what_the_deleted_vault_could_not_show(tmp_path: Path) -> None:
    spec = environment(tmp_path).vault
    recovered = vault_state(tags={"env": "old"}, properties={"sku": {"name": "premium"}})
    assert vaults.unplanned_fields(spec, TENANT, recovered, ("tags",)) == ("sku",)
    assert vaults.unplanned_fields(spec, TENANT, recovered, ("sku", "tags")) == ()
    assert vaults.unplanned_fields(spec, TENANT, vault_state(), ()) == ()


def test_create_parameters_state_every_safety_setting(tmp_path: Path) -> None:
    spec = environment(tmp_path).vault
    body = vaults.create_parameters(spec, TENANT).as_dict()
    props = body["properties"]
    assert props["enableSoftDelete"] is True
    assert props["softDeleteRetentionInDays"] == 90
    assert props["enablePurgeProtection"] is True
    assert props["enableRbacAuthorization"] is True
    assert props["accessPolicies"] == []
    assert "createMode" not in props
    recover = vaults.create_parameters(spec, TENANT, recover=True).as_dict()
    assert recover["properties"]["createMode"] == "recover"
    no_purge = vaults.create_parameters(replace(spec, purge_protection=False), TENANT)
    assert "enablePurgeProtection" not in no_purge.as_dict()["properties"]


# --------------------------------------------------------------------------
# The rule tables: every row has an example the planner plans as the row says

WHERE = {
    "location": "unit.yaml:5:3",
    "tenant_id": "unit.yaml:2:12",
    "purge_protection": "unit.yaml:8:21",
    "soft_delete_retention_days": "unit.yaml:9:3",
    "rbac_authorization": "unit.yaml:10:3",
}
OTHER_GROUP = "/subscriptions/x/resourceGroups/rg-other/providers/a/b/c"
PURGE_OFF = {"purge_protection": False}


@dataclass(frozen=True)
class Example:
    """Planner arguments for one row, and the error it must give (exactly this text)."""

    spec: dict[str, Any] = field(default_factory=dict)
    actual: vaults.VaultState | None = None
    deleted: vaults.DeletedVaultState | None = None
    name_available: bool | None = True
    error: str | None = None
    detail: str | None = None


def field_examples() -> dict[tuple[str, str, bool | None, bool | None], Example]:
    recover = {"on_soft_deleted": "recover"}
    return {
        ("create", "rbac_authorization", True, None): Example(
            {"rbac_authorization": False},
            error="a vault without RBAC authorization is not supported (set at unit.yaml:10:3)",
        ),
        ("create", "name", None, None): Example(
            name_available=False, error="the vault name 'kv-unit' is already taken"
        ),
        ("create", "rbac_authorization", False, None): Example(),
        ("create", OTHER_FIELDS, None, None): Example({"sku": "premium"}),
        ("update", "location", None, None): Example(
            actual=vault_state(location="northeurope"),
            error="the vault is in northeurope; a vault cannot move to westeurope "
            "(set at unit.yaml:5:3)",
        ),
        ("update", "tenant_id", None, None): Example(
            actual=vault_state(properties={"tenantId": OTHER_TENANT}),
            error=f"the vault belongs to tenant {OTHER_TENANT}, not {TENANT} "
            "(set at unit.yaml:2:12)",
        ),
        ("update", "purge_protection", True, None): Example(
            PURGE_OFF,
            actual=vault_state(),
            error="purge protection cannot be turned off (set at unit.yaml:8:21)",
            detail="Azure makes purge protection irreversible once enabled. Set "
            "vault.purge_protection: true.",
        ),
        ("update", "soft_delete_retention_days", None, True): Example(
            actual=vault_state(properties={"softDeleteRetentionInDays": 30}),
            error="soft-delete retention cannot change once set: the vault keeps 30 days, "
            "the file asks for 90 (set at unit.yaml:9:3)",
            detail="Set vault.soft_delete_retention_days to 30.",
        ),
        ("update", "rbac_authorization", True, None): Example(
            {"rbac_authorization": False},
            actual=vault_state(),
            error="RBAC authorization cannot be turned off (set at unit.yaml:10:3)",
        ),
        ("update", "purge_protection", False, None): Example(
            actual=vault_state(properties={"enablePurgeProtection": None})
        ),
        ("update", "soft_delete_retention_days", None, False): Example(
            actual=vault_state(
                properties={"enableSoftDelete": False, "softDeleteRetentionInDays": 30}
            )
        ),
        ("update", "rbac_authorization", False, None): Example(
            actual=vault_state(properties={"enableRbacAuthorization": False})
        ),
        ("update", OTHER_FIELDS, None, None): Example(
            actual=vault_state(properties={"sku": {"family": "A", "name": "premium"}})
        ),
        ("recover", "resource_group", None, None): Example(
            recover,
            deleted=deleted_state(vault_id=OTHER_GROUP),
            error=f"the soft-deleted vault 'kv-unit' belongs to "
            f"/subscriptions/x/resourcegroups/rg-other, not to {RG_ID}",
        ),
        ("recover", "location", None, None): Example(
            recover,
            deleted=deleted_state(location="northeurope"),
            error="the soft-deleted vault is in northeurope, the file says westeurope "
            "(set at unit.yaml:5:3)",
        ),
        ("recover", "purge_protection", True, None): Example(
            {**recover, **PURGE_OFF},
            deleted=deleted_state(),
            error="purge protection cannot be turned off (set at unit.yaml:8:21)",
            detail="The soft-deleted vault has purge protection, which is irreversible.",
        ),
        ("recover", "purge_protection", False, None): Example(
            recover, deleted=deleted_state(purge_protection=False)
        ),
        ("recover", "tags", None, None): Example(
            recover, deleted=deleted_state(tags={"env": "old"})
        ),
    }


def situation(table: vaults.FieldRules, row: vaults.FieldRule):
    return (table.name, row.subject, row.turns_off, row.soft_delete)


FIELD_ROWS = [(table, row) for table in vaults.FIELD_RULES for row in table.rows]


def field_row_id(case: tuple[vaults.FieldRules, vaults.FieldRule]) -> str:
    table, row = case
    flags = {"off": row.turns_off, "soft-delete": row.soft_delete}
    return "-".join(
        [table.name, "other" if row.subject == OTHER_FIELDS else row.subject]
        + [name if flag else f"not-{name}" for name, flag in flags.items() if flag is not None]
    )


def plan_example(tmp_path: Path, example: Example) -> vaults.VaultPlan:
    spec = replace(environment(tmp_path).vault, **example.spec)
    return vaults.plan_vault(
        spec,
        tenant_id=TENANT,
        resource_group_id=RG_ID,
        actual=example.actual,
        deleted=example.deleted,
        name_available=example.name_available,
        where=WHERE,
    )


def differences(tmp_path: Path, table: vaults.FieldRules, example: Example):
    spec = replace(environment(tmp_path).vault, **example.spec)
    if table is vaults.CREATE_RULES:
        return vaults.create_differences(spec, TENANT, example.name_available)
    if table is vaults.UPDATE_RULES:
        assert example.actual is not None
        return vaults.update_differences(spec, TENANT, example.actual)
    assert example.deleted is not None
    return vaults.recover_differences(spec, RG_ID, example.deleted)


def test_every_field_rule_has_an_example() -> None:
    assert set(field_examples()) == {situation(t, r) for t, r in FIELD_ROWS}


@pytest.mark.parametrize("case", FIELD_ROWS, ids=field_row_id)
def test_field_rule_example_is_planned_as_the_row_says(
    case: tuple[vaults.FieldRules, vaults.FieldRule], tmp_path: Path
) -> None:
    table, row = case
    example = field_examples()[situation(table, row)]
    found = differences(tmp_path, table, example)
    ruled = [(table.rule_for(seen), diff) for seen, diff in found]
    matched = [diff.name for rule, diff in ruled if rule is row]
    assert matched, "the example does not reach the row"
    result = plan_example(tmp_path, example)
    name = vaults.NAME_RULES[[t.fields for t in vaults.NAME_RULES].index(table)]
    assert result.change.action is name.action
    shown = result.converge if table is vaults.RECOVER_RULES else result.change
    planned = [f.name for f in shown.fields] if shown is not None else []
    assert all((subject in planned) is row.planned for subject in matched), planned
    found_errors = [d for d in result.diagnostics if d.severity == "error"]
    if row.refusal is None:
        assert found_errors == []
        assert example.error is None
        return
    (error,) = found_errors
    assert error.summary == example.error
    assert error.address == "vault.kv-unit"
    if example.detail is not None:
        assert error.detail == example.detail
    else:
        assert error.detail == row.refusal.hint


def name_examples() -> dict[tuple[vaults.Holder, str | None, bool | None], Example]:
    fail = {"on_soft_deleted": "fail"}
    recover = {"on_soft_deleted": "recover"}
    held = (
        "the name 'kv-unit' is held by a soft-deleted vault, scheduled for purge "
        "2027-01-30 00:00 UTC"
    )
    rest = (
        ". Set vault.on_soft_deleted: recover to bring it back (with its secrets), or choose "
        "another vault.name."
    )
    return {
        (vaults.Holder.NOBODY, None, None): Example(),
        (vaults.Holder.VAULT, None, None): Example(actual=vault_state(tags={})),
        (vaults.Holder.SOFT_DELETED, "fail", True): Example(
            fail,
            deleted=deleted_state(),
            error=held,
            detail="It was deleted 2026-11-01 00:00 UTC and is purge-protected, so it cannot "
            "be purged early" + rest,
        ),
        (vaults.Holder.SOFT_DELETED, "fail", False): Example(
            fail,
            deleted=deleted_state(purge_protection=False),
            error=held,
            detail="It was deleted 2026-11-01 00:00 UTC" + rest,
        ),
        (vaults.Holder.SOFT_DELETED, "recover", None): Example(recover, deleted=deleted_state()),
    }


def name_situation(rule: vaults.NameRule):
    return (rule.holder, rule.on_soft_deleted, rule.purge_protected)


def test_every_name_rule_has_an_example() -> None:
    assert set(name_examples()) == {name_situation(r) for r in vaults.NAME_RULES}


@pytest.mark.parametrize(
    "rule", vaults.NAME_RULES, ids=lambda r: "-".join(str(p) for p in name_situation(r))
)
def test_name_rule_example_is_planned_as_the_row_says(
    rule: vaults.NameRule, tmp_path: Path
) -> None:
    example = name_examples()[name_situation(rule)]
    spec = replace(environment(tmp_path).vault, **example.spec)
    assert vaults.name_rule(vaults.holding_of(spec, example.actual, example.deleted)) is rule
    result = plan_example(tmp_path, example)
    assert result.change.action is rule.action
    errors = [d for d in result.diagnostics if d.severity == "error"]
    if rule.refusal is None:
        assert errors == []
        return
    (error,) = errors
    assert (error.summary, error.detail) == (example.error, example.detail)
    assert result.change.fields == () and result.converge is None
    assert result.change.notes == (
        "a soft-deleted vault holds the name "
        "(deleted 2026-11-01 00:00 UTC, scheduled for purge 2027-01-30 00:00 UTC)",
    )


def test_a_vault_in_the_group_is_planned_before_a_soft_deleted_one() -> None:
    spec = VaultSpec("kv-unit", "westeurope", on_soft_deleted="fail")
    holding = vaults.holding_of(spec, vault_state(), deleted_state())
    assert vaults.name_rule(holding).holder is vaults.Holder.VAULT


def test_exactly_one_name_rule_applies_to_every_holding() -> None:
    for holder, policy, protected in itertools.product(
        vaults.Holder, ("fail", "recover"), (False, True)
    ):
        seen = vaults.Holding(holder, policy, protected)
        assert sum(r.applies(seen) for r in vaults.NAME_RULES) == 1, seen
        vaults.name_rule(seen)  # does not raise


@pytest.mark.parametrize("table", vaults.FIELD_RULES, ids=lambda t: t.name)
def test_exactly_one_field_rule_applies_to_every_difference(table: vaults.FieldRules) -> None:
    for subject, off, soft_delete in itertools.product(table.subjects, *[(False, True)] * 2):
        table.rule_for(vaults.Difference(subject, off, soft_delete))  # raises unless one row
    named = {r.subject for r in table.rows} - {OTHER_FIELDS}
    assert named <= set(table.subjects)
    with pytest.raises(LookupError):
        table.rule_for(vaults.Difference("no such field"))


def test_field_rules_are_consistent() -> None:
    assert [t.fields for t in vaults.NAME_RULES if t.fields] == list(vaults.FIELD_RULES)
    for table in vaults.FIELD_RULES:
        for row in table.rows:
            assert row.planned or row.refusal is not None, (table.name, row)  # does something
    # A vault's own settings are fields of its update; the rest cannot be changed in place.
    assert vaults.UPDATE_RULES.subjects == vaults.FIELDS


def test_errors_come_in_the_order_of_the_rows(tmp_path: Path) -> None:
    actual = vault_state(location="northeurope", properties={"softDeleteRetentionInDays": 30})
    result = plan_example(tmp_path, Example(PURGE_OFF, actual=actual))
    assert [e.summary.split(" (set at")[0] for e in result.diagnostics] == [
        "the vault is in northeurope; a vault cannot move to westeurope",
        "purge protection cannot be turned off",
        "soft-delete retention cannot change once set: the vault keeps 30 days, the file asks "
        "for 90",
    ]
    # Every difference is a field of the change, the refused ones too.
    assert result.changed_fields == ("location", "soft_delete_retention_days", "purge_protection")


def test_the_module_docstring_shows_the_rules_as_they_are() -> None:
    assert vaults.__doc__ is not None
    for table in vaults.render_rules().split("\n\n"):
        assert table in vaults.__doc__, f"paste render_rules() into the docstring:\n{table}"
