"""Bad input is refused with a message and a location, and nothing is written.

The corpus (bad_inputs.py) holds malformed manifests and environment files.
Each case is checked twice:

1. by the loader (``load_manifests`` / ``load_environment``): it raises
   ``InputError`` whose problems include each expected (line, column,
   text), and nothing else escapes (no RecursionError, no KeyError);
2. through the commands, as a pipeline runs them (``keyvault-platform sync`` and,
   for environment files, ``keyvault-platform provision``), both in apply mode,
   aimed at a live emulator vault the sync identity may write to: exit 1,
   the same ``file:line:col: message`` on stderr, no secret value in any
   output or log record, and the emulator's audit log shows no request.

Case files live under ``.state/`` inside the repository (ignored by git),
because "a path that escapes the repository" is only meaningful from inside
it. Alias bombs and deep nesting are also measured with ``tracemalloc``: the
refusal must stay under a fixed memory bound (memory, not time, is asserted).
"""

from __future__ import annotations

import io
import shutil
import tracemalloc
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from keyvault_platform.cli import conventions as cli
from keyvault_platform.cli.provision import run as provision_run
from keyvault_platform.cli.sync import build_parser as sync_parser
from keyvault_platform.cli.sync import main as sync_main
from keyvault_platform.config.environment import load_environment
from keyvault_platform.core.yaml_source import InputError
from keyvault_platform.sync.manifests import load_manifests

from .bad_inputs import (
    BASE_ENVIRON,
    BIG_VALUE,
    CASES,
    ENVIRONMENT,
    MANIFEST,
    Case,
    Symlink,
)
from .leakscan import LeakScanner

REPO_ROOT = Path(__file__).resolve().parents[2]

#: Peak memory allowed while refusing an alias bomb or a deeply nested file.
BOMB_MEMORY_BOUND = 32 * 1024 * 1024


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = REPO_ROOT / ".state" / "reliability-corpus" / uuid.uuid4().hex[:12]
    path.mkdir(parents=True)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def env_values(emulator: Any, vault: Any) -> dict[str, str]:
    return {
        "state_dir": str(emulator.state_dir),
        "tenant": emulator.tenant_id,
        "subscription": emulator.subscription_id,
        "vault": vault.name,
        "app": emulator.object_id("app"),
    }


