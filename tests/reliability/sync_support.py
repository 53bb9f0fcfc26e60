"""Shared pieces of the sync fault and crash suites.

- :class:`Fleet`: N declared secrets over several scopes, written as
  manifests: 60% from environment variables, 20% from files, 20%
  generated, each with its own value;
- :func:`write_environment`: an environment file aimed at an emulator vault;
- :func:`read_back`: every declared secret read back as the sync identity
  and judged: value right, owner tag and fingerprint tag present and
  matching the value (generated values are checked against their tag).

Values are never printed: verdicts are counts and names.
"""

from __future__ import annotations

import random
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from keyvault_platform.sync import fingerprint as fp
from keyvault_platform.sync.manifests import FINGERPRINT_TAG, OWNER_TAG, OWNER_VALUE

#: The fingerprint key the suites sync with (test-only; at least 32 characters).
FINGERPRINT_KEY = "reliability-suite-fingerprint-key-4c1d9e7a"
SCOPES = ("GLOBAL", "contoso", "fabrikam", "northwind")
FAILED_LINE = re.compile(r"^\s+secret\.(\S+): ", re.MULTILINE)


def keyring() -> fp.Keyring:
    return fp.Keyring(fp.FingerprintKey.from_text(FINGERPRINT_KEY))


@dataclass
class Fleet:
    """``count`` secrets declared in manifests under ``directory``."""

    directory: Path
    count: int
    seed: int = 0
    environ: dict[str, str] = field(default_factory=dict)
    values: dict[str, str | None] = field(
        default_factory=dict
    )  # vault name -> value (None: generated)

    def __post_init__(self) -> None:
        rng = random.Random(self.seed)
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "values").mkdir(exist_ok=True)
        run = uuid.uuid4().hex[:8]
        self.environ = {fp.KEY_ENV: FINGERPRINT_KEY}
        entries: dict[str, list[str]] = {scope: [] for scope in SCOPES}
        for index in range(self.count):
            scope = SCOPES[index % len(SCOPES)]
            name = f"s{index:05d}"
            vault_name = f"{scope}--{name}"
            kind = rng.random()
            if kind < 0.6:
                variable = f"REL_{scope.upper()}_{name.upper()}"
                value = f"env-{run}-{index}-{uuid.uuid4().hex}"
                self.environ[variable] = value
                source = f"{{env: {variable}}}"
            elif kind < 0.8:
                value = f"file-{run}-{index}-{uuid.uuid4().hex}\nsecond line"
                path = self.directory / "values" / f"{vault_name}.txt"
                path.write_text(value, encoding="utf-8")
                source = f"{{file: values/{vault_name}.txt}}"
            else:
                value = None
                source = "{generate: {length: 40, alphabet: base64url}}"
            self.values[vault_name] = value
            entries[scope].append(
                f"  - name: {name}\n    value: {source}\n    tags: {{batch: r{self.seed}}}\n"
            )
        for scope, lines in entries.items():
            text = f"scope: {scope}\nsecrets:\n" + "".join(lines)
            (self.directory / f"{scope}.yaml").write_text(text, encoding="utf-8")

    @property
    def known_values(self) -> list[str]:
        return [v for v in self.values.values() if v is not None]

    def change_values(self, rng: random.Random, share: float = 0.8) -> dict[str, str]:
        """Give ``share`` of the env and file secrets a new value; returns their old values."""
        old: dict[str, str] = {}
        run = uuid.uuid4().hex[:8]
        for index, (name, value) in enumerate(sorted(self.values.items())):
            if value is None or rng.random() >= share:
                continue
            new = f"{value.split('-', 1)[0]}-{run}-{index}-{uuid.uuid4().hex}"
            variable = self._variable(name)
            if variable in self.environ:
                self.environ[variable] = new
            else:
                new += "\nsecond line"
                (self.directory / "values" / f"{name}.txt").write_text(new, encoding="utf-8")
            old[name] = value
            self.values[name] = new
        return old

    @staticmethod
    def _variable(vault_name: str) -> str:
        scope, name = vault_name.split("--", 1)
        return f"REL_{scope.upper()}_{name.upper()}"


def write_environment(
    path: Path,
    *,
    state_dir: Path | str,
    tenant_id: str,
    subscription_id: str,
    vault_name: str,
    resource_group: str = "rg-local",
    writes_per_10s: int = 280,
    concurrency: int = 8,
) -> Path:
    path.write_text(
        f"""\
target:
  kind: emulator
  state_dir: {state_dir}
tenant_id: {tenant_id}
subscription_id: {subscription_id}
resource_group:
  name: {resource_group}
  location: westeurope
vault:
  name: {vault_name}
sync:
  identity: sync
  writes_per_10s: {writes_per_10s}
  concurrency: {concurrency}
""",
        encoding="utf-8",
    )
    return path


@dataclass
class Verdict:
    correct: set[str] = field(default_factory=set)
    wrong_value: set[str] = field(default_factory=set)
    missing: set[str] = field(default_factory=set)
    untagged: set[str] = field(default_factory=set)  # owner or fingerprint tag lost or stale
    generated: dict[str, str] = field(default_factory=dict)  # name -> value (never printed)

    @property
    def bad(self) -> set[str]:
        return self.wrong_value | self.missing | self.untagged

    def summary(self) -> str:
        return (
            f"{len(self.correct)} correct, {len(self.wrong_value)} wrong value, "
            f"{len(self.missing)} missing, {len(self.untagged)} with a tag lost"
        )


def read_back(client: Any, fleet: Fleet) -> Verdict:
    """Read every declared secret as the sync identity; judge value and tags."""
    ring = keyring()
    verdict = Verdict()
    for name, expected in fleet.values.items():
        try:
            secret = client.get_secret(name)
        except ResourceNotFoundError:
            verdict.missing.add(name)
            continue
        tags = secret.properties.tags or {}
        value = secret.value or ""
        if expected is None:
            verdict.generated[name] = value
            ok_value = len(value) == 40
        else:
            ok_value = value == expected
        if not ok_value:
            verdict.wrong_value.add(name)
            continue
        tagged = (
            tags.get(OWNER_TAG) == OWNER_VALUE
            and ring.verify(tags.get(FINGERPRINT_TAG), name, value) is fp.Verdict.MATCH
        )
        if not tagged:
            verdict.untagged.add(name)
            continue
        verdict.correct.add(name)
    return verdict


def failed_names(output: str) -> set[str]:
    """The secrets an apply's output names as failed."""
    return set(FAILED_LINE.findall(output))
