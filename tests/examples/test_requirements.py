"""The Functions example's requirements install nothing by a name no index serves."""

from __future__ import annotations

from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

REQUIREMENTS = (
    Path(__file__).resolve().parents[2] / "examples" / "function_app" / "requirements.txt"
)


def _lines(text: str) -> list[str]:
    return [
        line.split(" #")[0].strip()
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def test_the_runtime_is_named_by_a_direct_reference_never_by_its_bare_name() -> None:
    lines = _lines(REQUIREMENTS.read_text(encoding="utf-8"))
    runtime = [line for line in lines if "orgsecrets" in line.replace("_", "-")]
    assert runtime, "the example must install the runtime"
    for line in runtime:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:  # a path to a wheel file: pip installs exactly that file
            assert line.startswith("./wheels/keyvault_orgsecrets-") and line.endswith(".whl")
            continue
        assert requirement.url, f"{line!r} would be looked up on a package index"


def test_the_other_requirements_have_lower_bounds() -> None:
    lines = _lines(REQUIREMENTS.read_text(encoding="utf-8"))
    others = [Requirement(line) for line in lines if "orgsecrets" not in line.replace("_", "-")]
    assert [r.name for r in others] == ["azure-functions"]
    assert all(any(s.operator == ">=" for s in r.specifier) for r in others)


def test_the_documented_git_url_is_a_valid_direct_reference() -> None:
    commented = [
        line.lstrip("# ").strip()
        for line in REQUIREMENTS.read_text(encoding="utf-8").splitlines()
        if "git+https://" in line
    ]
    (line,) = commented
    requirement = Requirement(line.replace("<host>/<repo>@<tag>", "example.invalid/r@v1"))
    assert requirement.name == "keyvault-orgsecrets"
    assert requirement.url is not None and requirement.url.endswith("#subdirectory=runtime")
