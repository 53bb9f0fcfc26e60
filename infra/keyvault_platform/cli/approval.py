"""Approval before apply, and the options of saved plans and targets.

At a terminal (stdin and stdout both TTYs) an apply shows its plan, lists
what it deletes apart, and asks; only ``yes`` applies. A pipeline passes
``--auto-approve``: the approval was its environment's (a protected GitHub
environment, an Azure DevOps approval check). Anything else (no terminal,
JSON output) refuses, with that hint, before the first write.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from keyvault_platform.cli.conventions import Output
from keyvault_platform.core import plan as plans
from keyvault_platform.core.errors import ActionableError

PROMPT = "apply these changes? only 'yes' is accepted: "

#: The hint of every refusal to apply without approval.
AUTO_APPROVE_HINT = (
    "at a terminal, answer the prompt; in a pipeline, pass --auto-approve (the "
    "pipeline's environment approval is the approval), ideally applying a reviewed "
    "plan: --plan --out FILE, then --from-plan FILE --auto-approve"
)


def add_plan_options(parser: argparse.ArgumentParser) -> None:
    """``--out``, ``--from-plan``, ``--target`` and ``--auto-approve``."""
    saved = parser.add_argument_group("saved plans, targets and approval")
    saved.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        help="with --plan: save the plan to FILE (JSON; no secret value) for --from-plan",
    )
    saved.add_argument(
        "--from-plan",
        type=Path,
        metavar="FILE",
        help="apply exactly the plan saved in FILE; refused if the vault or the inputs "
        "changed since",
    )
    saved.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="ADDRESS",
        help="plan and apply only this address, as the plan prints it "
        "(secret.GLOBAL--db-password, vault.NAME, role_assignment.GRANT; repeatable)",
    )
    saved.add_argument(
        "--auto-approve",
        action="store_true",
        help="apply without asking (pipelines); without it, apply asks at a terminal "
        "and refuses elsewhere",
    )


def check_plan_options(args: argparse.Namespace, *, planning_only: tuple[str, ...] = ()) -> None:
    """Refuse option mixes that cannot mean anything, before any file or network is touched.

    ``planning_only`` are options (``dest`` names) that shape a plan, which
    ``--from-plan`` takes from its file instead.
    """
    if args.out is not None and not args.plan:
        raise ActionableError(
            "--out saves a plan: use it with --plan",
            hint="keyvault-platform ... --plan --out plan.json, then --from-plan plan.json",
        )
    if args.from_plan is None:
        return
    if args.plan:
        raise ActionableError("--from-plan applies a saved plan: drop --plan")
    given = [
        "--" + name.replace("_", "-")
        for name in ("target", *planning_only)
        if getattr(args, name, None) not in (None, False, [], ())
    ]
    if given:
        raise ActionableError(
            f"--from-plan applies the saved plan with the options it was made with: "
            f"drop {', '.join(given)}",
            hint="to plan differently, make a new plan with those options",
        )


def deletions(plan: plans.Plan) -> tuple[plans.Change, ...]:
    return tuple(c for c in plan.pending if c.action is plans.Action.DELETE)


def approve(out: Output, plan: plans.Plan, *, auto_approve: bool) -> None:
    """Return when ``plan`` may be applied; raise when it may not (nothing written yet).

    :raises ActionableError: no terminal and no ``--auto-approve``, JSON
        output without it, or an answer other than ``yes``.
    """
    if auto_approve:
        return
    if out.json:
        raise ActionableError(
            "refusing to apply: --output json needs --auto-approve (no prompt in JSON output)",
            hint=AUTO_APPROVE_HINT,
        )
    if not _is_terminal(out.stdin) or not _is_terminal(out.out):
        raise ActionableError(
            "refusing to apply without approval: no terminal to ask at and no --auto-approve",
            hint=AUTO_APPROVE_HINT,
        )
    assert out.stdin is not None
    out.line("")
    gone = deletions(plan)
    if gone:
        head = f"This plan DELETES {len(gone)} resource{'s' if len(gone) != 1 else ''}:"
        out.line(f"\x1b[1;31m{head}\x1b[0m" if out.color else head)
        for change in gone:
            out.line(f"  - {change.address}")
        out.line("")
    out.out.write(PROMPT)
    out.out.flush()
    answer = out.stdin.readline()
    if answer.strip() != "yes":
        raise ActionableError("apply cancelled: the answer was not 'yes'; nothing was written")


def _is_terminal(stream: TextIO | None) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


__all__ = [
    "AUTO_APPROVE_HINT",
    "PROMPT",
    "add_plan_options",
    "approve",
    "check_plan_options",
    "deletions",
]
