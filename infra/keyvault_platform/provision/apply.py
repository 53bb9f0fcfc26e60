"""Apply a provisioning plan: exactly its changes, through the shared executor.

Each pending change is one task of :mod:`keyvault_platform.core.executor`,
with these dependencies::

    resource_group.RG -> vault.NAME -> vault_settings.NAME   (the update after a recover)
                                    -> role_assignment.*     (creates and deletes)

The role assignments are independent of each other and run concurrently
(``concurrency``, default 8). The executor's failure policy applies: a
failed change skips only what depends on it (a vault that fails skips its
role assignments), independent changes carry on, and the result reports
each; the command exits 1 if anything failed.

What can race is re-checked: the vault is read again right before it is
written, and if it changed since the plan, that change fails (its
dependents are skipped). A recovered vault is compared with the file
before its planned update: a setting the soft-deleted vault did not show
and the plan therefore could not (:func:`~keyvault_platform.provision.vault.unplanned_fields`)
is never applied unseen: the update is refused with a request to re-run,
which plans it. ARM's idempotent answers (200 on re-PUT, 409
``RoleAssignmentExists``) count as done.

Requests are retried by azure-core's ``RetryPolicy`` (the target's), not
again here; ``PrincipalNotFound`` (a new identity still replicating) is
retried per assignment for ``Timing.principal_wait_s``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

from keyvault_platform.config.environment import Environment
from keyvault_platform.core.errors import ActionableError
from keyvault_platform.core.executor import (
    DEFAULT_CONCURRENCY,
    ApplyInterrupted,
    ApplyResult,
    Done,
    Progress,
    Task,
    TaskContext,
    TaskFailed,
    execute,
)
from keyvault_platform.core.plan import Action
from keyvault_platform.provision import role_assignments as ra
from keyvault_platform.provision import vault as vaults
from keyvault_platform.provision.observe import ArmClients
from keyvault_platform.provision.planner import ProvisionPlan

if TYPE_CHECKING:
    from azure.mgmt.keyvault import KeyVaultManagementClient
    from azure.mgmt.resource.resources import ResourceManagementClient

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_CONCURRENCY",
    "ApplyInterrupted",
    "ApplyResult",
    "Timing",
    "apply",
]


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


def apply(
    planned: ProvisionPlan,
    arm: ArmClients,
    *,
    timing: Timing | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Progress | None = None,
) -> ApplyResult:
    """Carry out exactly the planned changes, in dependency order; never raises for one change.

    :keyword concurrency: changes applied at once (role assignments are independent).
    :keyword progress: called with (done, total, failed) as changes end.
    :raises ActionableError: the plan has errors; nothing was applied.
    :raises ApplyInterrupted: on Ctrl-C, with what was applied and what was not.
    """
    if planned.plan.errors:
        raise ActionableError("the plan has errors; nothing was applied")
    steps = _Provisioning(planned, arm, timing or Timing.for_environment(planned.env))
    return execute(
        steps.tasks(),
        concurrency=concurrency,
        describe=describe_failure,
        # On the real clock, waits end early at Ctrl-C (the executor's own sleep).
        sleep=None if steps.timing.sleep is time.sleep else steps.timing.sleep,
        progress=progress,
    )


def describe_failure(exc: BaseException) -> tuple[str, str | None]:
    """(what failed, what to do) for a provisioning failure; ARM errors carry no secrets."""
    if isinstance(exc, ActionableError):
        return exc.message, exc.hint
    if isinstance(exc, HttpResponseError):
        error = vaults.arm_error(exc, doing="apply the change")
        return error.message, error.hint
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return (
            f"could not reach Azure: {type(exc).__name__}",
            "check the network, or that the emulator is running for the local target",
        )
    return type(exc).__name__, None


class _Provisioning:
    """The planned changes as tasks, and what they hand on to each other."""

    def __init__(self, planned: ProvisionPlan, arm: ArmClients, timing: Timing) -> None:
        self.planned = planned
        self.arm = arm
        self.timing = timing
        self.env = planned.env
        # Set by the recover, read by the update after it (which depends on it).
        self.recovered: vaults.VaultState | None = None

    def tasks(self) -> list[Task]:
        planned, env = self.planned, self.env
        tasks: list[Task] = []
        group_address = f"resource_group.{env.resource_group.name}"
        group_task = planned.resource_group_action in (Action.CREATE, Action.UPDATE)
        if group_task:
            tasks.append(Task(group_address, planned.resource_group_action, self.resource_group))
        vault_plan = planned.vault
        vault_address = vault_plan.change.address
        vault_task = vault_plan.change.action is not Action.NO_OP
        if vault_task:
            tasks.append(
                Task(
                    vault_address,
                    vault_plan.change.action,
                    self.vault,
                    (group_address,) if group_task else (),
                )
            )
        if vault_plan.converge is not None:
            tasks.append(
                Task(vault_plan.converge.address, Action.UPDATE, self.converge, (vault_address,))
            )
        at_vault = (vault_address,) if vault_task else ()
        assignments = planned.assignments
        if assignments is not None:
            for item in assignments.creates:
                tasks.append(Task(item.address, Action.CREATE, self._creator(item), at_vault))
            for state in assignments.deletes:
                tasks.append(
                    Task(
                        f"role_assignment.undeclared-{state.name}",
                        Action.DELETE,
                        self._deleter(state),
                        at_vault,
                    )
                )
        if planned.only is not None:  # --target: what waits for them is targeted too
            tasks = [
                replace(t, depends_on=tuple(d for d in t.depends_on if d in planned.only))
                for t in tasks
                if t.address in planned.only
            ]
        return tasks

    def resource_group(self, ctx: TaskContext) -> Done:
        existing = self.planned.observed.resource_group
        spec = self.env.resource_group
        tags = {**(existing.tags if existing else {}), **spec.tags}
        # A group cannot move: an update keeps its own location.
        location = existing.location if existing else spec.location
        ctx.before_request()
        _put_resource_group(self.arm.resources, self.env, location, tags)
        return Done()

    def vault(self, ctx: TaskContext) -> Done:
        planned, env = self.planned, self.env
        action = planned.vault.change.action
        group = env.resource_group.name
        ctx.before_request()
        _recheck_vault(self.arm.keyvault, planned)
        ctx.before_request()
        if action is Action.CREATE:
            vaults.apply_create(self.arm.keyvault, group, env.vault, env.tenant_id)
            return Done()
        if action is Action.UPDATE:
            vaults.apply_update(self.arm.keyvault, group, env.vault, planned.vault.changed_fields)
            return Done()
        assert action is Action.RECOVER
        self.recovered = vaults.apply_create(
            self.arm.keyvault, group, env.vault, env.tenant_id, recover=True
        )
        if planned.vault.converge is not None:
            return Done()  # the planned update checks the rest
        unseen = vaults.unplanned_fields(env.vault, env.tenant_id, self.recovered, ())
        if not unseen:
            return Done()
        return Done(
            note=f"recovered; its {_differ(unseen)} from the environment file, which a "
            "soft-deleted vault does not show, so the plan did not include it: re-run to "
            "plan that update"
        )

    def converge(self, ctx: TaskContext) -> Done:
        """The planned update after a recover, once nothing unseen differs."""
        env, planned = self.env, self.planned
        assert self.recovered is not None, "the recover runs first"
        fields = planned.vault.changed_fields
        unseen = vaults.unplanned_fields(env.vault, env.tenant_id, self.recovered, fields)
        if unseen:
            raise TaskFailed(
                f"not updated: the recovered vault's {_differ(unseen, also=True)} from the "
                "environment file, which the soft-deleted vault did not show and the plan "
                "therefore could not; nothing unplanned is applied",
                hint="run the command again: it plans the whole update from the recovered vault",
            )
        log.info("converging recovered vault: %s", ", ".join(fields))
        ctx.before_request()
        vaults.apply_update(self.arm.keyvault, env.resource_group.name, env.vault, fields)
        return Done()

    def _budget(self, ctx: TaskContext) -> ra.RetryBudget:
        timing = self.timing
        return ra.RetryBudget(
            total_s=timing.principal_wait_s,
            first_delay_s=timing.first_delay_s,
            max_delay_s=timing.max_delay_s,
            sleep=ctx.sleep,  # the executor's: Ctrl-C ends the wait
            clock=timing.clock,
        )

    def _creator(self, item: ra.DesiredAssignment) -> Callable[[TaskContext], Done]:
        def create(ctx: TaskContext) -> Done:
            outcome = ra.create_assignment(
                self.arm.authorization,
                item,
                budget=self._budget(ctx),
                before_request=ctx.before_request,
            )
            return Done(
                outcome="already existed under another name" if outcome == "exists" else None
            )

        return create

    def _deleter(self, state: ra.AssignmentState) -> Callable[[TaskContext], Done]:
        def delete(ctx: TaskContext) -> Done:
            ctx.before_request()
            outcome = ra.delete_assignment(self.arm.authorization, state)
            return Done(outcome="already gone" if outcome == "gone" else None)

        return delete


def _differ(fields: tuple[str, ...], *, also: bool = False) -> str:
    """ "sku differs", "sku, tags also differ": fields and the verb that agrees."""
    verb = "differs" if len(fields) == 1 else "differ"
    return f"{', '.join(fields)} {'also ' if also else ''}{verb}"


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
