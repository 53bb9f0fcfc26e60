"""The runtime installs for real: from its built wheel, and from a git URL with
``#subdirectory=runtime``, as runtime/README.md documents.

Both builds use the locked setuptools of this environment (no build
isolation, no dependencies fetched), in copies outside the checkout.
"""

from __future__ import annotations

import email
import email.policy
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[2]
RUNTIME = CHECKOUT / "runtime"
IGNORE = shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__")


def _pip(*arguments: str, cwd: Path) -> None:
    ran = subprocess.run(
        [sys.executable, "-m", "pip", *arguments, "--no-deps", "--no-build-isolation", "-q"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert ran.returncode == 0, f"pip {' '.join(arguments)}\n{ran.stdout}\n{ran.stderr}"


def _metadata(dist_info: Path) -> email.message.EmailMessage:
    text = (dist_info / "METADATA").read_text(encoding="utf-8")
    message = email.message_from_string(text, policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    return message


def test_the_wheel_shows_the_readme_as_its_page_and_ships_the_events_module(
    tmp_path: Path,
) -> None:
    source = tmp_path / "runtime"
    shutil.copytree(RUNTIME, source, ignore=IGNORE)
    _pip("wheel", "-w", str(tmp_path / "wheels"), ".", cwd=source)
    (wheel,) = (tmp_path / "wheels").glob("keyvault_orgsecrets-*-py3-none-any.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        (metadata_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = email.message_from_bytes(
            archive.read(metadata_name), policy=email.policy.default
        )
    assert metadata["Name"] == "keyvault-orgsecrets"
    assert metadata["Description-Content-Type"] == "text/markdown"
    readme = (RUNTIME / "README.md").read_text(encoding="utf-8")
    assert str(metadata.get_payload()).strip() == readme.strip()
    assert {"orgsecrets/events.py", "orgsecrets/py.typed", "orgsecrets/naming.py"} <= names
    requires = sorted(metadata.get_all("Requires-Dist") or [])
    assert [r.split(">=")[0] for r in requires if "extra ==" not in r] == [
        "azure-identity",
        "azure-keyvault-secrets",
    ]


def test_a_git_url_with_the_runtime_subdirectory_installs_the_package(tmp_path: Path) -> None:
    repository = tmp_path / "repository"
    shutil.copytree(RUNTIME, repository / "runtime", ignore=IGNORE)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    for command in (["init", "-q"], ["add", "."], ["commit", "-qm", "release"], ["tag", "v0.1.0"]):
        subprocess.run([*git, *command], cwd=repository, check=True, capture_output=True)
    target = tmp_path / "site"
    url = f"git+{repository.as_uri()}@v0.1.0#subdirectory=runtime"
    _pip("install", "--target", str(target), f"keyvault-orgsecrets @ {url}", cwd=tmp_path)
    assert (target / "orgsecrets" / "events.py").is_file()
    (dist_info,) = target.glob("keyvault_orgsecrets-*.dist-info")
    assert _metadata(dist_info)["Name"] == "keyvault-orgsecrets"
