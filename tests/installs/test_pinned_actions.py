"""Every action the shipped workflows use is pinned by full commit SHA, its version beside it.

A tag (``@v4``) can be moved to other code by whoever controls the action's
repository; a commit SHA cannot. The comment keeps the version readable, and
Dependabot (``.github/dependabot.yml``, also written by ``init``) moves both.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "infra" / "keyvault_platform" / "scaffold" / "templates"
WORKFLOWS = [
    *sorted((ROOT / ".github" / "workflows").glob("*.yml")),
    TEMPLATES / "github-workflow.yml",
]
PINNED = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$")
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(\S+)\s*(#.*)?$")


def _uses(node: object) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "uses"] + [
            u for value in node.values() for u in _uses(value)
        ]
    if isinstance(node, list):
        return [u for item in node for u in _uses(item)]
    return []


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_action_is_pinned_by_commit_sha_with_its_version(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    uses = _uses(yaml.safe_load(text))
    assert uses, f"{path} uses no action"
    unpinned = [u for u in uses if not PINNED.match(u)]
    assert not unpinned, f"{path}: not pinned by a 40-hex commit SHA: {unpinned}"
    lines = [m for line in text.splitlines() if (m := USES_LINE.match(line))]
    assert len(lines) == len(uses)
    unlabelled = [
        m.group(1) for m in lines if not re.fullmatch(r"#\s*v\d+(\.\d+)*", m.group(2) or "")
    ]
    assert not unlabelled, f"{path}: give each SHA its version in a comment: {unlabelled}"


def test_the_check_refuses_a_tag() -> None:
    assert not PINNED.match("actions/checkout@v4")
    assert not PINNED.match("actions/checkout@11bd719")
    assert PINNED.match("actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683")


@pytest.mark.parametrize(
    "path", [ROOT / ".github" / "dependabot.yml", TEMPLATES / "dependabot.yml"]
)
def test_dependabot_updates_pip_and_the_actions(path: Path) -> None:
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert config["version"] == 2
    ecosystems = {update["package-ecosystem"] for update in config["updates"]}
    assert ecosystems == {"pip", "github-actions"}
