"""runtime/README.md is the package's page on an index: its code and settings are real."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import orgsecrets
from orgsecrets import config, events

README = Path(__file__).resolve().parents[2] / "runtime" / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)


def test_every_python_example_parses_and_names_only_what_the_package_exports() -> None:
    blocks = _python_blocks()
    assert len(blocks) >= 3
    for block in blocks:
        tree = ast.parse(block)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module in (
                "orgsecrets",
                "orgsecrets.events",
            ):
                module = orgsecrets if node.module == "orgsecrets" else events
                missing = [a.name for a in node.names if not hasattr(module, a.name)]
                assert not missing, f"the README imports {missing} from {node.module}"
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id == "orgsecrets"
            ):
                assert hasattr(orgsecrets, node.attr), f"orgsecrets.{node.attr} does not exist"


def test_every_setting_in_the_table_is_one_the_package_reads() -> None:
    text = README.read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)`", text, re.MULTILINE))
    assert "AZURE_KEY_VAULT_URL" in documented and len(documented) >= 8
    package = Path(config.__file__).parent
    source = "\n".join(p.read_text(encoding="utf-8") for p in package.glob("*.py"))
    unknown = sorted(name for name in documented if f'"{name}"' not in source)
    assert not unknown, f"the README documents settings the package does not read: {unknown}"


def test_the_page_covers_install_configuration_errors_and_an_example() -> None:
    headings = re.findall(r"^## (.+)$", README.read_text(encoding="utf-8"), re.MULTILINE)
    for wanted in ("Install", "Configuration", "Errors", "Azure Functions"):
        assert wanted in headings
    text = README.read_text(encoding="utf-8")
    assert "#subdirectory=runtime" in text and ".whl" in text
