"""The shipped pipelines' own commands, under their own environment blocks, on the emulator.

Each pipeline is played event by event on a clone of the repository (see
:mod:`.pipeline_runner` for what is run and what is not): a pull request (a
value-free plan, no secret in any of its jobs), a push to main (saved plans,
each applied from its file after "approval"), a scheduled drift check with
nothing drifted, then one after a manifest change nobody applied. The
clone's ``infra/environments/prod.yaml`` (the pipelines' ``KVP_ENV``) is the
local environment, on an emulator the test starts; secrets get test values,
and no value reaches any output, summary or plan file.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.demo import DEMO_ENV_VALUES, DEMO_FILE_VALUES

from .newcomer_helpers import REPO_ROOT
from .pipeline_runner import AzureDevOpsRunner, GitHubRunner, JobRun, is_install, load

GITHUB = REPO_ROOT / ".github" / "workflows" / "keyvault.yml"
AZURE_DEVOPS = REPO_ROOT / "pipelines" / "azure-pipelines.yml"

SECRETS = {
    "SYNC_FINGERPRINT_KEY": "pipeline-test-fingerprint-key-0123456789abcdef",
    **DEMO_ENV_VALUES,
    "CONTOSO_SMTP_PASSWORD": DEMO_FILE_VALUES["values/contoso-smtp-password.txt"],
}
VALUES = list(SECRETS.values())  # the fingerprint key included
#: What the pipelines must never hand a job before the approved apply.
HELD_BACK = set(SECRETS)


@contextlib.contextmanager
def _emulator(directory: Path, env: dict[str, str], tool: Path) -> Iterator[None]:
    """An emulator of the directory's own, at the local environment's state dir."""
    state = directory / ".state" / "emulator"
    log = directory / ".state" / "emulator.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        emulator = subprocess.Popen(
            [str(tool), "emulator", "--state-dir", str(state), "serve"],
            cwd=directory,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while not (state / "emulator.json").exists():
            assert emulator.poll() is None, log.read_text(encoding="utf-8")
            assert time.monotonic() < deadline, "the emulator did not start within 60 s"
            time.sleep(0.05)
        yield
    finally:
        os.killpg(emulator.pid, signal.SIGINT)
        try:
            emulator.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(emulator.pid, signal.SIGKILL)
            emulator.wait(timeout=30)


@pytest.fixture
def workspace(clone: Path, newcomer_env: dict[str, str]) -> Iterator[tuple[Path, dict[str, str]]]:
    """The clone, reset, with prod.yaml on a fresh emulator of its own."""
    subprocess.run(["git", "checkout", "--quiet", "--", "."], cwd=clone, check=True)
    subprocess.run(
        ["git", "clean", "-fdxq", "-e", ".venv", "-e", ".state/venv-runtime"], cwd=clone, check=True
    )
    local = (clone / "infra/environments/local.yaml").read_text(encoding="utf-8")
    (clone / "infra/environments/prod.yaml").write_text(local, encoding="utf-8")
    env = {k: v for k, v in newcomer_env.items() if k not in SECRETS}
    with _emulator(clone, env, clone / ".venv/bin/keyvault-platform"):
        yield clone, env


def _ok(run: JobRun) -> JobRun:
    failed = run.failed
    assert failed is None, f"{run.name}: " + failed.describe()
    return run


def _no_value_in(workspace: Path, runs: list[JobRun]) -> None:
    texts = [r.text for r in runs]
    texts += [p.read_text(encoding="utf-8") for p in (workspace / "plans").glob("*.plan")]
    for value in VALUES:
        assert not any(value in text for text in texts), "a secret value reached the output"
    assert not (workspace / "secrets" / "values").exists(), "a value file outlived its step"


def _fenced_plan(summary: str) -> None:
    """The plans in a summary are fenced: their + - # lines stay verbatim."""
    assert "```" in summary
    inside = False
    for line in summary.splitlines():
        if line.startswith("```"):
            inside = not inside
        elif line.lstrip().startswith(("+ ", "- ", "# ", "~ ")):
            assert inside, f"a plan line outside a fence: {line!r}"


def _add_undeclared_change(workspace: Path) -> None:
    manifest = workspace / "secrets" / "GLOBAL.yaml"
    text = manifest.read_text(encoding="utf-8")
    manifest.write_text(
        text + "  - name: merged-never-applied\n    value: {generate: {length: 24}}\n",
        encoding="utf-8",
    )


