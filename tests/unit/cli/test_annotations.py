"""CI annotations: each runner's command syntax, and its escaping rules."""

from __future__ import annotations

from pathlib import Path

from keyvault_platform.cli.annotations import (
    AnnotationFormat,
    annotation,
    azure_devops_text,
    github_data,
    github_property,
)
from keyvault_platform.core.problems import Location, Problem

ROOT = Path("/work/repo")
PROBLEM = Problem(Location("secrets/contoso.yaml", 3, 11), "name 'bad_name' is not valid")


def test_github_workflow_command() -> None:
    line = annotation(PROBLEM, AnnotationFormat.GITHUB, root=ROOT, environ={})
    assert line == "::error file=secrets/contoso.yaml,line=3,col=11::name 'bad_name' is not valid"


def test_azure_devops_logging_command() -> None:
    line = annotation(PROBLEM, AnnotationFormat.AZURE_DEVOPS, root=ROOT, environ={})
    assert line == (
        "##vso[task.logissue type=error;sourcepath=secrets/contoso.yaml;linenumber=3;"
        "columnnumber=11]name 'bad_name' is not valid"
    )


def test_a_whole_file_problem_has_no_line() -> None:
    whole = Problem(Location("environments/huge.yaml"), "file is larger than 1,048,576 bytes")
    github = annotation(whole, AnnotationFormat.GITHUB, root=ROOT, environ={})
    # Commas are escaped in properties only, not in the message.
    assert github == "::error file=environments/huge.yaml::file is larger than 1,048,576 bytes"
    azure = annotation(whole, AnnotationFormat.AZURE_DEVOPS, root=ROOT, environ={})
    assert "linenumber" not in azure and "sourcepath=environments/huge.yaml]" in azure


def test_github_escaping_of_message_and_properties() -> None:
    assert github_data("50% done\r\nnext: a, b") == "50%25 done%0D%0Anext: a, b"
    assert github_property("C:\\dir,x%\n") == "C%3A\\dir%2Cx%25%0A"


def test_a_newline_in_a_message_cannot_start_a_second_command() -> None:
    evil = Problem(Location("a.yaml", 1, 1), "bad\n::error file=x::forged")
    for form in (AnnotationFormat.GITHUB, AnnotationFormat.AZURE_DEVOPS):
        line = annotation(evil, form, root=ROOT, environ={})
        assert "\n" not in line and "\r" not in line


def test_azure_devops_escaping() -> None:
    assert azure_devops_text("a;b]c\r\nd") == "a%3Bb%5Dc%0D%0Ad"
    # A lone % stays as written (the agent decodes %AZP25 only behind an opt-in
    # knob); one that would begin an escape sequence is itself escaped.
    assert azure_devops_text("100% sure") == "100% sure"
    assert azure_devops_text("literal %3B and %0A") == "literal %AZP253B and %AZP250A"


def test_azure_devops_property_cannot_close_the_bracket() -> None:
    odd = Problem(Location("odd];type=warning.yaml", 2, 4), "x")
    line = annotation(odd, AnnotationFormat.AZURE_DEVOPS, root=ROOT, environ={})
    assert line.count("]") == 1 and "sourcepath=odd%5D%3Btype=warning.yaml" in line


def test_paths_are_relative_to_the_ci_workspace(tmp_path: Path) -> None:
    config = tmp_path / "config"
    environ = {"GITHUB_WORKSPACE": str(tmp_path), "BUILD_SOURCESDIRECTORY": str(tmp_path)}
    github = annotation(PROBLEM, AnnotationFormat.GITHUB, root=config, environ=environ)
    assert "file=config/secrets/contoso.yaml," in github
    azure = annotation(PROBLEM, AnnotationFormat.AZURE_DEVOPS, root=config, environ=environ)
    assert "sourcepath=config/secrets/contoso.yaml;" in azure
    elsewhere = {"GITHUB_WORKSPACE": str(tmp_path / "other")}
    assert "file=secrets/contoso.yaml," in annotation(
        PROBLEM, AnnotationFormat.GITHUB, root=config, environ=elsewhere
    )
