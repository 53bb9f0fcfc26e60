"""The hash-pinned locks: what each is compiled from, how, and what it pins.

Two locks, both compiled by ``uv pip compile --universal --generate-hashes``
(docs/installs.md says why uv):

* ``requirements/dev.txt``: everything ``make venv`` installs for the tooling,
  the emulator, the runtime and the test suite; pip and the build backend
  included, the three local packages left out (they install with ``--no-deps``).
* ``requirements/runtime-tests.txt``: the runtime package's own tests
  (``make test-runtime``), resolved at the *lowest* versions its open bounds
  allow, so the floors apps get are the floors we test.

``python -m tools.locks`` refreshes both and prints what changed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
#: Installed from the working tree with ``--no-deps -e``; never in a lock.
LOCAL_PACKAGES = ("keyvault-platform", "keyvault-orgsecrets", "keyvault-emulator")
#: The oldest Python the packages support: a lock must install there.
PYTHON_FLOOR = "3.11"


@dataclass(frozen=True)
class Lock:
    """One lock file and the input it is compiled from (paths relative to the root)."""

    source: str
    output: str
    resolution: str = "highest"

    def compile_arguments(self) -> list[str]:
        """The ``uv pip compile`` arguments; uv records them in the lock's header."""
        arguments = ["--universal", "--python-version", PYTHON_FLOOR, "--generate-hashes"]
        if self.resolution != "highest":
            arguments += ["--resolution", self.resolution]
        for name in LOCAL_PACKAGES:
            arguments += ["--no-emit-package", name]
        return [*arguments, self.source, "--output-file", self.output]


DEV = Lock("requirements/dev.in", "requirements/dev.txt")
RUNTIME_TESTS = Lock(
    "requirements/runtime-tests.in", "requirements/runtime-tests.txt", "lowest-direct"
)
LOCKS = (DEV, RUNTIME_TESTS)


@dataclass(frozen=True)
class Pin:
    """One ``name==version ; marker`` line of a lock, with its hashes."""

    name: str
    version: str
    marker: Marker | None
    hashes: tuple[str, ...]

    def applies(self) -> bool:
        """Whether this Python on this platform installs it (the marker holds)."""
        return self.marker is None or self.marker.evaluate()


def _entries(text: str) -> list[str]:
    """The lock's requirement lines, continuations joined, comments dropped."""
    entries: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        current = f"{current} {line}" if current else line
        if current.endswith("\\"):
            current = current[:-1].rstrip()
        else:
            entries.append(current)
            current = ""
    if current:
        entries.append(current)
    return entries


def read_pins(path: Path) -> dict[str, Pin]:
    """The pins of a lock file, by canonical name; a line that is no exact pin is an error."""
    pins: dict[str, Pin] = {}
    for entry in _entries(path.read_text(encoding="utf-8")):
        words = entry.split()
        hashes = tuple(w.removeprefix("--hash=") for w in words if w.startswith("--hash="))
        spec = " ".join(w for w in words if not w.startswith("--hash="))
        requirement = Requirement(spec)
        specifiers = list(requirement.specifier)
        if len(specifiers) != 1 or specifiers[0].operator != "==":
            raise ValueError(f"{path}: {spec!r} is not pinned to one version with ==")
        name = canonicalize_name(requirement.name)
        pins[name] = Pin(name, specifiers[0].version, requirement.marker, hashes)
    return pins


def version_changes(before: dict[str, Pin], after: dict[str, Pin]) -> list[str]:
    """What a refresh changed, one line a package, sorted by name."""
    lines: list[str] = []
    for name in sorted(before.keys() | after.keys()):
        old, new = before.get(name), after.get(name)
        if old is None and new is not None:
            lines.append(f"  + {name} {new.version}")
        elif new is None and old is not None:
            lines.append(f"  - {name} {old.version}")
        elif old is not None and new is not None and old.version != new.version:
            lines.append(f"  ~ {name} {old.version} -> {new.version}")
    return lines


def compile_lock(lock: Lock, *, uv: Path, upgrade: bool) -> None:
    """Write ``lock.output`` anew from ``lock.source`` (upgrading every pin when asked)."""
    command = [str(uv), "pip", "compile", "--quiet", *lock.compile_arguments()]
    if upgrade:
        command.append("--upgrade")
    subprocess.run(command, cwd=ROOT, check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make lock", description="Refresh the hash-pinned locks and print what changed."
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the current pins where pyproject.toml still allows them (no upgrade)",
    )
    options = parser.parse_args(argv)
    uv = Path(sys.executable).parent / "uv"
    for lock in LOCKS:
        output = ROOT / lock.output
        before = read_pins(output) if output.exists() else {}
        compile_lock(lock, uv=uv, upgrade=not options.keep)
        changes = version_changes(before, read_pins(output))
        print(f"{lock.output}: {len(changes) or 'no'} change{'' if len(changes) == 1 else 's'}")
        for line in changes:
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