def materialise(case: Case, directory: Path, values: dict[str, str]) -> Path:
    """Write the case's files; returns the path the command is given."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, raw in case.files.items():
        if isinstance(raw, Symlink):
            (directory / name).symlink_to(raw.target)
            continue
        content = case.content(name)
        if case.kind == "environment" and name.endswith(".yaml"):
            # fill in the live emulator, leaving other braces (flow mappings) alone
            text = content.decode("latin-1")
            for key, value in values.items():
                text = text.replace("{" + key + "}", value)
            content = text.encode("latin-1")
        (directory / name).write_bytes(content)
    if case.kind == "manifest":
        return directory
    path = directory / "env.yaml"
    if case.missing_env_file:
        path.unlink(missing_ok=True)
        return directory / "no-such-env.yaml"
    return path


def load(case: Case, target: Path, root: Path, environ: dict[str, str]) -> None:
    if case.kind == "manifest":
        load_manifests([target], root=root, environ=environ)
    else:
        load_environment(target)


def problems_of(case: Case, target: Path, root: Path, environ: dict[str, str]) -> list[Any]:
    """The loader's problems; anything but InputError fails with its type only.

    (A RecursionError's traceback is thousands of frames: not worth formatting.)
    """
    escaped = "nothing"
    try:
        load(case, target, root, environ)
    except InputError as exc:
        return exc.problems
    except Exception as exc:
        escaped = type(exc).__name__
    pytest.fail(f"the loader raised {escaped} instead of InputError", pytrace=False)


def matches(problem: Any, expect: Any) -> bool:
    where = problem.location
    return (
        Path(where.file).name in (expect.file, "no-such-env.yaml")
        and (where.line, where.column) == (expect.line, expect.column)
        and expect.text in problem.message
    )


def run_command(argv: list[str], *, environ: dict[str, str], provision: bool) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    if provision:
        code = provision_run([*argv, "--auto-approve"], stdout=out, stderr=err)
    else:

        def main(args: Any, output: cli.Output) -> int:
            return sync_main(args, output, environ=environ)

        code = cli.run(sync_parser(), main, [*argv, "--auto-approve"], stdout=out, stderr=err)
    return code, out.getvalue() + err.getvalue()


def test_corpus_size_and_coverage() -> None:
    kinds = {c.kind for c in CASES}
    categories = {c.category for c in CASES}
    assert len(CASES) >= 40 and kinds == {"manifest", "environment"}
    assert len({c.id for c in CASES}) == len(CASES)
    assert {
        "yaml syntax",
        "wrong type",
        "unknown field",
        "invalid name",
        "colliding names",
        "duplicate key",
        "alias bomb",
        "oversized",
        "invalid date",
        "non-utf8",
        "missing env var",
        "missing file",
        "path escape",
    } <= categories


def test_the_valid_bases_load_and_do_write(emulator, vault, workdir: Path) -> None:
    """The control: without the mistake, the same command reaches the vault."""
    values = env_values(emulator, vault)
    (workdir / "m").mkdir()
    (workdir / "m" / "acme.yaml").write_text(MANIFEST)
    env_text = ENVIRONMENT
    for key, value in values.items():
        env_text = env_text.replace("{" + key + "}", value)
    (workdir / "env.yaml").write_text(env_text)
    load_environment(workdir / "env.yaml")
    assert len(load_manifests([workdir / "m"], environ=BASE_ENVIRON).secrets) == 2
    emulator.set_throttling(vault.name, enabled=False)
    start = __import__("time").time()
    argv = ["--env", str(workdir / "env.yaml"), "--manifests", str(workdir / "m")]
    code, text = run_command(argv, environ=BASE_ENVIRON, provision=False)
    assert code == 0, text
    writes = [r for r in emulator.audit(vault=vault.name, since=start) if r.is_write]
    assert len(writes) == 2


def params(cases: list[Case]) -> list[Any]:
    return [pytest.param(case, id=case.id) for case in cases]


@pytest.mark.parametrize("case", params(CASES))
def test_bad_input_is_refused_with_location_and_writes_nothing(
    case: Case, emulator, vault, workdir: Path
) -> None:
    values = env_values(emulator, vault)
    environ = {**BASE_ENVIRON, **case.environ}
    target = materialise(case, workdir / "case", values)

    # 1. the loader: every expected problem, at its place
    problems = problems_of(case, target, workdir / "case", environ)
    for expect in case.expect:
        assert any(matches(p, expect) for p in problems), (expect, [str(p) for p in problems])

    # 2. the commands, in apply mode, against a live vault
    good_manifests = workdir / "good"
    good_manifests.mkdir()
    (good_manifests / "acme.yaml").write_text(MANIFEST)
    good_env = workdir / "env.yaml"
    env_text = ENVIRONMENT
    for key, value in values.items():
        env_text = env_text.replace("{" + key + "}", value)
    good_env.write_text(env_text)
    runs = []
    if case.kind == "manifest":
        runs.append(["--env", str(good_env), "--manifests", str(target)])
    else:
        runs.append(["--env", str(target), "--manifests", str(good_manifests)])
        runs.append(["--env", str(target)])  # provision
    scanner = LeakScanner([BASE_ENVIRON["REL_DB_PASSWORD"], BIG_VALUE[:64]], label="input")
    start = __import__("time").time()
    for index, argv in enumerate(runs):
        provision = index == 1
        with scanner.capture(f"{case.id} {'provision' if provision else 'sync'}"):
            code, text = run_command([*argv, "-vv"], environ=environ, provision=provision)
        assert code == 1, (argv, text[-2000:])
        for expect in case.expect:
            where = f":{expect.line}:{expect.column}: " if expect.line else ": "
            assert any(where in line and expect.text in line for line in text.splitlines()), (
                expect,
                text[-2000:],
            )
        scanner.scan_text("command output", text)
    scanner.assert_clean()
    assert emulator.audit(since=start) == [], "a refused input reached the emulator"


BOMBS = [c for c in CASES if c.category == "alias bomb"]


@pytest.mark.parametrize("case", params(BOMBS))
def test_bombs_are_refused_with_bounded_memory(case: Case, emulator, vault, workdir) -> None:
    target = materialise(case, workdir / "case", env_values(emulator, vault))
    tracemalloc.start()
    outcome = "accepted"
    try:
        load(case, target, workdir / "case", BASE_ENVIRON)
    except InputError:
        outcome = "refused"
    except Exception as exc:
        outcome = type(exc).__name__
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert outcome == "refused", outcome
    print(f"{case.id}: peak {peak / 1e6:.1f} MB")
    assert peak < BOMB_MEMORY_BOUND, peak
