"""Problems as CI annotations: GitHub Actions workflow commands, Azure DevOps logging commands.

``keyvault-platform validate --format github`` (or ``azure-devops``) prints
each problem as one line the CI runner turns into an error annotation on the
file and line, shown in the pull request's diff:

- GitHub: ``::error file=F,line=L,col=C::message``. Workflow-command
  escaping: in the message ``%``, CR and LF become ``%25``, ``%0D``,
  ``%0A``; in a property ``:`` and ``,`` too (``%3A``, ``%2C``), as
  ``@actions/core`` escapes them.
- Azure DevOps: ``##vso[task.logissue type=error;sourcepath=F;linenumber=L;
  columnnumber=C]message``. The agent decodes ``%3B`` (``;``), ``%0D``,
  ``%0A`` and ``%5D`` (``]``) in properties and message; ``%AZP25`` becomes
  ``%`` only where the agent decodes percents (an opt-in knob), so a ``%`` is
  written as ``%AZP25`` only where it would otherwise begin one of those
  sequences: the text then reads back the same with the knob on or off,
  except in that one case.

A problem without a line (a file too large, a file missing) annotates the
file alone. Paths are made relative to the CI workspace (``GITHUB_WORKSPACE``,
``BUILD_SOURCESDIRECTORY``) when the file lies inside it, since that is what
both runners match against the repository.
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Mapping
from pathlib import Path

from keyvault_platform.core.problems import Problem


class AnnotationFormat(enum.StrEnum):
    """Where validation's problems go: text for people, or a CI runner's commands."""

    TEXT = "text"
    GITHUB = "github"
    AZURE_DEVOPS = "azure-devops"


#: The variable each runner sets to the checked-out repository.
WORKSPACE_VARIABLE = {
    AnnotationFormat.GITHUB: "GITHUB_WORKSPACE",
    AnnotationFormat.AZURE_DEVOPS: "BUILD_SOURCESDIRECTORY",
}


def github_data(text: str) -> str:
    """Escape a workflow command's message."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def github_property(text: str) -> str:
    """Escape a workflow command's property value."""
    return github_data(text).replace(":", "%3A").replace(",", "%2C")


_AZURE_SEQUENCES = ("%3B", "%0D", "%0A", "%5D", "%AZP25")
_AZURE_PERCENT = re.compile("%(?=" + "|".join(s[1:] for s in _AZURE_SEQUENCES) + ")")


def azure_devops_text(text: str) -> str:
    """Escape a logging command's property value or message."""
    text = _AZURE_PERCENT.sub("%AZP25", text)
    return text.replace(";", "%3B").replace("\r", "%0D").replace("\n", "%0A").replace("]", "%5D")


def annotation(
    problem: Problem,
    form: AnnotationFormat,
    *,
    root: Path,
    environ: Mapping[str, str] | None = None,
) -> str:
    """One error annotation for ``problem`` (whose file is relative to ``root``)."""
    environ = os.environ if environ is None else environ
    where = problem.location
    path = _workspace_path(root / where.file, environ.get(WORKSPACE_VARIABLE[form], ""), where.file)
    if form is AnnotationFormat.GITHUB:
        properties = {"file": path}
        if where.line:
            properties |= {"line": str(where.line), "col": str(where.column)}
        listed = ",".join(f"{k}={github_property(v)}" for k, v in properties.items())
        return f"::error {listed}::{github_data(problem.message)}"
    if form is AnnotationFormat.AZURE_DEVOPS:
        properties = {"type": "error", "sourcepath": path}
        if where.line:
            properties |= {"linenumber": str(where.line), "columnnumber": str(where.column)}
        listed = ";".join(f"{k}={azure_devops_text(v)}" for k, v in properties.items())
        return f"##vso[task.logissue {listed}]{azure_devops_text(problem.message)}"
    raise ValueError(f"not an annotation format: {form}")


def _workspace_path(absolute: Path, workspace: str, as_given: str) -> str:
    if not workspace:
        return as_given
    try:
        return absolute.resolve().relative_to(Path(workspace).resolve()).as_posix()
    except ValueError:  # outside the workspace: the runner cannot place it anyway
        return as_given
