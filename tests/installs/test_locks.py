"""The locks agree with pyproject.toml, pin with hashes, and are what this virtualenv holds.

Offline except the tampering check, which asks the package index for one
small wheel (bounded by a timeout) and shows pip refusing a changed hash.
"""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tools.locks import (
    DEV,
    LOCAL_PACKAGES,
    LOCKS,
    ROOT,
    RUNTIME_TESTS,
    Lock,
    Pin,
    read_pins,
    version_changes,
)

PIP_TIMEOUT = 180


def _requirements(pyproject: Path, extras: tuple[str, ...]) -> list[Requirement]:
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    lines = list(project["dependencies"])
    for extra in extras:
        lines += project["optional-dependencies"][extra]
    return [Requirement(line) for line in lines]


def _in_file_requirements(source: str) -> list[Requirement]:
    """The plain requirements of a lock input (the ``-e`` lines are the local packages)."""
    lines = (line.split("#", 1)[0].strip() for line in (ROOT / source).read_text().splitlines())
    return [Requirement(line) for line in lines if line and not line.startswith("-")]


#: lock -> every requirement whose bound its pins must satisfy.
BOUNDS = {
    DEV: [
        *_requirements(ROOT / "pyproject.toml", ("test",)),
        *_requirements(ROOT / "runtime" / "pyproject.toml", ("aio",)),
        *_requirements(ROOT / "keyvault-emulator" / "pyproject.toml", ("pytest",)),
        *_in_file_requirements(DEV.source),
    ],
    RUNTIME_TESTS: [
        *_requirements(ROOT / "runtime" / "pyproject.toml", ("aio",)),
        *_in_file_requirements(RUNTIME_TESTS.source),
    ],
}


def _bound_problems(requirements: list[Requirement], pins: dict[str, Pin]) -> list[str]:
    problems = []
    for requirement in requirements:
        name = canonicalize_name(requirement.name)
        if name in LOCAL_PACKAGES:
            continue
        pin = pins.get(name)
        if pin is None:
            problems.append(f"{requirement}: no pinned line")
        elif not requirement.specifier.contains(pin.version, prereleases=True):
            problems.append(f"{requirement}: pinned {pin.version}, outside the bound")
    return problems


@pytest.mark.parametrize("lock", LOCKS, ids=[lock.output for lock in LOCKS])
def test_every_bound_is_satisfied_by_a_pin(lock: Lock) -> None:
    assert lock in BOUNDS
    problems = _bound_problems(BOUNDS[lock], read_pins(ROOT / lock.output))
    assert not problems, "the lock disagrees with pyproject.toml; run `make lock`:\n" + "\n".join(
        problems
    )


def test_a_pin_outside_a_bound_or_missing_is_reported() -> None:
    """The check above can fail: a bound raised past the pin, and a dependency not locked."""
    pins = read_pins(ROOT / DEV.output)
    raised = Requirement(f"azure-core>{pins['azure-core'].version}")
    assert _bound_problems([raised, Requirement("not-in-the-lock>=1")], pins) == [
        f"{raised}: pinned {pins['azure-core'].version}, outside the bound",
        "not-in-the-lock>=1: no pinned line",
    ]


@pytest.mark.parametrize("lock", LOCKS, ids=[lock.output for lock in LOCKS])
def test_every_pin_has_a_hash_and_no_local_package_is_locked(lock: Lock) -> None:
    pins = read_pins(ROOT / lock.output)
    assert pins
    assert not [name for name, pin in pins.items() if not pin.hashes], "pins without hashes"
    assert not set(LOCAL_PACKAGES) & pins.keys()


@pytest.mark.parametrize("lock", LOCKS, ids=[lock.output for lock in LOCKS])
def test_the_header_records_the_command_make_lock_runs(lock: Lock) -> None:
    """Nobody edited the lock by hand with other options (Dependabot re-runs this command too)."""
    text = (ROOT / lock.output).read_text(encoding="utf-8")
    command = "uv pip compile " + " ".join(lock.compile_arguments())
    assert f"#    {command}\n" in text


def test_the_running_virtualenv_holds_exactly_the_lock() -> None:
    """What `make venv` installed: every applying pin at its version, nothing else but ours."""
    expected = {
        name: pin.version for name, pin in read_pins(ROOT / DEV.output).items() if pin.applies()
    }
    installed: dict[str, str] = {}
    prefix = Path(sys.prefix).resolve()
    for dist in importlib.metadata.distributions():
        location = Path(str(dist.locate_file(""))).resolve()
        if location.is_relative_to(prefix):
            installed[canonicalize_name(dist.metadata["Name"])] = dist.version
    local = {name: installed.pop(name, None) for name in LOCAL_PACKAGES}
    assert None not in local.values(), f"local packages not installed: {local}"
    assert installed == expected


def test_version_changes_name_added_removed_and_moved_packages() -> None:
    def pin(name: str, version: str) -> Pin:
        return Pin(name, version, None, ("0" * 64,))

    before = {"a": pin("a", "1.0"), "b": pin("b", "2.0"), "c": pin("c", "3.0")}
    after = {"b": pin("b", "2.1"), "c": pin("c", "3.0"), "d": pin("d", "0.1")}
    assert version_changes(before, after) == ["  - a 1.0", "  ~ b 2.0 -> 2.1", "  + d 0.1"]
    assert version_changes(after, after) == []


def test_a_line_that_is_not_an_exact_pin_is_refused(tmp_path: Path) -> None:
    lock = tmp_path / "lock.txt"
    lock.write_text("six>=1.16 --hash=sha256:" + "0" * 64 + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"'six>=1.16' is not pinned to one version with =="):
        read_pins(lock)


def _one_pin_lock(tmp_path: Path, name: str, *, tamper: bool) -> Path:
    """A lock of one real pin from requirements/dev.txt, each hash changed if ``tamper``."""
    pin = read_pins(ROOT / DEV.output)[name]
    hashes = pin.hashes
    if tamper:
        hashes = tuple(re.sub(r".$", lambda m: "0" if m.group() != "0" else "1", h) for h in hashes)
    path = tmp_path / ("tampered.txt" if tamper else "intact.txt")
    lines = [f"{name}=={pin.version} \\", *(f"    --hash={h} \\" for h in hashes)]
    path.write_text("\n".join(lines).rstrip(" \\") + "\n", encoding="utf-8")
    return path


def _pip_install_dry_run(lock: Path) -> subprocess.CompletedProcess[str]:
    # --ignore-installed: else pip sees six installed and checks nothing.
    # --dry-run: pip downloads and verifies, and installs nothing.
    return subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
            "--no-deps", "--only-binary", ":all:", "--require-hashes", "--no-cache-dir",
            "--quiet", "--requirement", str(lock),
        ],
        capture_output=True, text=True, timeout=PIP_TIMEOUT, check=False,
    )  # fmt: skip


def test_pip_refuses_a_lock_whose_hash_was_changed(tmp_path: Path) -> None:
    intact = _pip_install_dry_run(_one_pin_lock(tmp_path, "six", tamper=False))
    assert intact.returncode == 0, intact.stdout + intact.stderr
    tampered = _pip_install_dry_run(_one_pin_lock(tmp_path, "six", tamper=True))
    assert tampered.returncode != 0
    assert "DO NOT MATCH THE HASHES" in tampered.stderr, tampered.stderr
