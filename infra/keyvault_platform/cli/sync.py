"""The ``sync`` command: validate, plan, render, apply, report.

``keyvault-platform sync`` (:mod:`keyvault_platform.cli.main`) runs
:func:`main` with the options of :func:`build_parser`; ``make sync KVP_ENV=<env>``
calls it. The order is the promise:

1. read the environment file (and check its ``sync:`` numbers) and every
   manifest, resolve every value source, check ``--rotate`` names and the
   fingerprint key: **any problem stops here, before a client exists**, with
   every problem listed;
2. list the vault (one paged listing of secrets, one of deleted secrets;
   no value read) and plan; with ``--adopt``, first read once each declared
   secret that exists without the sync's ownership
   (:mod:`keyvault_platform.sync.adoption`), the only value reads a sync makes;
3. render the plan (text, or JSON lines with ``--output json``); with
   ``--plan`` stop, exit 2 if changes are pending;
4. apply the plan's changes, paced and retried; print what failed; exit 1
   if anything did, else 0. On Ctrl-C, queued changes are cancelled, what
   was applied and what was not is printed, and the command exits 130.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlparse

from azure.core.exceptions import AzureError

from keyvault_platform.cli import apply_report, approval
from keyvault_platform.cli import conventions as cli
from keyvault_platform.config.environment import Environment, load_environment
from keyvault_platform.core import plan as plans
from keyvault_platform.core import saved_plan as saved_plans
from keyvault_platform.core import targets as targeting
from keyvault_platform.core.errors import ActionableError
from keyvault_platform.core.yaml_source import InputError, Problem
from keyvault_platform.sync import adoption
from keyvault_platform.sync import fingerprint as fp
from keyvault_platform.sync.access_hints import sync_hint_facts
from keyvault_platform.sync.apply import (
    DEFAULT_CONCURRENCY,
    NOT_PRUNED,
    ApplyInterrupted,
    ApplyResult,
    apply_sync,
)
from keyvault_platform.sync.manifests import ManifestSet, load_manifests, manifest_paths
from keyvault_platform.sync.pacing import OTHERS_PER_WINDOW, WRITES_PER_WINDOW, Budget, VaultPacer
from keyvault_platform.sync.planner import (
    DEFAULT_PRUNE_MAX,
    SyncOptions,
    SyncPlan,
    check_offboard,
    check_rotation,
    plan_sync,
    planned_against,
)
from keyvault_platform.sync.vault_state import VaultState, read_vault_state
from keyvault_platform.target.failures import Plane, as_error

EXAMPLES = [
    ("keyvault-platform sync --env local --plan", "show what would change (exit 2 if any)"),
    ("keyvault-platform sync --env local", "plan and apply on the emulator"),
    (
        "keyvault-platform sync --env prod --plan --output json",
        "the plan as JSON lines for a pipeline",
    ),
    ("keyvault-platform sync --env prod --prune", "also delete owned secrets no longer declared"),
    (
        "keyvault-platform sync --env prod --offboard fabrikam --plan",
        "what removing the org whose manifest is gone would delete",
    ),
    (
        "keyvault-platform sync --env prod --rotate GLOBAL--session-signing-key",
        "generate a new value for a generated secret",
    ),
    (
        "keyvault-platform sync --env prod --adopt --plan",
        "take over secrets made by hand: compare once, keep equal and generated values",
    ),
    (
        "keyvault-platform sync --env prod --plan --without-values --out plan.json",
        "a pull request's plan: no value, no key, a read-only identity",
    ),
    (
        "keyvault-platform sync --from-plan plan.json --auto-approve",
        "apply exactly that plan, with the values (refused if stale)",
    ),
    (
        "keyvault-platform sync --env prod --target secret.GLOBAL--db-password",
        "plan and apply one secret",
    ),
]

#: The options that shape a sync plan, which --from-plan takes from its file.
PLANNING_OPTIONS = (
    "manifests",
    "prune",
    "prune_max",
    "rotate",
    "offboard",
    "without_values",
    "adopt",
)


def build_parser(
    subcommands: argparse._SubParsersAction[argparse.ArgumentParser] | None = None,
) -> argparse.ArgumentParser:
    parser = cli.parser(
        "sync" if subcommands is not None else "keyvault-platform sync",
        "Make a Key Vault's secrets match the manifests in secrets/ without reading values.\n"
        "Needs SYNC_FINGERPRINT_KEY (see docs/manifests.md) except on the emulator.",
        examples=EXAMPLES,
        subcommands=subcommands,
    )
    cli.add_environment_option(parser)
    parser.add_argument(
        "--manifests",
        type=Path,
        action="append",
        metavar="PATH",
        help="manifest file or directory (repeatable; default: the environment's, else secrets/)",
    )
    parser.add_argument(
        "--prune",
        action="store_true",
        help="delete (soft delete, never purge) secrets the sync owns that no manifest declares",
    )
    parser.add_argument(
        "--prune-max",
        type=cli.at_least(0),
        metavar="N",
        help=f"refuse to prune more than N secrets (default: the environment's, else "
        f"{DEFAULT_PRUNE_MAX})",
    )
    parser.add_argument(
        "--offboard",
        action="append",
        default=[],
        metavar="ORG",
        help="delete (soft delete) every secret the sync owns in this org's scope, whose "
        "manifest is gone (repeatable; counts against --prune-max)",
    )
    parser.add_argument(
        "--rotate",
        action="append",
        default=[],
        metavar="NAME",
        help="generate a new value for this generated secret (full name; repeatable)",
    )
    parser.add_argument(
        "--adopt",
        action="store_true",
        help="take ownership of declared secrets that exist without the sync's tags: read each "
        "once to compare (equal values and generated ones are kept, no new version)",
    )
    parser.add_argument(
        "--concurrency",
        type=cli.at_least(1),
        metavar="N",
        help=f"parallel requests while applying (default {DEFAULT_CONCURRENCY})",
    )
    parser.add_argument(
        "--without-values",
        action="store_true",
        help="with --plan: plan without any value or fingerprint key (a pull request's "
        "plan, as a read-only identity); values of existing secrets are compared at apply",
    )
    approval.add_plan_options(parser)
    cli.add_emulator_options(parser, identity="the sync acts as (default: the file's, or sync)")
    return parser


@dataclass(frozen=True)
class SyncRequest:
    """Everything validated before the first network call."""

    manifests: ManifestSet
    keyring: fp.Keyring | None  # None: a plan without values
    options: SyncOptions
    development_key: bool = False
    targets: tuple[str, ...] = ()  # --target addresses, checked against the plan

    @property
    def without_values(self) -> bool:
        return self.keyring is None


def prepare(
    manifest_sources: Sequence[Path],
    *,
    environ: Mapping[str, str],
    rotate: Sequence[str] = (),
    offboard: Sequence[str] = (),
    prune: bool = False,
    prune_max: int = DEFAULT_PRUNE_MAX,
    adopt: bool = False,
    allow_development_key: bool = False,
    root: Path | None = None,
    without_values: bool = False,
    targets: Sequence[str] = (),
) -> SyncRequest:
    """Validate the inputs; raises InputError/ActionableError. No network.

    ``without_values``: read no value source and no fingerprint key (a plan
    for review: value comparisons are left to the apply).
    """
    manifests = load_manifests(
        manifest_sources, root=root, environ=environ, resolve_values=not without_values
    )
    rotation = check_rotation(manifests, rotate)
    leaving = check_offboard(manifests, offboard)
    if prune_max < 0:
        raise ActionableError("--prune-max must be 0 or more")
    options = SyncOptions(
        prune=prune, prune_max=prune_max, rotate=rotation, offboard=leaving, adopt=adopt
    )
    if without_values and adopt:
        raise ActionableError(
            "--adopt reads each unowned declared value once to compare it: it cannot plan "
            "--without-values",
            hint="plan the adoption with the values, in the job that holds them",
        )
    if without_values:
        return SyncRequest(manifests, None, options, targets=tuple(targets))
    try:
        keyring, development = fp.load_keyring(environ, allow_development_key=allow_development_key)
    except fp.FingerprintKeyError as exc:
        raise ActionableError(
            str(exc),
            hint="pipelines: map the secret into the job's environment; locally, the "
            "emulator target needs no key",
        ) from None
    return SyncRequest(manifests, keyring, options, development, tuple(targets))


class Progress:
    """A progress bar on a terminal; a plain line every 10% (or 10 s) elsewhere."""

    def __init__(self, stream: IO[str], *, tty: bool, min_interval_s: float = 10.0) -> None:
        self.stream = stream
        self.tty = tty
        self.min_interval_s = min_interval_s
        self._last_draw = 0.0
        self._last_decile = -1
        self._started = time.monotonic()

    #: Below this many changes the summary says enough.
    MIN_TOTAL = 50

    def __call__(self, done: int, total: int, failed: int) -> None:
        if total < self.MIN_TOTAL:
            return
        now = time.monotonic()
        tail = f"{done:,}/{total:,} applied" + (f", {failed:,} failed" if failed else "")
        if self.tty:
            if done < total and now - self._last_draw < 0.1:
                return
            self._last_draw = now
            width = 30
            filled = width * done // total
            bar = "#" * filled + "." * (width - filled)
            end = "\n" if done == total else ""
            self.stream.write(f"\r  [{bar}] {tail} ({now - self._started:.0f}s){end}")
            self.stream.flush()
            return
        decile = 10 * done // total
        if (
            done == total
            or decile > self._last_decile
            or now - self._last_draw >= (self.min_interval_s)
        ):
            self._last_decile = decile
            self._last_draw = now
            self.stream.write(f"  {tail} ({now - self._started:.0f}s)\n")
            self.stream.flush()


def run_sync(
    request: SyncRequest,
    client: Any,
    out: cli.Output,
    *,
    plan_only: bool,
    pacer: VaultPacer | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    max_attempts: int | None = None,
    retry_base_s: float = 1.0,
    describe_target: str = "the vault",
    after_plan: Callable[[VaultState, SyncPlan], SyncPlan] | None = None,
    approve: Callable[[plans.Plan], None] | None = None,
    hint_facts: Mapping[str, str] | None = None,
) -> tuple[int, SyncPlan, ApplyResult | None]:
    """Plan against ``client``'s vault, render, and apply unless ``plan_only``.

    ``after_plan`` sees the listing and the plan before it is shown (saving
    it, or checking a saved one: it returns the plan to go on with);
    ``approve`` is asked before the first write and raises to refuse.
    Returns the exit code, the plan and the apply result (None when not applied).
    """
    pacer = pacer or VaultPacer.azure_limits()
    manifests = request.manifests
    out.info(
        f"Reading {describe_target}: {len(manifests.secrets):,} declared secrets from "
        f"{len(manifests.files)} manifest(s), scopes {', '.join(sorted(manifests.scopes))}"
    )
    if request.without_values:
        out.info("Planning without values: no value source or fingerprint key is read")
    if request.development_key:
        out.info(
            "note: using the public development fingerprint key (emulator only); "
            f"set {fp.KEY_ENV} to use your own"
        )
    facts = {"host": urlparse(str(getattr(client, "vault_url", ""))).hostname or ""}
    facts.update(hint_facts or {})
    try:
        state = read_vault_state(client, pacer=pacer)
    except AzureError as exc:  # the first request: signing in, reaching the vault, listing
        raise as_error(exc, Plane.VAULT, doing=f"list {describe_target}", **facts) from None
    out.info(
        f"Listed {len(state.secrets):,} secrets and {len(state.deleted):,} deleted secrets "
        f"({state.list_requests} list requests; no value read)"
    )
    adoptions = None
    if request.options.adopt:
        adoptions = read_for_adoption(request, state, client, out, pacer, describe_target)
    sync_plan = plan_targets(
        plan_sync(manifests, state, request.keyring, request.options, adoptions),
        state,
        request.targets,
    )
    if after_plan is not None:
        sync_plan = after_plan(state, sync_plan)
    out.plan(sync_plan.plan)
    if sync_plan.plan.errors or plan_only or not sync_plan.plan.has_changes:
        return plans.detailed_exit_code(sync_plan.plan, applied=False), sync_plan, None
    if request.keyring is None:
        raise ActionableError(
            "a plan made without values is not applied as is",
            hint="save it (--out FILE) and apply it with --from-plan FILE, which reads the values",
        )
    if approve is not None:
        approve(sync_plan.plan)

    if not out.json:
        out.line("")
        out.line("Applying ...")
    progress = None
    if not out.json and not out.quiet:
        tty = bool(getattr(out.err, "isatty", lambda: False)())
        progress = Progress(out.err, tty=tty)
    options: dict[str, Any] = {}
    if max_attempts is not None:
        options["max_attempts"] = max_attempts
    try:
        result = apply_sync(
            sync_plan,
            client,
            request.keyring,
            pacer=pacer,
            concurrency=concurrency,
            retry_base_s=retry_base_s,
            progress=progress,
            hint_facts=facts,
            **options,
        )
    except ApplyInterrupted as stopped:
        # Say what was written before the command exits 130 (keyvault_platform.cli.conventions).
        report_apply(out, sync_plan, stopped.result)
        raise
    failed = report_apply(out, sync_plan, result)
    code = plans.detailed_exit_code(sync_plan.plan, applied=True, failed=failed)
    return code, sync_plan, result


def read_for_adoption(
    request: SyncRequest,
    state: Any,
    client: Any,
    out: cli.Output,
    pacer: VaultPacer,
    describe_target: str,
) -> dict[str, adoption.Adoption]:
    """``--adopt``: read each unowned declared secret once, saying whose rights it uses."""
    assert request.keyring is not None  # prepare refuses --adopt --without-values
    found = adoption.candidates(request.manifests, state, rotate=request.options.rotate)
    if not found:
        out.info("Adoption: every declared secret that exists is already the sync's")
        return {}
    out.info(
        f"Adoption: reading {len(found):,} declared secret(s) that exist without the sync's "
        f"ownership, once each, from {describe_target}, to compare them in memory (the sync "
        "identity's Key Vault Secrets Officer role includes secrets/getSecret); no value is "
        "kept or shown"
    )
    result = adoption.read_for_adoption(
        client, found, request.keyring, before_read=lambda: pacer.acquire(Budget.OTHER)
    )
    same, different, unreadable = adoption.counts(result)
    out.info(
        f"Adoption: {same:,} to adopt as they are, {different:,} whose value differs, "
        f"{unreadable:,} that cannot be read (disabled)"
    )
    return result


def plan_targets(sync_plan: SyncPlan, state: VaultState, targets: Sequence[str]) -> SyncPlan:
    """Only the ``--target`` changes (all without targets; :mod:`keyvault_platform.core.targets`).

    The addresses a target may name: every declared secret and every secret
    the listing shows (``secret.<vault name>``).
    """
    if not targets:
        return sync_plan
    known = {c.address for c in sync_plan.plan.changes}
    known |= {f"secret.{a.name}" for a in state.secrets.values()}
    chosen = targeting.resolve_targets(targets, known)
    return SyncPlan(
        targeting.select(sync_plan.plan, chosen),
        {a: step for a, step in sync_plan.steps.items() if a in chosen},
        sync_plan.scopes,
    )


#: How to converge after a failed or interrupted apply.
RERUN = "re-run the sync to converge"


def report_apply(out: cli.Output, sync_plan: SyncPlan, result: ApplyResult) -> bool:
    """Print what an apply did (:mod:`keyvault_platform.cli.apply_report`).

    A prune left alone because its secret changed since the plan (outcome
    ``not deleted``) is reported as such, with its warning, and is not
    counted as destroyed. Returns whether anything failed or was left undone.
    """
    kept = {r.address for r in result.succeeded if r.outcome == NOT_PRUNED}
    plan = sync_plan.plan
    if kept:
        plan = replace(
            plan,
            changes=tuple(
                replace(c, action=plans.Action.NO_OP) if c.address in kept else c
                for c in plan.changes
            ),
        )
    return apply_report.report_apply(out, plan, result, rerun=RERUN)


@dataclass(frozen=True)
class Settings:
    """The sync's numbers, from the command line or else the environment file."""

    prune_max: int = DEFAULT_PRUNE_MAX
    concurrency: int = DEFAULT_CONCURRENCY
    writes_per_10s: int = WRITES_PER_WINDOW
    others_per_10s: int = OTHERS_PER_WINDOW


