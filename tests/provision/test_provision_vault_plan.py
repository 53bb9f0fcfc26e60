"""The vault planner: field-by-field diffs, drift and plan-time refusals (pure)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from keyvault_platform.config.environment import NetworkAcls
from keyvault_platform.core.plan import Action
from keyvault_platform.provision import vault as vaults

from .provision_helpers import RG_ID, TENANT, deleted_state, environment, vault_state


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


def test_purge_protection_cannot_be_turned_off(tmp_path: Path) -> None:
    result = plan(tmp_path, actual=vault_state(), spec={"purge_protection": False})
    assert any("purge protection cannot be turned off" in e for e in errors(result))


def test_turning_purge_protection_on_is_an_update(tmp_path: Path) -> None:
    actual = vault_state(properties={"enablePurgeProtection": None})
    result = plan(tmp_path, actual=actual)
    assert result.change.action is Action.UPDATE and not errors(result)
    params = vaults.patch_parameters(environment(tmp_path).vault, result.changed_fields)
    assert params.properties.enable_purge_protection is True
    assert params.properties.enable_rbac_authorization is True  # always sent
    assert params.tags is None


def test_retention_is_fixed_once_set(tmp_path: Path) -> None:
    result = plan(tmp_path, actual=vault_state(properties={"softDeleteRetentionInDays": 30}))
    assert any("retention cannot change" in e and "30" in e for e in errors(result))


def test_rbac_cannot_be_turned_off_nor_created_off(tmp_path: Path) -> None:
    existing = plan(tmp_path, actual=vault_state(), spec={"rbac_authorization": False})
    assert any("RBAC authorization cannot be turned off" in e for e in errors(existing))
    new = plan(tmp_path, spec={"rbac_authorization": False})
    assert any("without RBAC authorization" in e for e in errors(new))


def test_location_and_tenant_moves_are_refused(tmp_path: Path) -> None:
    result = plan(tmp_path, actual=vault_state(location="northeurope"))
    assert any("cannot move" in e for e in errors(result))
    moved = vault_state(properties={"tenantId": "00000000-0000-0000-0000-000000000000"})
    assert any("tenant" in e for e in errors(plan(tmp_path, actual=moved)))


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


def test_soft_deleted_name_fail_policy_is_a_clear_error(tmp_path: Path) -> None:
    result = plan(tmp_path, deleted=deleted_state(), spec={"on_soft_deleted": "fail"})
    (error,) = [d for d in result.diagnostics if d.severity == "error"]
    assert "soft-deleted vault" in error.summary and "2027-01-30" in error.summary
    assert "on_soft_deleted: recover" in (error.detail or "")


def test_recovery_into_another_group_is_refused(tmp_path: Path) -> None:
    other = deleted_state(vault_id="/subscriptions/x/resourceGroups/rg-other/providers/a/b/c")
    assert any("belongs to" in e for e in errors(plan(tmp_path, deleted=other)))


def test_taken_name_is_refused(tmp_path: Path) -> None:
    assert any("already taken" in e for e in errors(plan(tmp_path, name_available=False)))


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
