"""The bad-input corpus: every malformed manifest under bad_manifests/ is refused.

Each case is a file (or a directory of files for problems across files).
Each problem it must produce is written in the file where it occurs as a
trailing comment::

    # expect: LINE:COLUMN: text the message contains

The loader must report exactly the expected problems (no more, no fewer),
all at once, and never echo a value. The same corpus runs through the sync
command against the emulator in test_sync_emulator.py, proving nothing is
sent before validation passes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from keyvault_platform.core.yaml_source import InputError
from keyvault_platform.sync.manifests import load_manifests

from .conftest import CANARY

CORPUS = Path(__file__).parent / "bad_manifests"
ENVIRONMENT = {"SYNC_TEST_PRESENT": CANARY, "SYNC_TEST_EMPTY": ""}
_EXPECT = re.compile(rb"^# expect: (\d+):(\d+): (.+)$", re.MULTILINE)


@dataclass(frozen=True)
class Expected:
    file: str
    line: int
    column: int
    text: str


def cases() -> list[Path]:
    return sorted(p for p in CORPUS.iterdir() if p.suffix == ".yaml" or p.is_dir())


def expectations(case: Path) -> list[Expected]:
    files = sorted(case.glob("*.yaml")) if case.is_dir() else [case]
    found = []
    for path in files:
        for match in _EXPECT.finditer(path.read_bytes()):
            found.append(
                Expected(
                    path.name,
                    int(match.group(1)),
                    int(match.group(2)),
                    match.group(3).decode("utf-8").strip(),
                )
            )
    return found


def load_case(case: Path) -> list[tuple[str, int, int, str]]:
    root = case if case.is_dir() else case.parent
    with pytest.raises(InputError) as caught:
        load_manifests([case], root=root, environ=ENVIRONMENT)
    return [
        (p.location.file, p.location.line, p.location.column, p.message)
        for p in caught.value.problems
    ]


def test_corpus_is_large_enough() -> None:
    assert len(cases()) >= 25
    assert all(expectations(case) for case in cases()), "every case states its expectation"


@pytest.mark.parametrize("case", cases(), ids=lambda p: p.name)
def test_bad_manifest_is_refused_with_message_and_location(case: Path) -> None:
    reported = load_case(case)
    expected = expectations(case)
    unmatched = list(reported)
    for want in expected:
        hits = [
            r
            for r in unmatched
            if Path(r[0]).name == want.file
            and (r[1], r[2]) == (want.line, want.column)
            and want.text in r[3]
        ]
        assert hits, f"expected {want} among {reported}"
        unmatched.remove(hits[0])
    assert not unmatched, f"unexpected problems: {unmatched}"


@pytest.mark.parametrize("case", cases(), ids=lambda p: p.name)
def test_bad_manifest_messages_never_echo_values(case: Path) -> None:
    for _, _, _, message in load_case(case):
        assert CANARY not in message
        assert "hunter2" not in message  # the refused literal in 10-literal-sensitive.yaml


def test_problems_of_all_files_are_reported_together(tmp_path: Path) -> None:
    """Validation does not stop at the first bad file."""
    picked = [CORPUS / "05-bad-name-chars.yaml", CORPUS / "13-missing-env.yaml"]
    root = CORPUS
    with pytest.raises(InputError) as caught:
        load_manifests(picked, root=root, environ=ENVIRONMENT)
    files = {p.location.file for p in caught.value.problems}
    assert files == {"05-bad-name-chars.yaml", "13-missing-env.yaml"}