def test_github_workflow_runs_under_its_own_env_blocks(
    workspace: tuple[Path, dict[str, str]],
) -> None:
    clone, env = workspace
    workflow = load(GITHUB)
    jobs = workflow["jobs"]
    runner = GitHubRunner(workflow, clone, env, secrets=SECRETS, tool_bin=clone / ".venv" / "bin")
    for job in (
        "validate",
        "pr-plan",
        "plan",
        "plan-sync",
        "drift",
        "apply-provision",
        "apply-sync",
    ):
        installs = [s for s in jobs[job]["steps"] if is_install(str(s.get("name", "")))]
        assert installs and all("--require-hashes" in s["run"] for s in installs), job
        runs = "\n".join(s.get("run", "") for s in jobs[job]["steps"])
        assert "make " not in runs, f"{job} holds credentials or runs first: no make target"

    # A pull request: validate, then a plan with no secret at all.
    assert "pull_request" in jobs["pr-plan"]["if"]
    pr = [_ok(runner.run_job("validate")), _ok(runner.run_job("pr-plan"))]
    assert "Plan: 4 to add" in pr[1].summary
    assert "The vault is created by this change: the sync is planned after" in pr[1].summary
    _fenced_plan(pr[1].summary)

    # A push to main: saved plans, each applied from its file.
    plan = _ok(runner.run_job("plan"))
    assert plan.outputs == {"changes": "true"}
    assert (clone / "plans" / "provision.plan").is_file()
    assert "needs.plan.outputs.changes == 'true'" in jobs["apply-provision"]["if"]
    applied = _ok(runner.run_job("apply-provision"))
    assert "Apply complete! Resources: 4 added" in applied.text
    plan_sync = _ok(runner.run_job("plan-sync"))
    assert plan_sync.outputs == {"changes": "true"}
    assert "needs.plan-sync.outputs.changes == 'true'" in jobs["apply-sync"]["if"]
    synced = _ok(runner.run_job("apply-sync"))
    assert "Apply complete! Resources: 9 added" in synced.text

    # Only the approved apply of the sync was handed secrets.
    assert runner.secrets_read == {"apply-sync": HELD_BACK}
    assert jobs["drift"]["environment"] == "prod-drift"  # values, main only, never applies
    for job in ("apply-provision", "apply-sync"):
        assert jobs[job]["environment"] == "prod"
        assert jobs[job]["concurrency"] == {
            "group": "keyvault-apply-prod",
            "cancel-in-progress": False,
        }

    # Scheduled: nothing drifted, then a change merged and never applied.
    assert "schedule" in workflow[True] and jobs["drift"]["if"] == "github.event_name == 'schedule'"
    quiet = _ok(runner.run_job("drift"))
    assert quiet.summary.count("**No changes.") == 2
    _add_undeclared_change(clone)
    pr.append(_ok(runner.run_job("pr-plan")))  # a pull request against the vault as it is
    assert "**No changes." in pr[-1].summary and "Plan: 1 to add" in pr[-1].summary
    _fenced_plan(pr[-1].summary)
    assert runner.secrets_read == {"apply-sync": HELD_BACK, "drift": HELD_BACK}
    drifted = runner.run_job("drift")
    assert drifted.failed is not None and drifted.failed.returncode == 1
    assert "::error title=Drift::prod differs from the repository: sync" in drifted.failed.stdout
    assert "Plan: 1 to add" in drifted.summary
    _fenced_plan(drifted.summary)
    _no_value_in(clone, [*pr, plan, applied, plan_sync, synced, quiet, drifted])


def test_azure_devops_pipeline_runs_under_its_own_variables(
    workspace: tuple[Path, dict[str, str]],
) -> None:
    clone, env = workspace
    pipeline = load(AZURE_DEVOPS)

    def runner(reason: str) -> AzureDevOpsRunner:
        return AzureDevOpsRunner(
            pipeline, clone, env, secrets=SECRETS, tool_bin=clone / ".venv" / "bin", reason=reason
        )

    stages = {stage["stage"]: stage for stage in pipeline["stages"]}
    assert "--require-hashes" in next(
        v["value"] for v in pipeline["variables"] if v.get("name") == "installTool"
    )
    for name in ("pr_plan", "plan", "plan_sync"):
        assert "variables" not in stages[name], f"{name} must hold no secret variable"
    assert [v.get("group") for v in stages["apply_sync"]["variables"]] == ["keyvault-sync-prod"]
    for name in ("apply_provision", "apply_sync"):
        assert stages[name]["lockBehavior"] == "sequential"
        assert stages[name]["jobs"][0]["environment"] == "keyvault-prod"

    pull_request = runner("PullRequest")
    pr = [_ok(pull_request.run_stage("validate")), _ok(pull_request.run_stage("pr_plan"))]
    assert "Plan: 4 to add" in pr[1].summary
    assert "The vault is created by this change: the sync is planned after" in pr[1].summary
    _fenced_plan(pr[1].summary)

    push = runner("IndividualCI")
    plan = _ok(push.run_stage("plan"))
    assert plan.outputs == {"detect.changes": "true"}
    assert (
        "dependencies.plan.outputs['plan.detect.changes']" in stages["apply_provision"]["condition"]
    )
    applied = _ok(push.run_stage("apply_provision"))
    assert "Apply complete! Resources: 4 added" in applied.text
    plan_sync = _ok(push.run_stage("plan_sync"))
    assert plan_sync.outputs == {"detect.changes": "true"}
    synced = _ok(push.run_stage("apply_sync"))
    assert "Apply complete! Resources: 9 added" in synced.text

    schedule = runner("Schedule")
    assert "'Schedule'" in stages["drift"]["condition"]
    quiet = _ok(schedule.run_stage("drift"))
    assert quiet.summary.count("**No changes.") == 2
    _add_undeclared_change(clone)
    drifted = schedule.run_stage("drift")
    assert drifted.failed is not None and drifted.failed.returncode == 1
    assert "##vso[task.logissue type=error]prod differs from the repository: sync" in (
        drifted.failed.stdout
    )
    _fenced_plan(drifted.summary)
    _no_value_in(clone, [*pr, plan, applied, plan_sync, synced, quiet, drifted])


