"""Run a shipped pipeline's own steps, under its own environment blocks, on the emulator.

Neither GitHub nor Azure DevOps runs here, so this plays the runner's part
for the steps that are shell: it builds each step's environment the way the
runner does (GitHub: workflow ``env`` < job ``env`` < step ``env``, with
``${{ secrets.X }}`` and ``${{ vars.X }}`` filled from test values; Azure
DevOps: variables exported as environment variables, ``$(Name)`` macros
expanded, secret variables only where a step maps them under ``env:``),
runs the script with the runner's bash options, and reads back what the
runner would (``$GITHUB_OUTPUT``, ``$GITHUB_STEP_SUMMARY``, ``##vso[...]``
commands). Steps that are actions or tasks of the CI system (checkout,
setting up Python, signing in, artifacts) have no shell to run: artifacts
stay where the plan job wrote them, which is where the apply job's download
puts them. The hash-locked install steps are not run (they would reinstall
the suite's own virtualenv); the tool is the clone's, on ``PATH``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

#: A GitHub expression in an env value; scripts themselves must hold none.
_GITHUB_EXPRESSION = re.compile(r"\$\{\{\s*(secrets|vars)\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
#: An Azure DevOps macro: $(Name) or $(Dotted.Name).
_MACRO = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_.]*)\)")
_SET_OUTPUT = re.compile(r"^##vso\[task\.setvariable variable=(\w+);isOutput=true\](.*)$", re.M)
_SUMMARY = re.compile(r"^##vso\[task\.uploadsummary\](.*)$", re.M)


def load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


@dataclass
class StepRun:
    name: str
    returncode: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        return f"step {self.name!r}: exit {self.returncode}\n{self.stdout}\n{self.stderr}"


@dataclass
class JobRun:
    name: str
    steps: list[StepRun] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    summary: str = ""

    @property
    def failed(self) -> StepRun | None:
        return next((s for s in self.steps if s.returncode != 0), None)

    @property
    def text(self) -> str:
        return "\n".join(s.stdout + s.stderr for s in self.steps) + self.summary


def _bash(
    script: str, *, cwd: Path, env: Mapping[str, str], timeout_s: float
) -> tuple[int, str, str]:
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    return done.returncode, done.stdout, done.stderr


def is_install(name: str) -> bool:
    return name.startswith("Install the tool")


class GitHubRunner:
    """Runs jobs of a GitHub Actions workflow in ``workspace``."""

    def __init__(
        self,
        workflow: dict[str, Any],
        workspace: Path,
        base_env: Mapping[str, str],
        *,
        secrets: Mapping[str, str],
        tool_bin: Path,
    ) -> None:
        self.workflow = workflow
        self.workspace = workspace
        self.base_env = dict(base_env)
        self.secrets = secrets
        self.tool_bin = tool_bin
        self.secrets_read: dict[str, set[str]] = {}

    def _expand(self, job: str, value: Any) -> str:
        def fill(match: re.Match[str]) -> str:
            kind, name = match.groups()
            if kind == "secrets":
                self.secrets_read.setdefault(job, set()).add(name)
                return self.secrets[name]
            return f"test-{name.lower()}"

        text = _GITHUB_EXPRESSION.sub(fill, str(value))
        assert "${{" not in text, f"{job}: an expression this runner does not know: {text}"
        return text

    def run_job(self, name: str, *, timeout_s: float = 300) -> JobRun:
        job = self.workflow["jobs"][name]
        result = JobRun(name)
        scratch = self.workspace / ".state" / "runner" / name
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        summary = scratch / "summary.md"
        summary.touch()
        outputs: dict[str, dict[str, str]] = {}
        layered = {**self.workflow.get("env", {}), **job.get("env", {})}
        for index, step in enumerate(job["steps"]):
            title = step.get("name") or step.get("run") or step.get("uses", "")
            if "uses" in step or is_install(str(title)):
                continue
            script = step["run"]
            assert "${{" not in script, f"{name}: expressions belong in env:, not in a script"
            env = dict(self.base_env)
            for key, value in {**layered, **step.get("env", {})}.items():
                env[key] = self._expand(name, value)
            output_file = scratch / f"output-{index}"
            output_file.touch()
            env.update(
                PATH=f"{self.tool_bin}:{env.get('PATH', '')}",
                GITHUB_WORKSPACE=str(self.workspace),
                GITHUB_STEP_SUMMARY=str(summary),
                GITHUB_OUTPUT=str(output_file),
                GITHUB_PATH=str(scratch / "path"),
            )
            code, out, err = _bash(script, cwd=self.workspace, env=env, timeout_s=timeout_s)
            result.steps.append(StepRun(str(title), code, out, err))
            if "id" in step:
                outputs[step["id"]] = dict(
                    line.split("=", 1)
                    for line in output_file.read_text(encoding="utf-8").splitlines()
                    if "=" in line
                )
            if code != 0:
                break
        for key, expression in job.get("outputs", {}).items():
            match = re.fullmatch(r"\$\{\{\s*steps\.(\w+)\.outputs\.(\w+)\s*\}\}", expression)
            assert match, expression
            result.outputs[key] = outputs.get(match.group(1), {}).get(match.group(2), "")
        result.summary = summary.read_text(encoding="utf-8")
        return result


class AzureDevOpsRunner:
    """Runs stages of an Azure DevOps pipeline in ``workspace``."""

    def __init__(
        self,
        pipeline: dict[str, Any],
        workspace: Path,
        base_env: Mapping[str, str],
        *,
        secrets: Mapping[str, str],
        tool_bin: Path,
        reason: str,
    ) -> None:
        self.pipeline = pipeline
        self.workspace = workspace
        self.base_env = dict(base_env)
        self.secrets = secrets
        self.tool_bin = tool_bin
        self.pipeline_workspace = workspace / ".state" / "runner" / "pipeline"
        shutil.rmtree(self.pipeline_workspace, ignore_errors=True)
        self.pipeline_workspace.mkdir(parents=True)
        self.variables: dict[str, str] = {
            "Build.SourcesDirectory": str(workspace),
            "Build.Reason": reason,
            "Pipeline.Workspace": str(self.pipeline_workspace),
        }
        for entry in pipeline.get("variables", []):
            if "name" in entry:
                self.variables[entry["name"]] = str(entry["value"])
        self.stages = {stage["stage"]: stage for stage in pipeline["stages"]}

    def _macros(self, text: str, known: Mapping[str, str]) -> str:
        for _ in range(5):  # variables may name variables
            expanded = _MACRO.sub(lambda m: known.get(m.group(1), m.group(0)), text)
            if expanded == text:
                break
            text = expanded
        unknown = _MACRO.findall(text)
        assert not unknown, f"macros no variable defines: {unknown}"
        return text

    def _steps(self, stage: dict[str, Any]) -> list[dict[str, Any]]:
        steps: list[dict[str, Any]] = []
        for job in stage["jobs"]:
            if "deployment" in job:
                steps.extend(job["strategy"]["runOnce"]["deploy"]["steps"])
            else:
                steps.extend(job["steps"])
        return steps

    def run_stage(self, name: str, *, timeout_s: float = 300) -> JobRun:
        stage = self.stages[name]
        result = JobRun(name)
        known = dict(self.variables)
        if any("group" in v for v in stage.get("variables", [])):
            known.update(self.secrets)  # a variable group: secret variables, as macros only
        temp = self.workspace / ".state" / "runner" / f"temp-{name}"
        shutil.rmtree(temp, ignore_errors=True)
        temp.mkdir(parents=True)
        known["Agent.TempDirectory"] = str(temp)
        for step in self._steps(stage):
            if "publish" in step:
                target = self.pipeline_workspace / step["artifact"]
                target.mkdir(parents=True, exist_ok=True)
                source = self.workspace / step["publish"]
                shutil.copy2(source, target / source.name)
                continue
            if "download" in step or "checkout" in step:
                continue
            title = step.get("displayName", "")
            if is_install(title):
                continue
            if "script" in step:
                script = step["script"]
            elif step.get("task", "").startswith("AzureCLI@"):
                assert step["inputs"]["scriptType"] == "bash"
                script = step["inputs"]["inlineScript"]
            else:
                continue  # UsePythonVersion and the like
            env = dict(self.base_env)
            # Non-secret variables reach scripts as environment variables.
            env.update(
                {
                    k.upper().replace(".", "_"): v
                    for k, v in self.variables.items()
                    if not k.startswith(("Build.", "Pipeline."))
                }
            )
            env.update({k: self._macros(str(v), known) for k, v in step.get("env", {}).items()})
            env["PATH"] = f"{self.tool_bin}:{env.get('PATH', '')}"
            code, out, err = _bash(
                self._macros(script, known), cwd=self.workspace, env=env, timeout_s=timeout_s
            )
            result.steps.append(StepRun(title, code, out, err))
            for variable, value in _SET_OUTPUT.findall(out):
                result.outputs[f"{step.get('name', '')}.{variable}"] = value
            for path in _SUMMARY.findall(out):
                result.summary += Path(path).read_text(encoding="utf-8")
            if code != 0:
                break
        return result
