"""Converge a Key Vault and its role assignments from an environment file.

Thin: options and output only; the work is in :mod:`keyvault_platform.provision`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TextIO

from keyvault_platform.cli import apply_report, approval
from keyvault_platform.cli import conventions as cli
from keyvault_platform.config.environment import Environment, load_environment
from keyvault_platform.core import messages
from keyvault_platform.core import plan as plans
from keyvault_platform.core import saved_plan as saved_plans
from keyvault_platform.core.errors import ActionableError
from keyvault_platform.provision.apply import (
    DEFAULT_CONCURRENCY,
    ApplyInterrupted,
    Timing,
    apply,
)
from keyvault_platform.provision.observe import ArmClients, planned_against
from keyvault_platform.provision.planner import ProvisionPlan, plan, target
from keyvault_platform.provision.verify import Check, verify
from keyvault_platform.target.base import Target

EXAMPLES = [
    (
        "keyvault-platform provision --env local --plan",
        "show what would change on the emulator (exit 2 if any)",
    ),
    ("keyvault-platform provision --env local", "plan, apply and verify on the emulator"),
    (
        "keyvault-platform provision --env prod --plan --output json",
        "the plan as JSON lines for a pipeline",
    ),
    (
        "keyvault-platform provision --env prod --prune-assignments",
        "also remove undeclared vault assignments",
    ),
    (
        "keyvault-platform provision --env prod --plan --out plan.json",
        "save the plan for review",
    ),
    (
        "keyvault-platform provision --from-plan plan.json --auto-approve",
        "apply exactly that plan (refused if stale)",
    ),
    (
        "keyvault-platform provision --env prod --target role_assignment.app-reads-secrets",
        "plan and apply one grant",
    ),
]

#: The options that shape a provisioning plan, which --from-plan takes from its file.
PLANNING_OPTIONS = ("prune_assignments",)


#: How to converge after a failed or interrupted apply.
RERUN = "run the command again to converge"


def build_parser(
    subcommands: argparse._SubParsersAction[argparse.ArgumentParser] | None = None,
) -> argparse.ArgumentParser:
    parser = cli.parser(
        "provision" if subcommands is not None else "keyvault-platform provision",
        "Plan, apply and verify an environment's Key Vault and role assignments.\n"
        "Reads the environment file (paths in it are relative to the config directory);\n"
        "the vault is the only state.",
        examples=EXAMPLES,
        subcommands=subcommands,
    )
    cli.add_environment_option(parser)
    parser.add_argument(
        "--prune-assignments",
        action="store_true",
        help="delete role assignments at the vault scope that the file does not declare",
    )
    parser.add_argument("--no-verify", action="store_true", help="skip the checks after apply")
    parser.add_argument(
        "--principal-wait",
        type=float,
        metavar="SECONDS",
        help="retry PrincipalNotFound this long (default: the file's, else 300)",
    )
    parser.add_argument(
        "--rbac-wait",
        type=float,
        metavar="SECONDS",
        help="wait this long for data-plane access to take effect (default: the file's, else 600)",
    )
    parser.add_argument(
        "--concurrency",
        type=cli.at_least(1),
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help=f"changes applied at once, such as role assignments (default {DEFAULT_CONCURRENCY})",
    )
    approval.add_plan_options(parser)
    cli.add_emulator_options(parser, identity="that deploys (default: the file's, else deployer)")
    return parser


def main(args: argparse.Namespace, out: cli.Output) -> int:
    approval.check_plan_options(args, planning_only=PLANNING_OPTIONS)
    saved = None
    if args.from_plan is not None:
        saved = saved_plans.SavedPlan.read(args.from_plan, command="provision")
        if args.env not in ("local", saved.environment):
            raise ActionableError(
                f"--env {args.env}: the plan {args.from_plan} is for {saved.environment}",
                hint="drop --env: --from-plan uses the plan's environment",
            )
        args.prune_assignments = bool(saved.options["prune_assignments"])
        args.target = list(saved.options["targets"])
    env = load_environment(saved.environment if saved else args.env)
    inputs = saved_plans.file_digests([env.path], root=env.root)
    if saved is not None:
        saved_plans.refuse_if_stale(saved, args.from_plan, inputs=inputs)
    target = env.target(state_dir=args.state_dir, identity=args.identity)
    timing = Timing.for_environment(
        env, principal_wait_s=args.principal_wait, rbac_propagation_wait_s=args.rbac_wait
    )
    out.info(f"Planning {env.name} on {target.describe()} ...")
    try:
        return _provision(args, out, env, target, timing, saved, inputs)
    finally:
        target.close()


def _provision(
    args: argparse.Namespace,
    out: cli.Output,
    env: Environment,
    target: Target,
    timing: Timing,
    saved: saved_plans.SavedPlan | None,
    inputs: dict[str, str],
) -> int:
    with ArmClients(target) as arm:
        planned = target_plan(plan(env, arm, prune_assignments=args.prune_assignments), args)
        if saved is not None:
            # Nothing written yet: what was read, then what was planned, as saved.
            saved_plans.refuse_if_stale(
                saved, args.from_plan, state=planned_against(env, planned.observed)
            )
            saved_plans.refuse_if_stale(
                saved, args.from_plan, changes=saved_plans.changes_of(planned.plan)
            )
        out.plan(planned.plan)
        if args.out is not None and planned.plan.errors:
            out.info(f"No plan file written to {args.out}: the plan has errors.")
        elif args.out is not None:
            _save(args, env, planned, inputs)
            out.info(f"Saved the plan to {args.out}; apply it with --from-plan {args.out}")
        if planned.plan.errors or args.plan:
            return plans.detailed_exit_code(planned.plan, applied=False)

        failed = False
        if planned.plan.has_changes:
            approval.approve(out, planned.plan, auto_approve=args.auto_approve)
            if not out.json:
                out.line("")
                out.line("Applying ...")
            try:
                result = apply(planned, arm, timing=timing, concurrency=args.concurrency)
            except ApplyInterrupted as stopped:
                # Say what was written before the command exits 130.
                apply_report.report_apply(out, planned.plan, stopped.result, rerun=RERUN)
                raise
            if apply_report.report_apply(out, planned.plan, result, rerun=RERUN):
                out.info("Verification skipped: the apply did not complete.")
                return plans.EXIT_ERROR

        if not args.no_verify:
            report = verify(env, target, arm, timing=timing, roles=planned.observed.roles)
            _print_checks(out, report.checks)
            failed = not report.ok
            if failed:
                names = ", ".join(c.name for c in report.failures)
                cli.report_error(out, f"verification failed: {names}", detail=None)
    return plans.detailed_exit_code(planned.plan, applied=True, failed=failed)


def target_plan(planned: ProvisionPlan, args: argparse.Namespace) -> ProvisionPlan:
    """The plan, or only its ``--target`` changes."""
    return target(planned, list(args.target)) if args.target else planned


def _save(
    args: argparse.Namespace, env: Environment, planned: ProvisionPlan, inputs: dict[str, str]
) -> None:
    saved_plans.SavedPlan(
        command="provision",
        environment=str(args.env),
        options={
            "prune_assignments": bool(args.prune_assignments),
            "targets": sorted(planned.only) if planned.only is not None else [],
        },
        inputs=inputs,
        state=planned_against(env, planned.observed),
        changes=saved_plans.changes_of(planned.plan),
    ).write(args.out)


def _print_checks(out: cli.Output, checks: list[Check]) -> None:
    if out.json:
        for check in checks:
            out.json_line(
                messages.verify_result(
                    check.name, check.status, detail=check.detail, address=check.address
                )
            )
        return
    out.line("")
    out.line("Verification:")
    for check in checks:
        line = f"  {check.status:<7} {check.name}"
        if check.detail:
            line += f": {check.detail}"
        out.line(line)


def run(
    argv: Sequence[str] | None = None,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    return cli.run(build_parser(), main, argv, stdout=stdout, stderr=stderr)


if __name__ == "__main__":
    sys.exit(run())
