"""Role assignments: deterministic names, comparison by triple, drift, retries (pure)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from keyvault_platform.core.errors import ActionableError
from keyvault_platform.core.plan import Action, Plan
from keyvault_platform.core.views import render_text
from keyvault_platform.provision import role_assignments as ra

from .provision_helpers import APP, OUTSIDER, ROLES, SYNC, VAULT_ID, assignment, environment


def desired(tmp_path: Path) -> list[ra.DesiredAssignment]:
    return ra.desired_assignments(environment(tmp_path).access, VAULT_ID, ROLES)


def test_names_are_deterministic_uuid5_and_case_insensitive() -> None:
    role = ROLES["key vault secrets user"].id
    name = ra.assignment_name(VAULT_ID, APP, role)
    assert uuid.UUID(name).version == 5
    assert name == ra.assignment_name(VAULT_ID.upper(), APP.upper(), role.lower())
    assert name != ra.assignment_name(VAULT_ID, SYNC, role)
    assert name != ra.assignment_name(VAULT_ID + "/secrets/x", APP, role)
    # The GUID of the role, not the subscription path it was read under, counts.
    assert name == ra.assignment_name(VAULT_ID, APP, role.rsplit("/", 1)[-1])


def test_fresh_vault_plans_one_create_per_grant(tmp_path: Path) -> None:
    result = ra.plan_assignments(desired(tmp_path), [], vault_id=VAULT_ID)
    assert [c.action for c in result.changes] == [Action.CREATE, Action.CREATE]
    fields = {f.name: f.new for f in result.changes[0].fields}
    assert fields["principal_type"] == "ServicePrincipal"
    assert fields["role"] == "Key Vault Secrets User"


def test_existing_triple_under_another_name_is_satisfied(tmp_path: Path) -> None:
    actual = [
        assignment(APP, "key vault secrets user", name="11111111-1111-1111-1111-111111111111"),
        assignment(SYNC, "key vault secrets officer"),
    ]
    result = ra.plan_assignments(desired(tmp_path), actual, vault_id=VAULT_ID)
    assert all(c.action is Action.NO_OP for c in result.changes)
    assert result.creates == () and result.diagnostics == ()
    # The plan says it was found and adopted; the one under our own name is silent.
    plan = Plan(result.changes)
    (found,) = plan.found
    assert "11111111-1111-1111-1111-111111111111" in (found.reason or "")
    assert "no duplicate" in render_text(plan) and not plan.has_changes


def test_undeclared_assignment_at_vault_scope_is_drift(tmp_path: Path) -> None:
    stray = assignment(OUTSIDER, "reader", name="22222222-2222-2222-2222-222222222222")
    inherited = assignment(OUTSIDER, "reader", scope=VAULT_ID.split("/providers/")[0])
    result = ra.plan_assignments(
        desired(tmp_path), [stray, inherited], vault_id=VAULT_ID, role_names={}
    )
    (warning,) = result.diagnostics
    assert warning.severity == "warning" and "not declared" in warning.summary
    assert "--prune-assignments" in (warning.detail or "")
    assert result.deletes == ()
    pruned = ra.plan_assignments(
        desired(tmp_path), [stray, inherited], vault_id=VAULT_ID, prune=True
    )
    assert pruned.deletes == (stray,)
    (delete,) = [c for c in pruned.changes if c.action is Action.DELETE]
    assert delete.drift and delete.address == f"role_assignment.undeclared-{stray.name}"


def test_secret_scoped_grants_expand_per_secret(tmp_path: Path) -> None:
    text = (
        environment(tmp_path).path.read_text()
        + "  - name: billing\n"
        + f"    principal_id: {OUTSIDER}\n"
        + "    role: Key Vault Secrets User\n"
        + "    scope: {secrets: [acme--a, acme--b]}\n"
    )
    items = ra.desired_assignments(environment(tmp_path, text).access, VAULT_ID, ROLES)
    scoped = [i for i in items if i.grant.name == "billing"]
    assert [i.address for i in scoped] == [
        "role_assignment.billing/acme--a",
        "role_assignment.billing/acme--b",
    ]
    assert scoped[0].scope == f"{VAULT_ID}/secrets/acme--a"
    assert scoped[0].scope_label == "secret acme--a"


def test_role_read_capability_from_data_actions() -> None:
    assert ROLES["key vault secrets user"].can_read_metadata()
    assert ROLES["key vault secrets officer"].can_read_metadata()  # wildcard
    assert not ROLES["reader"].can_read_metadata()
    denied = ra.RoleDefinition("x/y", "z", ("Microsoft.KeyVault/*",), (ra.READ_METADATA,))
    assert not denied.can_read_metadata()


class _Error(HttpResponseError):
    def __init__(self, status: int, code: str) -> None:
        super().__init__(message=f"{code} happened")
        self.status_code = status
        self.error = type("E", (), {"code": code, "message": f"{code} happened"})()


class FakeAssignments:
    """Plays ARM's answers in order; a stand-in for pure retry logic only."""

    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, str, Any]] = []

    def create(self, scope: str, name: str, parameters: Any) -> Any:
        self.calls.append((scope, name, parameters))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def client_with(answers: list[Any]) -> Any:
    return type("Client", (), {"role_assignments": FakeAssignments(answers)})()


