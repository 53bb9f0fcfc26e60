"""The ``sync`` command: validate, plan, render, apply, report.

``keyvault-platform sync`` (:mod:`keyvault_platform.cli.main`) runs
:func:`main` with the options of :func:`build_parser`; ``make sync ENV=<env>``
calls it. The order is the promise:

1. read the environment file (and check its ``sync:`` numbers) and every
   manifest, resolve every value source, check ``--rotate`` names and the
   fingerprint key: **any problem stops here, before a client exists**, with
   every problem listed;
2. list the vault (one paged listing of secrets, one of deleted secrets;
   no value read) and plan;
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

from keyvault_platform.cli import apply_report
from keyvault_platform.cli import conventions as cli
from keyvault_platform.config.environment import Environment, load_environment
from keyvault_platform.core import plan as plans
from keyvault_platform.core.errors import ActionableError
from keyvault_platform.core.yaml_source import InputError, Problem
from keyvault_platform.sync import fingerprint as fp
from keyvault_platform.sync.access_hints import sync_hint_facts
from keyvault_platform.sync.apply import (
    DEFAULT_CONCURRENCY,
    NOT_PRUNED,
    ApplyInterrupted,
    ApplyResult,
    apply_sync,
)
from keyvault_platform.sync.manifests import ManifestSet, load_manifests
from keyvault_platform.sync.pacing import OTHERS_PER_WINDOW, WRITES_PER_WINDOW, VaultPacer
from keyvault_platform.sync.planner import (
    DEFAULT_PRUNE_MAX,
    SyncOptions,
    SyncPlan,
    check_rotation,
    plan_sync,
)
from keyvault_platform.sync.vault_state import read_vault_state
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
        "keyvault-platform sync --env prod --rotate GLOBAL--session-signing-key",
        "generate a new value for a generated secret",
    ),
]


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
        "--rotate",
        action="append",
        default=[],
        metavar="NAME",
        help="generate a new value for this generated secret (full name; repeatable)",
    )
    parser.add_argument(
        "--concurrency",
        type=cli.at_least(1),
        metavar="N",
        help=f"parallel requests while applying (default {DEFAULT_CONCURRENCY})",
    )
    cli.add_emulator_options(parser, identity="the sync acts as (default: the file's, or sync)")
    return parser


@dataclass(frozen=True)
class SyncRequest:
    """Everything validated before the first network call."""

    manifests: ManifestSet
    keyring: fp.Keyring
    options: SyncOptions
    development_key: bool = False


def prepare(
    manifest_sources: Sequence[Path],
    *,
    environ: Mapping[str, str],
    rotate: Sequence[str] = (),
    prune: bool = False,
    prune_max: int = DEFAULT_PRUNE_MAX,
    allow_development_key: bool = False,
    root: Path | None = None,
) -> SyncRequest:
    """Validate the inputs; raises InputError/ActionableError. No network."""
    manifests = load_manifests(manifest_sources, root=root, environ=environ)
    rotation = check_rotation(manifests, rotate)
    if prune_max < 0:
        raise ActionableError("--prune-max must be 0 or more")
    try:
        keyring, development = fp.load_keyring(environ, allow_development_key=allow_development_key)
    except fp.FingerprintKeyError as exc:
        raise ActionableError(
            str(exc),
            hint="pipelines: map the secret into the job's environment; locally, the "
            "emulator target needs no key",
        ) from None
    options = SyncOptions(prune=prune, prune_max=prune_max, rotate=rotation)
    return SyncRequest(manifests, keyring, options, development)


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
    hint_facts: Mapping[str, str] | None = None,
) -> tuple[int, SyncPlan, ApplyResult | None]:
    """Plan against ``client``'s vault, render, and apply unless ``plan_only``.

    Returns the exit code, the plan and the apply result (None when not applied).
    """
    pacer = pacer or VaultPacer.azure_limits()
    manifests = request.manifests
    out.info(
        f"Reading {describe_target}: {len(manifests.secrets):,} declared secrets from "
        f"{len(manifests.files)} manifest(s), scopes {', '.join(sorted(manifests.scopes))}"
    )
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
    sync_plan = plan_sync(manifests, state, request.keyring, request.options)
    out.plan(sync_plan.plan)
    if sync_plan.plan.errors or plan_only or not sync_plan.plan.has_changes:
        return plans.detailed_exit_code(sync_plan.plan, applied=False), sync_plan, None

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
    env = load_environment(args.env)
    sources = args.manifests or [env.manifest_dir]
    numbers = settings(env, args)
    target = env.target(state_dir=args.state_dir)
    try:
        request = prepare(
            sources,
            environ=environ,
            rotate=args.rotate,
            prune=args.prune,
            prune_max=numbers.prune_max,
            allow_development_key=target.allows_development_fingerprint_key,
            root=env.root,
        )
        # The vault's service limits; an environment may lower them (a shared
        # vault) or raise them (an emulator with throttling off).
        pacer = VaultPacer.azure_limits(
            writes_per_window=numbers.writes_per_10s,
            others_per_window=numbers.others_per_10s,
        )
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
                hint_facts=sync_hint_facts(env, args.identity or env.sync.identity),
            )
        finally:
            client.close()
    finally:
        target.close()  # the credentials it made
    return code


def run(argv: Sequence[str] | None = None) -> int:
    return cli.run(build_parser(), main, argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run())