def _scaffolded(tmp_path: Path) -> tuple[Path, dict[str, str], Path]:
    """``keyvault-platform init`` with the suite's tool; prod.yaml is its local environment."""
    tool_bin = Path(sys.executable).parent
    config = tmp_path / "config"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AZURE_", "IDENTITY_", "MSI_", "PYTEST_")) and k not in SECRETS
    }
    env["NO_COLOR"] = "1"
    made = subprocess.run(
        [str(tool_bin / "keyvault-platform"), "init", str(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    local = (config / "environments/local.yaml").read_text(encoding="utf-8")
    (config / "environments/prod.yaml").write_text(local, encoding="utf-8")
    return config, env, tool_bin


def test_the_scaffolded_github_workflow_runs_under_its_own_env_blocks(tmp_path: Path) -> None:
    """What ``keyvault-platform init`` writes: the installed tool, nothing of this repository."""
    config, env, tool_bin = _scaffolded(tmp_path)
    workflow = load(config / ".github/workflows/keyvault.yml")
    runner = GitHubRunner(workflow, config, env, secrets=SECRETS, tool_bin=tool_bin)
    with _emulator(config, env, tool_bin / "keyvault-platform"):
        runs = [_ok(runner.run_job("validate")), _ok(runner.run_job("pr-plan"))]
        assert "the sync is planned after provisioning" in runs[-1].summary
        runs.append(_ok(runner.run_job("plan")))
        assert runs[-1].outputs == {"changes": "true"}
        runs.append(_ok(runner.run_job("apply-provision")))
        runs.append(_ok(runner.run_job("plan-sync")))
        assert runs[-1].outputs == {"changes": "true"}
        runs.append(_ok(runner.run_job("apply-sync")))
        assert "Apply complete! Resources: 3 added" in runs[-1].text
        runs.append(_ok(runner.run_job("drift")))
        assert runs[-1].summary.count("**No changes.") == 2
    assert runner.secrets_read == {
        "apply-sync": {"SYNC_FINGERPRINT_KEY"},
        "drift": {"SYNC_FINGERPRINT_KEY"},
    }
    _no_value_in(config, runs)


def test_the_scaffolded_azure_devops_pipeline_runs_under_its_own_variables(
    tmp_path: Path,
) -> None:
    config, env, tool_bin = _scaffolded(tmp_path)
    pipeline = load(config / "azure-pipelines.yml")

    def runner(reason: str) -> AzureDevOpsRunner:
        return AzureDevOpsRunner(
            pipeline, config, env, secrets=SECRETS, tool_bin=tool_bin, reason=reason
        )

    pull_request, push, schedule = runner("PullRequest"), runner("IndividualCI"), runner("Schedule")
    with _emulator(config, env, tool_bin / "keyvault-platform"):
        runs = [_ok(pull_request.run_stage("validate")), _ok(pull_request.run_stage("pr_plan"))]
        assert "the sync is planned after provisioning" in runs[-1].summary
        runs.append(_ok(push.run_stage("plan")))
        assert runs[-1].outputs == {"detect.changes": "true"}
        runs.append(_ok(push.run_stage("apply_provision")))
        runs.append(_ok(push.run_stage("plan_sync")))
        assert runs[-1].outputs == {"detect.changes": "true"}
        runs.append(_ok(push.run_stage("apply_sync")))
        assert "Apply complete! Resources: 3 added" in runs[-1].text
        runs.append(_ok(schedule.run_stage("drift")))
        assert runs[-1].summary.count("**No changes.") == 2
    _no_value_in(config, runs)