def budget(clock: FakeClock, total: float = 60) -> ra.RetryBudget:
    return ra.RetryBudget(total_s=total, sleep=clock.sleep, clock=clock.clock)


def test_principal_not_found_is_retried_with_capped_backoff(tmp_path: Path) -> None:
    item = desired(tmp_path)[0]
    clock = FakeClock()
    client = client_with([_Error(400, "PrincipalNotFound")] * 3 + [object()])
    assert ra.create_assignment(client, item, budget=budget(clock)) == "created"
    assert clock.sleeps == [1.0, 2.0, 4.0]
    _scope, name, parameters = client.role_assignments.calls[0]
    assert name == item.name
    assert parameters.principal_type == "ServicePrincipal"  # always sent
    assert parameters.principal_id == APP


def test_unknown_principal_fails_clearly_within_the_bound(tmp_path: Path) -> None:
    item = desired(tmp_path)[0]
    clock = FakeClock()
    client = client_with([_Error(400, "PrincipalNotFound")] * 100)
    with pytest.raises(ActionableError) as info:
        ra.create_assignment(client, item, budget=budget(clock, total=20))
    assert APP in str(info.value) and "app-reads" in str(info.value)
    assert "unit.yaml" in str(info.value)  # where it is declared
    assert clock.now <= 20


def test_conflicts_and_missing_rights(tmp_path: Path) -> None:
    item = desired(tmp_path)[0]
    clock = FakeClock()
    exists = client_with([_Error(409, "RoleAssignmentExists")])
    assert ra.create_assignment(exists, item, budget=budget(clock)) == "exists"
    forbidden = client_with([_Error(403, "AuthorizationFailed")])
    with pytest.raises(ActionableError) as info:
        ra.create_assignment(forbidden, item, budget=budget(clock))
    assert "User Access Administrator or Owner" in str(info.value)


def test_fake_error_reads_like_the_sdks() -> None:
    from keyvault_platform.provision.vault import error_code

    assert error_code(_Error(400, "PrincipalNotFound")) == "PrincipalNotFound"


def org_grant_env(tmp_path: Path, orgs: str = "[contoso, acme]") -> str:
    from .provision_helpers import ENV_TEXT

    return ENV_TEXT + (
        f"  - name: outsider-reads-two-orgs\n"
        f"    principal_id: {OUTSIDER}\n"
        f"    role: Key Vault Secrets User\n"
        f"    orgs: {orgs}\n"
    )


def org_desired(tmp_path: Path, orgs: str = "[contoso, acme]") -> ra.DesiredAssignment:
    env = environment(tmp_path, org_grant_env(tmp_path, orgs))
    *_, limited = ra.desired_assignments(env.access, VAULT_ID, ROLES)
    return limited


