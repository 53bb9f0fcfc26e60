"""The command checks its numbers before any request, and closes what it opened.

``sync.concurrency``, ``writes_per_10s``, ``others_per_10s`` and
``prune_max`` in the environment file, and ``--concurrency`` /
``--prune-max`` on the command line, are refused with a clear message (the
file's at its line) before a client exists: no request reaches the emulator,
neither the vault nor ARM. The target's credentials are closed at the end.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from keyvault_platform.cli import conventions as cli
from keyvault_platform.cli.sync import build_parser, main
from keyvault_platform.core.yaml_source import InputError
from keyvault_platform.target.emulator import EmulatorTarget

from .conftest import TEST_KEY

MANIFEST = "scope: acme\nsecrets:\n  - name: k\n    value: {generate: {length: 16}}\n"


def environment(tmp_path: Path, emulator, vault_name: str, sync_block: str) -> Path:
    path = tmp_path / "env.yaml"
    path.write_text(
        f"""\
target:
  kind: emulator
  state_dir: {emulator.state_dir}
tenant_id: {emulator.tenant_id}
subscription_id: {emulator.subscription_id}
resource_group:
  name: rg-local
  location: westeurope
vault:
  name: {vault_name}
sync:
  identity: sync
{sync_block}""",
        encoding="utf-8",
    )
    manifests = tmp_path / "manifests"
    manifests.mkdir(exist_ok=True)
    (manifests / "acme.yaml").write_text(MANIFEST, encoding="utf-8")
    return path


def command(env: Path, tmp_path: Path, *extra: str) -> list[str]:
    return [
        "--env", str(env), "--manifests", str(tmp_path / "manifests"), "--auto-approve", *extra
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("  concurrency: 0", "sync.concurrency must be 1 or more, not 0"),
        ("  concurrency: lots", "sync.concurrency must be a whole number"),
        ("  writes_per_10s: 0", "sync.writes_per_10s must be 1 or more, not 0"),
        ("  others_per_10s: -5", "sync.others_per_10s must be 1 or more, not -5"),
        ("  others_per_10s: 2.5", "sync.others_per_10s must be a whole number"),
        ("  prune_max: -1", "sync.prune_max must be 0 or more, not -1"),
        ("  writes_per_10s: true", "sync.writes_per_10s must be a whole number"),
    ],
)
def test_a_bad_number_in_the_file_fails_at_its_line_before_any_request(
    emulator, vault, tmp_path: Path, line: str, message: str
) -> None:
    env = environment(tmp_path, emulator, vault.name, line + "\n")
    created: list[object] = []

    def factory():
        created.append(emulator.secret_client(vault, "sync"))
        return created[-1]

    args = build_parser().parse_args(command(env, tmp_path, "--plan"))
    start = time.time()
    with pytest.raises(InputError) as caught:
        main(args, cli.Output(io.StringIO(), io.StringIO()), environ={}, client_factory=factory)
    (problem,) = caught.value.problems
    assert str(problem) == f"{env}:13:{line.index(':') + 3}: {message}"
    assert created == []
    assert emulator.audit(since=start) == []


def test_a_bad_number_never_reaches_arm_either(emulator, vault, tmp_path: Path) -> None:
    """Without a client factory the command would ask ARM for the vault's URL first."""
    env = environment(tmp_path, emulator, vault.name, "  concurrency: 0\n")
    stderr = io.StringIO()
    start = time.time()
    code = cli.run(
        build_parser(), main, command(env, tmp_path, "--plan"), stdout=io.StringIO(), stderr=stderr
    )
    assert code == 1
    assert "sync.concurrency must be 1 or more, not 0" in stderr.getvalue()
    assert emulator.audit(since=start) == []


@pytest.mark.parametrize(
    ("option", "error"),
    [
        ("--concurrency=0", "must be 1 or more, not 0"),
        ("--concurrency=-3", "must be 1 or more, not -3"),
        ("--concurrency=x", "'x' is not a whole number"),
        ("--prune-max=-1", "must be 0 or more, not -1"),
    ],
)
def test_command_line_numbers_are_checked_by_the_parser(
    option: str, error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args([option])
    assert caught.value.code == 2
    assert error in capsys.readouterr().err


def test_command_line_numbers_win_over_the_file(emulator, vault, tmp_path: Path) -> None:
    from keyvault_platform.cli.sync import settings
    from keyvault_platform.config.environment import load_environment

    env = load_environment(
        environment(tmp_path, emulator, vault.name, "  concurrency: 3\n  prune_max: 4\n")
    )
    assert settings(env, build_parser().parse_args([])).concurrency == 3
    numbers = settings(env, build_parser().parse_args(["--concurrency", "5", "--prune-max", "0"]))
    assert (numbers.concurrency, numbers.prune_max) == (5, 0)


def test_the_target_is_closed_at_the_end(
    emulator, vault, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Like the provision command: the credentials the target made are closed."""
    env = environment(tmp_path, emulator, vault.name, "  concurrency: 2\n")
    closed: list[EmulatorTarget] = []
    close = EmulatorTarget.close

    def spied_close(self: EmulatorTarget) -> None:
        closed.append(self)
        close(self)

    monkeypatch.setattr(EmulatorTarget, "close", spied_close)
    args = build_parser().parse_args(command(env, tmp_path))
    out = cli.Output(io.StringIO(), io.StringIO())
    assert main(args, out, environ={"SYNC_FINGERPRINT_KEY": TEST_KEY}) == 0
    assert len(closed) == 1 and closed[0].state_dir == emulator.state_dir
    assert "Apply complete! Resources: 1 added" in out.out.getvalue()
