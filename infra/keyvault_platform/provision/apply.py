"""Apply a provisioning plan: exactly its changes, in dependency order."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from azure.core.exceptions import (
    HttpResponseError,
)

from keyvault_platform.config.environment import Environment
from keyvault_platform.core.errors import ActionableError
from keyvault_platform.core.plan import Action, Change
from keyvault_platform.provision import role_assignments as ra
from keyvault_platform.provision import vault as vaults

if TYPE_CHECKING:
    from azure.mgmt.keyvault import KeyVaultManagementClient
    from azure.mgmt.resource.resources import ResourceManagementClient
from keyvault_platform.provision.observe import ArmClients
from keyvault_platform.provision.planner import ProvisionPlan

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------
# Apply


@dataclass(frozen=True)
class Timing:
    """Waits and how to wait (injectable so unit tests never sleep)."""

    principal_wait_s: float
    rbac_propagation_wait_s: float
    first_delay_s: float = 1.0
    max_delay_s: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic

    @classmethod
    def for_environment(
        cls,
        env: Environment,
        *,
        principal_wait_s: float | None = None,
        rbac_propagation_wait_s: float | None = None,
    ) -> Timing:
        return cls(
            principal_wait_s=env.provisioning.principal_wait_s
            if principal_wait_s is None
            else principal_wait_s,
            rbac_propagation_wait_s=env.provisioning.rbac_propagation_wait_s
            if rbac_propagation_wait_s is None
            else rbac_propagation_wait_s,
        )


@dataclass
class ApplyResult:
    applied: list[Change] = field(default_factory=list)
    outcomes: dict[str, str] = field(default_factory=dict)
    vault: vaults.VaultState | None = None


ProgressHook = Callable[[Change, str], None]


def apply(
    planned: ProvisionPlan,
    arm: ArmClients,
    *,
    timing: Timing | None = None,
    on_applied: ProgressHook | None = None,
) -> ApplyResult:
    """Carry out exactly the planned changes, in dependency order.

    Raises :class:`ActionableError` on the first failure; what was applied
    before it is in the plan (nothing else is ever written).
    """
    if planned.plan.errors:
        raise ActionableError("the plan has errors; nothing was applied")
    env = planned.env
    timing = timing or Timing.for_environment(env)
    result = ApplyResult(vault=planned.observed.vault)

    def done(address: str, outcome: str) -> None:
        change = planned.plan.change(address)
        assert change is not None
        result.applied.append(change)
        result.outcomes[address] = outcome
        if on_applied is not None:
            on_applied(change, outcome)

    rg_addr = f"resource_group.{env.resource_group.name}"
    if planned.resource_group_action in (Action.CREATE, Action.UPDATE):
        existing = planned.observed.resource_group
        tags = {**(existing.tags if existing else {}), **env.resource_group.tags}
        # A group cannot move: an update keeps its own location.
        location = existing.location if existing else env.resource_group.location
        _put_resource_group(arm.resources, env, location, tags)
        done(rg_addr, "created" if planned.resource_group_action is Action.CREATE else "updated")

    vault_change = planned.vault.change
    rg_name = env.resource_group.name
    if vault_change.action is not Action.NO_OP:
        _recheck_vault(arm.keyvault, planned)
    if vault_change.action is Action.CREATE:
        result.vault = vaults.apply_create(arm.keyvault, rg_name, env.vault, env.tenant_id)
        done(vault_change.address, "created")
    elif vault_change.action is Action.RECOVER:
        recovered = vaults.apply_create(
            arm.keyvault, rg_name, env.vault, env.tenant_id, recover=True
        )
        converge = vaults.plan_vault(
            env.vault,
            tenant_id=env.tenant_id,
            resource_group_id=env.resource_group_id,
            actual=recovered,
            deleted=None,
        )
        errors = [d for d in converge.diagnostics if d.severity == "error"]
        if errors:
            raise ActionableError(
                f"vault {env.vault.name!r} was recovered, but: {errors[0].summary}",
                hint=errors[0].detail,
                address=vault_change.address,
            )
        if converge.changed_fields:
            log.info("converging recovered vault: %s", ", ".join(converge.changed_fields))
            recovered = vaults.apply_update(
                arm.keyvault, rg_name, env.vault, converge.changed_fields
            )
        result.vault = recovered
        done(vault_change.address, "recovered")
    elif vault_change.action is Action.UPDATE:
        result.vault = vaults.apply_update(
            arm.keyvault, rg_name, env.vault, planned.vault.changed_fields
        )
        done(vault_change.address, "updated")

    assignments = planned.assignments
    if assignments is not None:
        budget = ra.RetryBudget(
            total_s=timing.principal_wait_s,
            first_delay_s=timing.first_delay_s,
            max_delay_s=timing.max_delay_s,
            sleep=timing.sleep,
            clock=timing.clock,
        )
        for item in assignments.creates:
            outcome = ra.create_assignment(arm.authorization, item, budget=budget)
            done(item.address, outcome)
        for state in assignments.deletes:
            ra.delete_assignment(arm.authorization, state)
            done(f"role_assignment.undeclared-{state.name}", "deleted")
    return result


def _recheck_vault(client: KeyVaultManagementClient, planned: ProvisionPlan) -> None:
    """Stop if the vault changed between plan and apply (someone else is at work)."""
    env = planned.env
    now = vaults.read_vault(client, env.resource_group.name, env.vault.name)
    before = planned.observed.vault
    if (now is None) != (before is None) or (
        now is not None
        and before is not None
        and vaults.actual_fields(now) != vaults.actual_fields(before)
    ):
        raise ActionableError(
            f"vault {env.vault.name!r} changed after the plan was made; nothing more was applied",
            hint="run the command again to plan against the current state",
            address=planned.vault.change.address,
        )


def _put_resource_group(
    client: ResourceManagementClient, env: Environment, location: str, tags: dict[str, str]
) -> None:
    from azure.mgmt.resource.resources.models import ResourceGroup

    spec = env.resource_group
    try:
        client.resource_groups.create_or_update(
            spec.name, ResourceGroup(location=location, tags=tags)
        )
    except HttpResponseError as exc:
        error = vaults.arm_error(
            exc, doing=f"create resource group {spec.name!r}", address=f"resource_group.{spec.name}"
        )
        if exc.status_code == 403:
            error.hint = (
                "creating a resource group needs Contributor (or Owner) on the subscription; "
                "create it beforehand and set resource_group.create: false"
            )
        raise error from None