def test_an_org_limited_grant_is_one_vault_assignment_with_a_condition(tmp_path: Path) -> None:
    limited = org_desired(tmp_path)
    assert limited.scope == VAULT_ID and limited.grant.orgs == ("acme", "contoso")
    assert limited.condition == (
        "((!(ActionMatches{'Microsoft.KeyVault/vaults/secrets/getSecret/action'})) OR ("
        "@Resource[Microsoft.KeyVault/vaults/secrets:name] StringStartsWithIgnoreCase 'acme--'"
        " OR @Resource[Microsoft.KeyVault/vaults/secrets:name] StringStartsWithIgnoreCase "
        "'contoso--' OR @Resource[Microsoft.KeyVault/vaults/secrets:name] "
        "StringStartsWithIgnoreCase 'GLOBAL--'))"
    )
    result = ra.plan_assignments([limited], [], vault_id=VAULT_ID)
    (change,) = result.changes
    fields = {f.name: f.new for f in change.fields}
    assert fields["orgs"] == ["acme", "contoso"] and fields["condition"] == limited.condition
    assert "StringStartsWithIgnoreCase 'contoso--'" in render_text(Plan(result.changes))


def _state(item: ra.DesiredAssignment, *, name: str | None = None, condition: str | None = None):
    return ra.AssignmentState(
        name=name or item.name,
        id=f"{VAULT_ID}/providers/Microsoft.Authorization/roleAssignments/{name or item.name}",
        scope=VAULT_ID,
        principal_id=OUTSIDER,
        principal_type="ServicePrincipal",
        role_definition_id=item.role.id,
        condition=condition,
    )


def test_the_same_condition_plans_nothing(tmp_path: Path) -> None:
    limited = org_desired(tmp_path)
    result = ra.plan_assignments(
        [limited], [_state(limited, condition=limited.condition)], vault_id=VAULT_ID
    )
    assert [c.action for c in result.changes] == [Action.NO_OP] and result.creates == ()


def test_a_changed_or_removed_condition_on_ours_is_drift_updated_in_place(tmp_path: Path) -> None:
    limited = org_desired(tmp_path)
    other = org_desired(tmp_path, "[contoso]").condition
    for found in (other, None):
        result = ra.plan_assignments(
            [limited], [_state(limited, condition=found)], vault_id=VAULT_ID
        )
        (change,) = result.changes
        assert change.action is Action.UPDATE and change.drift
        assert result.creates == (limited,) and result.deletes == ()
        (diff,) = change.fields
        assert diff.name == "condition" and diff.new == limited.condition


def test_an_unconditioned_assignment_made_by_hand_is_refused_or_replaced(tmp_path: Path) -> None:
    limited = org_desired(tmp_path)
    by_hand = _state(limited, name="33333333-3333-3333-3333-333333333333")
    result = ra.plan_assignments([limited], [by_hand], vault_id=VAULT_ID)
    (error,) = result.diagnostics
    assert error.severity == "error" and "without condition" in error.summary
    assert "read every org's secrets" in (error.detail or "") and by_hand.id in (error.detail or "")
    assert result.creates == () and result.deletes == ()
    replaced = ra.plan_assignments([limited], [by_hand], vault_id=VAULT_ID, prune=True)
    assert replaced.deletes == (by_hand,) and replaced.creates == (limited,)
    assert {c.action for c in replaced.changes} == {Action.DELETE, Action.CREATE}


@pytest.mark.parametrize(
    ("orgs", "message"),
    [
        ("[GLOBAL]", "GLOBAL secrets are readable with every org list"),
        ("[contoso, contoso]", "must not list the same entry twice"),
        ("[]", "orgs"),
        ("[contoso--x]", "an org id"),
    ],
)
def test_bad_org_lists_are_located(tmp_path: Path, orgs: str, message: str) -> None:
    from keyvault_platform.core.yaml_source import InputError

    with pytest.raises(InputError) as raised:
        environment(tmp_path, org_grant_env(tmp_path, orgs))
    (problem,) = raised.value.problems
    assert problem.location.line == 19, problem  # the orgs line
    assert message in problem.message, problem.message


def test_orgs_on_a_secret_scoped_grant_are_refused(tmp_path: Path) -> None:
    from keyvault_platform.core.yaml_source import InputError

    text = org_grant_env(tmp_path) + "    scope: {secrets: [contoso--a]}\n"
    with pytest.raises(InputError, match="a grant on named secrets is already limited"):
        environment(tmp_path, text)
