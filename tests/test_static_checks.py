"""The static checks `make lint` runs hold on every commit, so CI enforces them."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", "."],
        ["mypy", "--strict", "runtime/orgsecrets"],
        [
            "mypy",
            "--strict",
            "infra/keyvault_platform",
            "keyvault-emulator/keyvault_emulator",
            "scripts",
        ],
    ],
    ids=["ruff", "mypy-strict-runtime", "mypy-strict-tooling"],
)
def test_static_check_passes(command: list[str]) -> None:
    result = subprocess.run(
        [str(BIN / command[0]), *command[1:]], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr



SHIPPED_CODE = (
    "infra/keyvault_platform",
    "runtime/orgsecrets",
    "keyvault-emulator/keyvault_emulator",
    "scripts",
    "tools",
)


def _logging_enable_uses(tree: ast.AST) -> list[int]:
    """Lines passing ``logging_enable``: a keyword, an options key, an options subscript."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "logging_enable":
            lines.append(node.value.lineno)
        elif isinstance(node, ast.Dict):
            lines += [
                k.lineno
                for k in node.keys
                if isinstance(k, ast.Constant) and k.value == "logging_enable"
            ]
        elif (
            isinstance(node, ast.Subscript)
            and isinstance(node.slice, ast.Constant)
            and node.slice.value == "logging_enable"
        ):
            lines.append(node.lineno)
    return lines


def test_no_code_passes_logging_enable() -> None:
    """With ``logging_enable`` azure-core logs request and response bodies (secret values).

    Its only mentions may be prose (docstrings, comments) and the tests that
    assert it is absent from the options every client is built with; no call
    passes it as a keyword and no options mapping holds it as a key.
    """
    planted = "c(logging_enable=True)\no = {'logging_enable': 1}\no['logging_enable'] = 1\n"
    assert sorted(_logging_enable_uses(ast.parse(planted))) == [1, 2, 3]  # the scan can fail
    found = [
        f"{path.relative_to(ROOT)}:{line}"
        for folder in SHIPPED_CODE
        for path in sorted((ROOT / folder).rglob("*.py"))
        for line in _logging_enable_uses(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert not found, f"logging_enable is passed at {found}"
