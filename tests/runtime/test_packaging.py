"""The runtime is its own distribution: apps install it without the tooling."""

from __future__ import annotations

import ast
import importlib.metadata
import sys
from pathlib import Path

import orgsecrets

PACKAGE = Path(orgsecrets.__file__).resolve().parent
ALLOWED_THIRD_PARTY = {"azure", "aiohttp"}


def test_depends_only_on_the_azure_clients() -> None:
    requires = importlib.metadata.requires("keyvault-orgsecrets") or []
    core = sorted(r.split(">=")[0] for r in requires if "extra ==" not in r)
    assert core == ["azure-identity", "azure-keyvault-secrets"]
    extras = [r for r in requires if "extra ==" in r]
    assert all(r.startswith("aiohttp") and 'extra == "aio"' in r for r in extras)


def test_ships_type_information() -> None:
    assert (PACKAGE / "py.typed").is_file()


def test_imports_nothing_from_the_tooling_or_the_emulator() -> None:
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                roots = {node.module.split(".")[0]}
            else:
                continue
            foreign = roots - sys.stdlib_module_names - ALLOWED_THIRD_PARTY - {"orgsecrets"}
            assert not foreign, f"{path.name} imports {sorted(foreign)}"
