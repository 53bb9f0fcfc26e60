"""``keyvault-platform validate``: every environment file and manifest, offline.

Needs no credentials and opens no socket, so it runs on every pull request,
before anything with access to Azure, and in editors' save hooks. It reads:

- the environment files given with ``--env`` (names or paths), else every
  file in ``environments/`` and ``infra/environments/`` of the config root;
- the manifests given with ``--manifests``, else each environment's
  ``sync.manifests`` (default ``secrets/``).

Every problem of every file is reported, each as ``file:line:col: message``;
nothing stops at the first bad file. Value sources are checked as written
(names, references, files staying beside the manifests) but not read: the
pipeline's variables and value files are not here, and the sync checks them
before it sends anything. ``--values`` reads them too, as the sync would.

In a pipeline, ``--format github`` or ``--format azure-devops`` prints each
problem as the runner's error annotation instead (:mod:`.annotations`), so
it shows on the file and line of the pull request; ``--output json`` gives
each problem's ``file``, ``line`` and ``column`` as fields.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from pathlib import Path

from keyvault_platform.cli import conventions as cli
from keyvault_platform.cli.annotations import AnnotationFormat, annotation
from keyvault_platform.config.environment import Environment, load_environment
from keyvault_platform.config.org_grants import undeclared_orgs
from keyvault_platform.config.root import DEFAULT_MANIFEST_DIR, ConfigRoot
from keyvault_platform.core import messages
from keyvault_platform.core import plan as plans
from keyvault_platform.core.errors import ActionableError
from keyvault_platform.core.yaml_source import InputError, Location, Problem
from keyvault_platform.sync.manifests import ManifestSet, load_manifests, manifest_paths

EXAMPLES = [
    ("keyvault-platform validate", "every environment file and its manifests"),
    ("keyvault-platform validate --env prod", "one environment and its manifests"),
    ("keyvault-platform validate --manifests secrets/acme.yaml", "one manifest file"),
    ("keyvault-platform validate --values", "also read env variables and value files"),
    ("keyvault-platform validate --format github", "problems as GitHub Actions annotations"),
]


def build_parser(
    subcommands: argparse._SubParsersAction[argparse.ArgumentParser] | None = None,
) -> argparse.ArgumentParser:
    parser = cli.parser(
        "validate" if subcommands is not None else "keyvault-platform validate",
        "Check environment files and manifests offline: no credentials, no network.\n"
        "Reports every problem of every file as file:line:col.",
        examples=EXAMPLES,
        plan_flag=False,
        subcommands=subcommands,
    )
    parser.add_argument(
        "--env",
        action="append",
        metavar="NAME_OR_PATH",
        help="an environment to check (repeatable; default: every environment file)",
    )
    parser.add_argument(
        "--manifests",
        type=Path,
        action="append",
        metavar="PATH",
        help="a manifest file or directory (repeatable; default: each environment's)",
    )
    parser.add_argument(
        "--values",
        action="store_true",
        help="also read the value sources (environment variables, value files)",
    )
    parser.add_argument(
        "--format",
        choices=[f.value for f in AnnotationFormat],
        default=AnnotationFormat.TEXT.value,
        help="problems as text (default), or as the CI runner's error annotations on "
        "stdout: github (workflow commands) or azure-devops (logging commands)",
    )
    return parser


@dataclass
class Findings:
    """What validation read and the problems it found, across every file."""

    environments: list[Environment] = field(default_factory=list)
    manifests: list[ManifestSet] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def manifest_files(self) -> int:
        return sum(len(m.files) for m in self.manifests)

    @property
    def secrets(self) -> int:
        return sum(len(m.secrets) for m in self.manifests)


def validate(
    root: ConfigRoot,
    *,
    environments: list[str] | None = None,
    manifests: list[Path] | None = None,
    resolve_values: bool = False,
) -> Findings:
    """Check the files; never raises for a problem in them (they are in ``problems``)."""
    findings = Findings()
    if environments:
        files: list[Path | str] = list(environments)
    else:
        files = list(root.environment_files())
    for name_or_path in files:
        try:
            findings.environments.append(load_environment(name_or_path, root=root))
        except InputError as exc:
            findings.problems.extend(exc.problems)
        except ActionableError as exc:
            findings.problems.append(Problem(Location(str(name_or_path)), exc.message))

    sources = _manifest_sources(root, findings.environments, manifests, bool(environments))
    if not files and not sources:
        raise ActionableError(
            f"nothing to validate in {root.path}: no environment files "
            f"(environments/*.yaml) and no {DEFAULT_MANIFEST_DIR}/ directory",
            hint="run in your config repository, pass --chdir DIR, or create one with "
            "`keyvault-platform init DIR`",
        )
    environ = os.environ if resolve_values else {}
    scopes_by_source: dict[Path, frozenset[str]] = {}
    for group in sources:
        try:
            loaded = load_manifests(
                group, root=root.path, environ=environ, resolve_values=resolve_values
            )
        except InputError as exc:
            findings.problems.extend(exc.problems)
            continue
        findings.manifests.append(loaded)
        if len(group) == 1:
            scopes_by_source[group[0].resolve()] = loaded.scopes
    for env in findings.environments:
        scopes = scopes_by_source.get(env.manifest_dir.resolve())
        if scopes is not None and not manifests:
            findings.problems.extend(undeclared_orgs(env, scopes))
    return findings


def _manifest_sources(
    root: ConfigRoot,
    environments: list[Environment],
    given: list[Path] | None,
    environments_named: bool,
) -> list[list[Path]]:
    """Groups of manifest sources, each validated as one set (as one sync would read it)."""
    if given:
        return [[root.resolve(p) for p in given]]
    groups: list[list[Path]] = []
    seen: set[Path] = set()
    for env in environments:
        directory = env.manifest_dir.resolve()
        if directory not in seen:
            seen.add(directory)
            groups.append([directory])
    default = (root.path / DEFAULT_MANIFEST_DIR).resolve()
    if not environments_named and default not in seen and manifest_paths_exist(default):
        groups.append([default])
    return groups


def manifest_paths_exist(directory: Path) -> bool:
    return directory.is_dir() and bool(manifest_paths([directory]))


def summary_line(findings: Findings) -> str:
    """The last line people read: what was checked and whether it holds."""
    envs = len(findings.environments)
    files = findings.manifest_files
    checked = (
        f"{envs} environment file{'s' if envs != 1 else ''}, "
        f"{files} manifest{'s' if files != 1 else ''} ({findings.secrets} secrets)"
    )
    count = len(findings.problems)
    if count:
        return f"Validation failed: {count} problem{'s' if count != 1 else ''} ({checked} valid)."
    return f"Valid: {checked}."


def main(args: argparse.Namespace, out: cli.Output) -> int:
    form = AnnotationFormat(args.format)
    if out.json and form is not AnnotationFormat.TEXT:
        raise ActionableError(
            f"--format {form} and --output json are two ways to report: choose one"
        )
    root = ConfigRoot.at()
    findings = validate(
        root,
        environments=args.env,
        manifests=args.manifests,
        resolve_values=args.values,
    )
    for problem in sorted(findings.problems, key=lambda p: p.location):
        if form is AnnotationFormat.TEXT:
            cli.report_error(out, str(problem), detail=None, location=problem.location)
        else:
            out.line(annotation(problem, form, root=root.path))
    line = summary_line(findings)
    if out.json:
        out.json_line(
            messages.validate_summary(
                line,
                valid=not findings.problems,
                environments=len(findings.environments),
                manifests=findings.manifest_files,
                secrets=findings.secrets,
                problems=len(findings.problems),
            )
        )
    else:
        out.line(line)
    return cli.EXIT_ERROR if findings.problems else plans.EXIT_OK
