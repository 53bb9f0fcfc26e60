"""What the newcomer tests share: the README's commands, a clone, running commands in it."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
README = REPO_ROOT / "README.md"

_FENCE = re.compile(r"^```(\w*)\s*$")
_COMMENT = re.compile(r"\s+#\s.*$")

# Every command in the README's ```sh blocks, and the test that runs it
# exactly as written. tests/newcomer/test_readme.py checks this table
# against the README in both directions.
_REPLAY = "test_readme.py::test_readme_commands_on_a_clone"
EXERCISED = {
    "make demo": "test_demo.py::test_readme_demo_command_twice",
    "make emulator": _REPLAY,
    'eval "$(make -s emulator-env IDENTITY=app)"': _REPLAY,
    "make plan": _REPLAY,
    ".venv/bin/python -m keyvault_emulator audit --vault kv-secrets-local": _REPLAY,
    "cp infra/environments/azure.example.yaml infra/environments/dev.yaml": _REPLAY,
    "make plan KVP_ENV=dev": _REPLAY,
    "make provision KVP_ENV=dev": _REPLAY,
    "make sync-plan KVP_ENV=dev": _REPLAY,
    "make sync KVP_ENV=dev": _REPLAY,
    "keyvault-platform init ../team-secrets": "test_readme.py::test_readme_own_config_repository",
    "keyvault-platform --chdir ../team-secrets validate": (
        "test_readme.py::test_readme_own_config_repository"
    ),
}

# Commands a test cannot run, and why. Keep this list short and honest.
NOT_RUN = {
    "make test": "it is the command running this test (.ci/run runs it in CI)",
    "az login": "needs a real Azure tenant; the tests sign in to the emulator instead",
}


@dataclass(frozen=True)
class Block:
    language: str
    lines: tuple[str, ...]


def readme_blocks(text: str | None = None) -> list[Block]:
    """The README's fenced code blocks, in order."""
    text = README.read_text(encoding="utf-8") if text is None else text
    blocks: list[Block] = []
    language: str | None = None
    lines: list[str] = []
    for line in text.splitlines():
        match = _FENCE.match(line)
        if match and language is None:
            language, lines = match.group(1), []
        elif line.strip() == "```" and language is not None:
            blocks.append(Block(language, tuple(lines)))
            language = None
        elif language is not None:
            lines.append(line)
    return blocks


def readme_commands(text: str | None = None) -> list[str]:
    """Each command line of the ```sh blocks, without its trailing comment."""
    commands = []
    for block in readme_blocks(text):
        if block.language != "sh":
            continue
        for line in block.lines:
            command = _COMMENT.sub("", line).strip()
            if command and not command.startswith("#"):
                commands.append(command)
    return commands


def readme_command(command: str) -> str:
    """``command`` as the README writes it; fails if the README no longer has it."""
    found = [c for c in readme_commands() if c == command]
    assert found, f"the README has no ```sh command {command!r}; update the test and the table"
    return found[0]


def readme_python() -> list[str]:
    """The README's ```python blocks."""
    return ["\n".join(b.lines) + "\n" for b in readme_blocks() if b.language == "python"]


def makefile_targets(path: Path = REPO_ROOT / "Makefile") -> set[str]:
    targets = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Za-z][\w.-]*)\s*:(?!=)", line)
        if match:
            targets.add(match.group(1))
    return targets


def make_targets_in(command: str) -> list[str]:
    """The targets of every ``make`` call in a shell snippet (variables like KVP_ENV=x skipped)."""
    targets = []
    for match in re.finditer(r"(?:^|[\s;&|(])make((?:\s+[^\s;&|)]+)*)", command):
        for word in match.group(1).split():
            if word.startswith("-") or "=" in word or word.startswith(("$", '"', "'")):
                continue
            targets.append(word)
    return targets


@dataclass(frozen=True)
class Ran:
    command: str
    returncode: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        return (
            f"$ {self.command}\nexit {self.returncode}\n--- stdout\n{self.stdout}\n"
            f"--- stderr\n{self.stderr}"
        )


def run(
    command: str, *, cwd: Path, env: dict[str, str], timeout_s: float = 300, input_text: str = ""
) -> Ran:
    """Run ``command`` as a person would type it: through bash, in ``cwd``."""
    completed = subprocess.run(
        ["bash", "-c", command],
        cwd=cwd,
        env=env,
        input=input_text,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    return Ran(command, completed.returncode, completed.stdout, completed.stderr)


def newcomer_environment(clone: Path) -> dict[str, str]:
    """A clean shell for the clone: no identity, no CA, no colour, no parent make.

    PYTHONPATH puts the clone's code first: the shared virtualenv's editable
    installs point at the working tree, and the clone is what is under test.
    """
    dropped = ("IDENTITY_", "MSI_", "AZURE_", "KEYVAULT_", "ORGSECRETS_", "MAKE", "PYTEST_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "MFLAGS", "PYTHONPATH", "VIRTUAL_ENV"):
        env.pop(name, None)
    env["NO_COLOR"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(
        str(clone / part) for part in ("", "infra", "runtime", "keyvault-emulator")
    )
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env
