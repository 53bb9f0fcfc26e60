"""Running the ``keyvault-platform`` command in-process, as a user would type it."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from keyvault_platform.cli.main import run


@dataclass(frozen=True)
class Ran:
    code: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


def kvp(*argv: str) -> Ran:
    """``keyvault-platform ARGV...`` in this process; argparse exits become exit codes."""
    out, err = io.StringIO(), io.StringIO()
    try:
        code = run(list(argv), stdout=out, stderr=err)
    except SystemExit as exc:  # --help, --version and usage errors
        code = int(exc.code or 0)
    return Ran(code, out.getvalue(), err.getvalue())


def scaffolded(directory: Path, org: str = "contoso") -> Path:
    """``keyvault-platform init DIR --org ORG``, which must succeed; returns ``directory``."""
    ran = kvp("init", str(directory), "--org", org)
    assert ran.code == 0, ran.describe()
    return directory