#: The environment file's ``sync:`` numbers and their least allowed value.
_SETTINGS_MINIMUM = {
    "prune_max": 0,
    "concurrency": 1,
    "writes_per_10s": 1,
    "others_per_10s": 1,
}


def settings(env: Environment, args: argparse.Namespace) -> Settings:
    """Read and check the numbers; raises InputError (file:line) before any client exists.

    ``--prune-max`` and ``--concurrency`` win over the file (argparse checks them).
    """
    problems: list[Problem] = []
    values: dict[str, int] = {}
    for key, minimum in _SETTINGS_MINIMUM.items():
        if key not in env.sync.extra:
            continue
        value = env.sync.extra[key]
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(Problem(env.locate("sync", key), f"sync.{key} must be a whole number"))
        elif value < minimum:
            problems.append(
                Problem(
                    env.locate("sync", key), f"sync.{key} must be {minimum} or more, not {value}"
                )
            )
        else:
            values[key] = value
    if problems:
        raise InputError(problems)
    if args.prune_max is not None:
        values["prune_max"] = args.prune_max
    if args.concurrency is not None:
        values["concurrency"] = args.concurrency
    return Settings(**values)


def main(
    args: argparse.Namespace,
    out: cli.Output,
    *,
    environ: Mapping[str, str] | None = None,
    client_factory: Callable[[], Any] | None = None,
) -> int:
    """The command. ``client_factory`` replaces the target's client (tests)."""
    environ = os.environ if environ is None else environ
    approval.check_plan_options(args, planning_only=PLANNING_OPTIONS)
    if args.without_values and not args.plan:
        raise ActionableError(
            "--without-values makes a plan for review: use it with --plan",
            hint="save it with --out FILE; --from-plan FILE applies it, with the values",
        )
    saved = None
    if args.from_plan is not None:
        saved = saved_plans.SavedPlan.read(args.from_plan, command="sync")
        if args.env not in ("local", saved.environment):
            raise ActionableError(
                f"--env {args.env}: the plan {args.from_plan} is for {saved.environment}",
                hint="drop --env: --from-plan uses the plan's environment",
            )
    env = load_environment(saved.environment if saved else args.env)
    numbers = settings(env, args)
    sources = _manifest_sources(env, args, saved)
    inputs = saved_plans.file_digests([env.path, *manifest_paths(sources)], root=env.root)
    if saved is not None:
        # Before anything else is read: a changed manifest or environment file.
        saved_plans.refuse_if_stale(saved, args.from_plan, inputs=inputs)
    target = env.target(state_dir=args.state_dir)
    try:
        request, checked_against = _requests(args, env, target, sources, environ, numbers, saved)
        # The vault's service limits; an environment may lower them (a shared
        # vault) or raise them (an emulator with throttling off).
        pacer = VaultPacer.azure_limits(
            writes_per_window=numbers.writes_per_10s,
            others_per_window=numbers.others_per_10s,
        )
        after_plan = None
        if saved is not None:
            after_plan = _check_saved(saved, args.from_plan, request, checked_against)
        elif args.out is not None:
            after_plan = _saver(args, out, request, sources, inputs)
        # Validation is over: from here on, network.
        if client_factory is not None:
            client = client_factory()
            where = "the vault"
        else:
            identity = args.identity or env.sync.identity or "sync"
            vault_url = target.vault_url(env.vault.name, resource_group=env.resource_group.name)
            client = target.secret_client(vault_url, identity=identity)
            where = f"{env.vault.name} ({vault_url}) on {target.describe()} as {identity}"
        try:
            code, _, _ = run_sync(
                request,
                client,
                out,
                plan_only=args.plan,
                pacer=pacer,
                concurrency=numbers.concurrency,
                describe_target=where,
                after_plan=after_plan,
                approve=lambda plan: approval.approve(out, plan, auto_approve=args.auto_approve),
                hint_facts=sync_hint_facts(env, args.identity or env.sync.identity),
            )
        finally:
            client.close()
    finally:
        target.close()  # the credentials it made
    return code


