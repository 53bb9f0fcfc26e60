"""Every command in the README is run by a test, exactly as written.

``EXERCISED`` (newcomer_helpers.py) maps each ```sh command to its test;
the first test below keeps that table and the README in step. The second
replays the README on a fresh clone, in the README's order: the emulator,
acting as an identity, the local plan, the audit log, then the "real Azure"
commands against an environment file copied as the README says and pointed
at the emulator (no Azure tenant here), then the runtime snippet as the app.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from scripts.demo import DEMO_ENV_VALUES, DEMO_FILE_VALUES

from .newcomer_helpers import (
    EXERCISED,
    NOT_RUN,
    REPO_ROOT,
    make_targets_in,
    makefile_targets,
    readme_command,
    readme_commands,
    readme_python,
    run,
)


def test_every_readme_command_is_exercised() -> None:
    commands = readme_commands()
    assert commands, "no ```sh blocks found in the README"
    unexercised = [c for c in commands if c not in EXERCISED and c not in NOT_RUN]
    assert not unexercised, f"README commands no test runs: {unexercised}"
    stale = [c for c in [*EXERCISED, *NOT_RUN] if c not in commands]
    assert not stale, f"the table lists commands the README no longer has: {stale}"
    for command, where in EXERCISED.items():
        module, _, test = where.partition("::")
        source = (Path(__file__).parent / module).read_text(encoding="utf-8")
        assert f"def {test}(" in source, f"{where} (for {command!r}) does not exist"
        quoted = (repr(command), json.dumps(command))
        assert "readme_command(" in source and any(q in source for q in quoted), (
            f"{where} does not run {command!r} through readme_command()"
        )
    targets = makefile_targets()
    for command in commands:
        for target in make_targets_in(command):
            assert target in targets, f"README runs `make {target}`, which the Makefile lacks"


def test_readme_python_blocks_are_valid() -> None:
    for block in readme_python():
        compile(block, "README.md", "exec")


def _wait_for(path: Path, process: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists():
            return
        assert process.poll() is None, f"exited with {process.returncode}; see the log"
        time.sleep(0.05)
    raise AssertionError(f"{path} did not appear within {timeout_s}s")


def test_readme_commands_on_a_clone(clone: Path, newcomer_env: dict[str, str]) -> None:
    env = dict(newcomer_env)
    state = clone / ".state" / "emulator"
    log = clone / ".state" / "make-emulator.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        emulator = subprocess.Popen(
            ["bash", "-c", readme_command("make emulator")],
            cwd=clone,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        try:
            _wait_for(state / "emulator.json", emulator)
        except AssertionError:
            raise AssertionError(log.read_text(encoding="utf-8")) from None

        # Terminal 2: act as the app.
        identity = readme_command('eval "$(make -s emulator-env IDENTITY=app)"')
        ran = run(f'{identity} && echo "endpoint=$IDENTITY_ENDPOINT"', cwd=clone, env=env)
        assert ran.returncode == 0, ran.describe()
        assert "endpoint=https://127.0.0.1:" in ran.stdout

        ran = run(readme_command("make plan"), cwd=clone, env=env)
        assert ran.returncode == 0, ran.describe()
        assert "Plan: 4 to add, 0 to change, 0 to destroy." in ran.stdout

        audit = readme_command(
            ".venv/bin/python -m keyvault_emulator audit --vault kv-secrets-local"
        )
        ran = run(audit, cwd=clone, env=env)
        assert ran.returncode == 0, ran.describe()

        # Real Azure, on the emulator: the file is copied as the README says,
        # then given the local target (there is no tenant to point it at).
        copy = readme_command(
            "cp infra/environments/azure.example.yaml infra/environments/dev.yaml"
        )
        ran = run(copy, cwd=clone, env=env)
        assert ran.returncode == 0, ran.describe()
        dev = clone / "infra" / "environments" / "dev.yaml"
        assert "kind: azure" in dev.read_text(encoding="utf-8")
        local = (clone / "infra" / "environments" / "local.yaml").read_text(encoding="utf-8")
        dev.write_text(local, encoding="utf-8")

        ran = run(readme_command("make plan KVP_ENV=dev"), cwd=clone, env=env)
        assert ran.returncode == 0, ran.describe()
        assert "Plan: 4 to add, 0 to change, 0 to destroy." in ran.stdout
        # Off a terminal an apply needs --auto-approve (at one it asks): the
        # Makefile passes ARGS on, and make reads it from the environment.
        approved = {**env, "ARGS": "--auto-approve"}
        ran = run(readme_command("make provision KVP_ENV=dev"), cwd=clone, env=approved)
        assert ran.returncode == 0, ran.describe()
        assert "Apply complete! Resources: 4 added, 0 changed, 0 destroyed." in ran.stdout

        # The sync takes values from the environment and files, as a pipeline
        # provides them (docs/manifests.md); fake ones here.
        for relative, value in DEMO_FILE_VALUES.items():
            path = clone / "secrets" / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(value, encoding="utf-8")
        sync_env = {**approved, **DEMO_ENV_VALUES}
        ran = run(readme_command("make sync-plan KVP_ENV=dev"), cwd=clone, env=sync_env)
        assert ran.returncode == 0, ran.describe()
        assert "Plan: 9 to add, 0 to change, 0 to destroy." in ran.stdout
        ran = run(readme_command("make sync KVP_ENV=dev"), cwd=clone, env=sync_env)
        assert ran.returncode == 0, ran.describe()
        assert "Apply complete! Resources: 9 added, 0 changed, 0 destroyed." in ran.stdout
        ran = run(readme_command("make sync KVP_ENV=dev"), cwd=clone, env=sync_env)
        assert ran.returncode == 0, ran.describe()
        assert "No changes." in ran.stdout

        # The runtime snippet, as the app, with the vault's URL in its settings.
        ran = run(
            ".venv/bin/python -c 'from keyvault_platform.config.environment "
            "import load_environment as l; "
            'e = l("dev"); print(e.target().vault_url(e.vault.name, '
            "resource_group=e.resource_group.name))'",
            cwd=clone,
            env=env,
        )
        assert ran.returncode == 0, ran.describe()
        vault_url = ran.stdout.strip()
        (snippet,) = readme_python()
        script = clone / ".state" / "readme_snippet.py"
        script.write_text(snippet + "assert password\nprint('snippet ok')\n", encoding="utf-8")
        ran = run(
            f"{identity} && AZURE_KEY_VAULT_URL={vault_url} .venv/bin/python {script}",
            cwd=clone,
            env=env,
        )
        assert ran.returncode == 0, ran.describe()
        assert "snippet ok" in ran.stdout

        ran = run(audit, cwd=clone, env=env)
        assert ran.returncode == 0, ran.describe()
        assert "contoso--db-password" in ran.stdout

        for ran_output in (ran.stdout, log.read_text(encoding="utf-8")):
            for value in [*DEMO_ENV_VALUES.values(), *DEMO_FILE_VALUES.values()]:
                assert value not in ran_output
    finally:
        if emulator.poll() is None:
            os.killpg(emulator.pid, signal.SIGINT)  # Ctrl-C, as the README says
            try:
                emulator.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(emulator.pid, signal.SIGKILL)
                emulator.wait(timeout=30)
    assert not (state / "emulator.json").exists(), "Ctrl-C must stop the emulator cleanly"


def test_readme_links_exist() -> None:
    import re

    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#]+)\)", text):
        if "://" in target:
            continue
        assert (REPO_ROOT / target).exists(), f"README links to {target}, which does not exist"


def test_readme_own_config_repository(clone: Path, newcomer_env: dict[str, str]) -> None:
    """The installed command scaffolds a config repository beside the clone and validates it.

    The install itself (``pip install ./runtime .``) is proven from a wheel in a
    fresh virtual environment by tests/tool/test_installed_wheel.py; here the
    clone's ``.venv`` plays the installed tool.
    """
    env = dict(newcomer_env)
    env["PATH"] = os.pathsep.join([str(clone / ".venv" / "bin"), env.get("PATH", "")])
    ran = run(readme_command("keyvault-platform init ../team-secrets"), cwd=clone, env=env)
    assert ran.returncode == 0, ran.describe()
    assert (clone.parent / "team-secrets" / "environments" / "local.yaml").is_file()
    ran = run(
        readme_command("keyvault-platform --chdir ../team-secrets validate"), cwd=clone, env=env
    )
    assert ran.returncode == 0, ran.describe()
    assert ran.stdout.startswith("Valid: 2 environment files, 2 manifests")
