"""Only ``keyvault_platform/target/`` knows whether it talks to Azure or the emulator.

The rest of the package holds a ``Target`` and asks it; it never checks which
kind it holds, nor names a cloud's endpoints (they are rows in ``clouds.py``).
"""

from __future__ import annotations

import re
from pathlib import Path

import keyvault_platform

PACKAGE = Path(keyvault_platform.__file__).resolve().parent
TARGET = PACKAGE / "target"

FORBIDDEN = {
    "an is_emulator check": re.compile(r"\bis_emulator\b"),
    "a comparison of a target kind": re.compile(
        r"""(?:\bkind|\[\s*["']kind["']\s*\])\s*[!=]=\s*["'](?:azure|emulator)["']"""
    ),
    "a Resource Manager host": re.compile(
        r"management\.(?:core\.)?(?:azure\.com|chinacloudapi\.cn|usgovcloudapi\.net)"
    ),
    "a Key Vault host": re.compile(r"vault\.(?:azure\.net|azure\.cn|usgovcloudapi\.net)"),
}

# The environment file's parser reads its own `kind` key to apply the
# emulator's default state directory (the file format, not a branch on a target).
ALLOWED = {("config/environment.py", 'if target["kind"] == "emulator":')}


def offences() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.is_relative_to(TARGET):
            continue
        relative = path.relative_to(PACKAGE).as_posix()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for what, pattern in FORBIDDEN.items():
                if pattern.search(line) and (relative, line.strip()) not in ALLOWED:
                    found.append(f"{relative}:{number}: {what}: {line.strip()}")
    return found


def test_nothing_outside_the_target_package_knows_which_target_it_has() -> None:
    assert offences() == []


def test_the_scan_sees_the_package_and_finds_what_it_looks_for() -> None:
    """Guards the guard: the scan reads real sources, and each pattern matches its offence."""
    assert (PACKAGE / "provision" / "verify.py").is_file()
    assert sum(1 for _ in PACKAGE.rglob("*.py")) > 20
    samples = {
        "an is_emulator check": "if target.is_emulator:",
        "a comparison of a target kind": 'if spec.kind == "azure":',
        "a Resource Manager host": 'url = "https://management.chinacloudapi.cn"',
        "a Key Vault host": 'f"https://{name}.vault.azure.net/"',
    }
    for what, sample in samples.items():
        assert FORBIDDEN[what].search(sample), what
    assert not FORBIDDEN["a comparison of a target kind"].search('if kind == "pattern":')