def _manifest_sources(
    env: Environment, args: argparse.Namespace, saved: saved_plans.SavedPlan | None
) -> list[Path]:
    if saved is not None:
        return [Path(p) for p in saved.options["manifests"]]
    return list(args.manifests or [env.manifest_dir])


def _requests(
    args: argparse.Namespace,
    env: Environment,
    target: Any,
    sources: Sequence[Path],
    environ: Mapping[str, str],
    numbers: Settings,
    saved: saved_plans.SavedPlan | None,
) -> tuple[SyncRequest, SyncRequest | None]:
    """The request to plan and apply, and for a saved plan the one it was made with.

    A saved plan is applied with its own options, and with the values (a
    plan made without them is re-made without them too, to check it).
    """
    options = saved.options if saved is not None else None
    common: dict[str, Any] = {
        "environ": environ,
        "rotate": options["rotate"] if options else args.rotate,
        "offboard": options.get("offboard", []) if options else args.offboard,
        "prune": options["prune"] if options else args.prune,
        "prune_max": options["prune_max"] if options else numbers.prune_max,
        "allow_development_key": target.allows_development_fingerprint_key,
        "root": env.root,
        "targets": options["targets"] if options else args.target,
        "adopt": bool(options.get("adopt", False)) if options else args.adopt,
    }
    if saved is None:
        return prepare(sources, without_values=args.without_values, **common), None
    request = prepare(sources, **common)
    made_with = prepare(sources, without_values=True, **common) if saved.without_values else None
    return request, made_with


