"""The pipeline examples: valid YAML, only make targets that exist, the plan/apply split.

The promises docs/pipelines.md makes about them, read from the YAML: OIDC
without stored credentials; validate first; a value-free plan on pull
requests; saved plans applied in the protected environment; only the
installed tool where credentials are. test_pipeline_runs.py runs their
steps; test_actionlint.py lints the GitHub workflows.
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


def _steps_text(job: Any) -> str:
    return "\n".join(_scripts(job))


def test_github_workflow_oidc_plan_on_pull_requests_apply_on_main() -> None:
    workflow = _load(GITHUB)
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads `on` as true
    assert {"pull_request", "push", "schedule"} <= set(triggers)
    assert workflow["permissions"] == {"contents": "read"}
    assert "ENV" not in workflow["env"], "POSIX shells read $ENV at start-up"
    jobs = workflow["jobs"]
    text = GITHUB.read_text(encoding="utf-8")
    assert "client-secret" not in text and "creds:" not in text, "no stored credentials"
    signing_in = ("pr-plan", "plan", "apply-provision", "plan-sync", "apply-sync", "drift")
    for name in signing_in:
        job = jobs[name]
        assert job["permissions"]["id-token"] == "write"
        (login,) = [s for s in job["steps"] if str(s.get("uses", "")).startswith("azure/login@")]
        assert set(login["with"]) == {"client-id", "tenant-id", "subscription-id"}
        assert not _targets(job), f"{name} holds credentials: the installed tool only, no make"
    assert "pull_request" in jobs["pr-plan"]["if"]
    assert "--without-values" in _steps_text(jobs["pr-plan"])
    assert "secrets." not in str(jobs["pr-plan"]), "a pull request's plan holds no secret"
    for name in ("plan", "plan-sync"):
        assert "secrets." not in str(jobs[name]), f"{name} holds no secret"
        assert "--out plans/" in _steps_text(jobs[name])
    for name in ("apply-provision", "apply-sync"):
        assert jobs[name]["environment"] == "prod"
        assert "--from-plan plans/" in _steps_text(jobs[name])
        assert "--auto-approve" in _steps_text(jobs[name])
    assert "refs/heads/main" in jobs["plan"]["if"]
    # validate runs first, before anything that signs in
    assert jobs["validate"].get("needs") is None
    assert "keyvault-platform validate --format github" in _steps_text(jobs["validate"])


def test_azure_devops_federated_connection_plan_on_pull_requests_apply_on_main() -> None:
    pipeline = _load(AZURE_DEVOPS)
    stages = {stage["stage"]: stage for stage in pipeline["stages"]}
    assert pipeline["stages"][0]["stage"] == "validate" and "dependsOn" not in stages["validate"]
    assert "keyvault-platform validate --format azure-devops" in _steps_text(stages["validate"])
    assert "PullRequest" in stages["pr_plan"]["condition"]
    assert "refs/heads/main" in stages["plan"]["condition"]
    assert "--without-values" in _steps_text(stages["pr_plan"])
    assert "Schedule" in stages["drift"]["condition"]
    assert {v.get("name") for v in pipeline["variables"]} >= {"KVP_ENV"}
    assert "ENV" not in {v.get("name") for v in pipeline["variables"]}

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
        assert not make_targets_in(script), "a step with credentials runs the installed tool only"
        if "secrets/values" in script:
            assert "trap 'rm -rf secrets/values' EXIT" in script, "value files removed in a trap"
            assert "SYNC_FINGERPRINT_KEY" in task.get("env", {}), "secret variables need env:"
