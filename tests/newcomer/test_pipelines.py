"""The pipeline examples: valid YAML, only make targets that exist, the plan/apply split.

They cannot run here (they need GitHub, Azure DevOps and a tenant); this
checks what can go stale without anyone noticing: the YAML itself, the make
targets it calls, and the promises docs/pipelines.md makes about them
(OIDC without stored credentials; plan on pull requests; apply on main).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from .newcomer_helpers import REPO_ROOT, make_targets_in, makefile_targets

GITHUB = REPO_ROOT / ".github" / "workflows" / "keyvault.yml"
AZURE_DEVOPS = REPO_ROOT / "pipelines" / "azure-pipelines.yml"
PLAN_TARGETS = {"plan", "sync-plan", "test", "lint"}
APPLY_TARGETS = {"provision", "sync"}


def _load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict), f"{path} is not a YAML mapping"
    return document


def _scripts(node: Any) -> Iterator[str]:
    """Every shell snippet: GitHub `run`, Azure DevOps `script`/`bash`/`inlineScript`."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("run", "script", "bash", "inlineScript") and isinstance(value, str):
                yield value
            else:
                yield from _scripts(value)
    elif isinstance(node, list):
        for item in node:
            yield from _scripts(item)


def _targets(node: Any) -> set[str]:
    return {t for script in _scripts(node) for t in make_targets_in(script)}


@pytest.mark.parametrize("path", [GITHUB, AZURE_DEVOPS], ids=["github", "azure-devops"])
def test_valid_yaml_and_only_existing_make_targets(path: Path) -> None:
    document = _load(path)
    used = _targets(document)
    assert used, f"{path.name} runs no make target"
    missing = used - makefile_targets()
    assert not missing, f"{path.name} runs make targets the Makefile lacks: {sorted(missing)}"


def test_github_workflow_oidc_plan_on_pull_requests_apply_on_main() -> None:
    workflow = _load(GITHUB)
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads `on` as true
    assert "pull_request" in triggers and "push" in triggers
    assert workflow["permissions"] == {"contents": "read"}
    jobs = workflow["jobs"]
    text = GITHUB.read_text(encoding="utf-8")
    assert "client-secret" not in text and "creds:" not in text, "no stored credentials"
    for name in ("plan", "apply"):
        job = jobs[name]
        assert job["permissions"]["id-token"] == "write"
        (login,) = [s for s in job["steps"] if str(s.get("uses", "")).startswith("azure/login@")]
        assert set(login["with"]) == {"client-id", "tenant-id", "subscription-id"}
    assert "pull_request" in jobs["plan"]["if"]
    assert _targets(jobs["plan"]) <= PLAN_TARGETS
    assert _targets(jobs["plan"]) >= {"plan", "sync-plan"}
    assert "refs/heads/main" in jobs["apply"]["if"]
    assert _targets(jobs["apply"]) == APPLY_TARGETS


def test_azure_devops_federated_connection_plan_on_pull_requests_apply_on_main() -> None:
    pipeline = _load(AZURE_DEVOPS)
    stages = {stage["stage"]: stage for stage in pipeline["stages"]}
    assert "PullRequest" in stages["plan"]["condition"]
    assert "refs/heads/main" in stages["apply"]["condition"]
    assert _targets(stages["plan"]) >= {"plan", "sync-plan"}
    assert _targets(stages["plan"]) <= PLAN_TARGETS
    assert _targets(stages["apply"]) == APPLY_TARGETS

    def tasks(node: Any) -> Iterator[dict[str, Any]]:
        if isinstance(node, dict):
            if "task" in node:
                yield node
            for value in node.values():
                yield from tasks(value)
        elif isinstance(node, list):
            for item in node:
                yield from tasks(item)

    azure = [t for t in tasks(pipeline) if t["task"].startswith("AzureCLI@")]
    assert azure and all(t["inputs"]["azureSubscription"] for t in azure)
    for task in azure:
        script = task["inputs"]["inlineScript"]
        if "make sync" in script:
            assert "SYNC_FINGERPRINT_KEY" in task.get("env", {}), "secret variables need env:"
