"""A new config repository that works at once: ``keyvault-platform init DIR``.

The files are package data (``templates/``), read with
:mod:`importlib.resources`; a few words in them are filled in
(``@@ORG@@``, ``@@VERSION@@``, ``@@TOOL_SPEC@@``). What it writes:

========================================  ==============================================
file                                      what for
========================================  ==============================================
``environments/local.yaml``               a vault on the local emulator
``environments/azure.example.yaml``       a vault on Azure, to copy and fill in
``secrets/GLOBAL.yaml``                   platform-wide secrets (generated and literal)
``secrets/<org>.yaml``                    one org's secrets
``secrets.schema.yaml``                   the manifest schema, for editors
``Makefile``                              validate, plan, provision, sync-plan, sync, ...
``tool-requirements.txt``                 the tool release pipelines install
``.github/workflows/keyvault.yml``        GitHub Actions
``azure-pipelines.yml``                   Azure DevOps
``.github/dependabot.yml``                update pull requests: the tool, the actions
``.gitignore``, ``README.md``
========================================  ==============================================

It never overwrites a file unless told to (``force``); without it, a
directory that already holds any of these files is refused, naming them.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from orgsecrets import naming

from keyvault_platform import __version__, schemas
from keyvault_platform.core.errors import ActionableError

#: template (under templates/) -> where it goes in the new repository.
FILES = {
    "environments/local.yaml": "environments/local.yaml",
    "environments/azure.example.yaml": "environments/azure.example.yaml",
    "secrets/GLOBAL.yaml": "secrets/GLOBAL.yaml",
    "secrets/ORG.yaml": "secrets/@@ORG@@.yaml",
    "Makefile": "Makefile",
    "tool-requirements.txt": "tool-requirements.txt",
    "github-workflow.yml": ".github/workflows/keyvault.yml",
    "azure-pipelines.yml": "azure-pipelines.yml",
    "dependabot.yml": ".github/dependabot.yml",
    "gitignore": ".gitignore",
    "README.md": "README.md",
}
SCHEMA_FILE = "secrets.schema.yaml"
DEFAULT_ORG = "contoso"


@dataclass(frozen=True)
class Words:
    """What the templates' placeholders are filled with."""

    org: str
    tool_spec: str
    version: str = __version__

    def fill(self, text: str) -> str:
        return (
            text.replace("@@ORG@@", self.org)
            .replace("@@TOOL_SPEC@@", self.tool_spec)
            .replace("@@VERSION@@", self.version)
        )


def default_tool_spec() -> str:
    """The requirement that installs the running release of the tool."""
    return f"keyvault-platform=={__version__}"


def scaffold(
    directory: Path,
    *,
    org: str = DEFAULT_ORG,
    tool_spec: str | None = None,
    force: bool = False,
) -> list[Path]:
    """Write a new config repository into ``directory``; returns the files written."""
    try:
        naming.validate_org_id(org)
    except naming.InvalidSecretNameError as exc:
        raise ActionableError(f"--org: {exc}") from None
    words = Words(org=org, tool_spec=tool_spec or default_tool_spec())
    planned: dict[Path, str | None] = {
        directory / words.fill(dest): source for source, dest in FILES.items()
    }
    planned[directory / SCHEMA_FILE] = None
    existing = sorted(p for p in planned if p.exists())
    if existing and not force:
        shown = ", ".join(str(p.relative_to(directory)) for p in existing)
        raise ActionableError(
            f"{directory} already has {shown}; nothing was written",
            hint="choose an empty directory, or pass --force to overwrite these files",
        )
    templates = resources.files(__name__).joinpath("templates")
    written: list[Path] = []
    for path, source in planned.items():
        if source is None:
            text = schemas.schema_text(schemas.SECRETS)
        else:
            text = words.fill(templates.joinpath(source).read_text(encoding="utf-8"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return sorted(written)

