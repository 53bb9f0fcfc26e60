"""Provisioning: plan, apply and verify one environment's vault and grants.

One module a step: :mod:`.observe` (read), :mod:`.planner` (compare, pure),
:mod:`.apply` (write exactly the plan), :mod:`.verify` (check the result);
:mod:`.vault`, :mod:`.role_assignments` and :mod:`.permissions` hold the
rules for each kind of resource.

::

    env = load_environment("local")
    target = env.target()
    with ArmClients(target) as arm:
        planned = plan(env, arm, prune_assignments=False)   # reads only
        if not planned.plan.errors:
            result = apply(planned, arm)                    # exactly the plan
            report = verify(env, target, arm)               # reads metadata only

The plan reads the resource group, the vault, a soft-deleted vault of the
same name, the role definitions named by the file and the role assignments
at the vault (and declared secret) scopes; it refuses unsafe changes before
any write. When the plan would write, it also asks Azure's permissions API
what the deploying identity may do there, and refuses the plan for a right
it lacks (:mod:`keyvault_platform.provision.permissions`) instead of failing half-way through
apply. Apply executes the planned changes through the shared executor
(:mod:`keyvault_platform.core.executor`): in dependency order, the role
assignments concurrently; a failed change skips only what depends on it.
It re-reads the vault first so that a change made since the plan fails
that change, and treats ARM's idempotent answers (200 on re-PUT, 409
``RoleAssignmentExists``) as done. A plan without changes makes no ARM
writes.
"""

from __future__ import annotations

from keyvault_platform.provision.apply import ApplyResult, Timing, apply
from keyvault_platform.provision.observe import ArmClients, Observed, ResourceGroupState, observe
from keyvault_platform.provision.planner import ProvisionPlan, build_plan, check_permissions, plan
from keyvault_platform.provision.verify import Check, VerifyReport, verify

__all__ = [
    "ApplyResult",
    "ArmClients",
    "Check",
    "Observed",
    "ProvisionPlan",
    "ResourceGroupState",
    "Timing",
    "VerifyReport",
    "apply",
    "build_plan",
    "check_permissions",
    "observe",
    "plan",
    "verify",
]