def _saver(
    args: argparse.Namespace,
    out: cli.Output,
    request: SyncRequest,
    sources: Sequence[Path],
    inputs: Mapping[str, str],
) -> Callable[[VaultState, SyncPlan], SyncPlan]:
    def save(state: VaultState, sync_plan: SyncPlan) -> SyncPlan:
        if sync_plan.plan.errors:
            out.info(f"No plan file written to {args.out}: the plan has errors.")
            return sync_plan
        options = request.options
        saved = saved_plans.SavedPlan(
            command="sync",
            environment=str(args.env),
            options={
                "manifests": [str(s) for s in sources],
                "prune": options.prune,
                "prune_max": options.prune_max,
                "rotate": sorted(args.rotate),
                "offboard": sorted(args.offboard),
                "targets": list(request.targets),
                "adopt": options.adopt,
            },
            inputs=inputs,
            state=planned_against(request.manifests, state, request.options.offboard),
            changes=saved_plans.changes_of(sync_plan.plan),
            without_values=request.without_values,
        )
        saved.write(args.out)
        out.info(f"Saved the plan to {args.out}; apply it with --from-plan {args.out}")
        return sync_plan

    return save


def _check_saved(
    saved: saved_plans.SavedPlan,
    path: Path,
    request: SyncRequest,
    made_with: SyncRequest | None,
) -> Callable[[VaultState, SyncPlan], SyncPlan]:
    """Refuse a stale saved plan (nothing written); else the plan to apply, exactly it."""

    def check(state: VaultState, sync_plan: SyncPlan) -> SyncPlan:
        saved_plans.refuse_if_stale(
            saved, path, state=planned_against(request.manifests, state, request.options.offboard)
        )
        if made_with is None:
            saved_plans.refuse_if_stale(saved, path, changes=saved_plans.changes_of(sync_plan.plan))
            return sync_plan
        # Made without values: the same plan again without them, then the
        # value comparisons, within the planned addresses only.
        again = plan_targets(
            plan_sync(made_with.manifests, state, None, made_with.options),
            state,
            made_with.targets,
        )
        saved_plans.refuse_if_stale(saved, path, changes=saved_plans.changes_of(again.plan))
        planned = saved.addresses
        return SyncPlan(
            targeting.select(sync_plan.plan, frozenset(planned)),
            {a: step for a, step in sync_plan.steps.items() if a in planned},
            sync_plan.scopes,
        )

    return check


def run(argv: Sequence[str] | None = None) -> int:
    return cli.run(build_parser(), main, argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run())
