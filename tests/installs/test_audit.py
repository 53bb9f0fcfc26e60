"""`make audit`: the accepted-vulnerabilities file, and pip-audit failing on a known one.

The file's rules are offline unit tests. The end-to-end check audits a scratch
lock pinning requests 2.19.1 (CVE-2018-18074, PYSEC-2018-28, and later ones):
it must fail, and pass once every reported id is accepted. It needs PyPI's
per-version advisory data (pip-audit's default ``pypi`` service); where that
answers 404 or not at all (a mirror that serves only the package index) it
is skipped, unless ``KVP_AUDIT_NETWORK=required`` (the shipped pipelines set
it), where it fails.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tools.audit import Accepted, AcceptedFileError, audit_command, read_accepted

TODAY = dt.date(2026, 6, 1)
AUDIT_TIMEOUT = 180
#: requests 2.19.1, its two files' sha256 as PyPI lists them.
VULNERABLE_LOCK = """\
requests==2.19.1 \\
    --hash=sha256:63b52e3c866428a224f97cab011de738c36aec0185aa91cfacd418b5d58911d1 \\
    --hash=sha256:ec22d826a36ed72a7358ff3fe56cbd4ba69dd7a6718ffd450ff0e9df7a47ce6a
"""
ADVISORY_URL = "https://pypi.org/pypi/requests/2.19.1/json"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "accepted.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _entry(expires: str = "2026-06-30", **fields: str) -> str:
    values = {"id": "PYSEC-2018-28", "package": "requests", "reason": "no proxies", **fields}
    body = "".join(f'{key} = "{value}"\n' for key, value in values.items())
    return f"[[accepted]]\n{body}expires = {expires}\n"


def test_no_file_and_a_file_of_comments_accept_nothing(tmp_path: Path) -> None:
    assert read_accepted(tmp_path / "missing.toml", today=TODAY) == []
    repository_file = Path(__file__).resolve().parents[2] / "requirements/audit-accepted.toml"
    assert isinstance(read_accepted(repository_file, today=dt.date.today()), list)
    assert read_accepted(_write(tmp_path, "# nothing accepted\n"), today=TODAY) == []


def test_an_entry_is_read_until_its_expiry_day(tmp_path: Path) -> None:
    path = _write(tmp_path, _entry(expires="2026-06-01"))
    assert read_accepted(path, today=TODAY) == [
        Accepted("PYSEC-2018-28", "requests", "no proxies", dt.date(2026, 6, 1))
    ]


def test_an_expired_entry_fails_naming_the_id_and_the_date(tmp_path: Path) -> None:
    path = _write(tmp_path, _entry(expires="2026-05-31"))
    with pytest.raises(AcceptedFileError, match=r"#1: the acceptance of PYSEC-2018-28 \(requests\) "
                       r"expired on 2026-05-31; upgrade"):  # fmt: skip
        read_accepted(path, today=TODAY)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_entry().replace('reason = "no proxies"\n', ""), r"missing \['reason'\]"),
        (_entry(reason="  "), "`reason` must be a non-empty string"),
        (_entry(owner="me"), r"unknown \['owner'\]"),
        (_entry(expires='"2026-06-30"'), "`expires` must be a TOML date"),
        (_entry(expires="2026-06-30T00:00:00"), "`expires` must be a TOML date"),
        ("[accepted]\nid = 1\n", "must be an array of tables"),
        ("ignore = []\n", r"unknown keys \['ignore'\]"),
        ("[[accepted]\n", "not valid TOML"),
    ],
    ids=["no-reason", "blank-reason", "unknown-key", "string-date", "datetime", "table",
         "top-level", "syntax"],
)  # fmt: skip
def test_a_malformed_file_is_refused_saying_what(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(AcceptedFileError, match=message):
        read_accepted(_write(tmp_path, text), today=TODAY)


def test_the_command_is_strict_and_ignores_each_accepted_id(tmp_path: Path) -> None:
    accepted = [
        Accepted("PYSEC-2018-28", "requests", "r", TODAY),
        Accepted("GHSA-j8r2-6x86-q33q", "requests", "r", TODAY),
    ]
    command = audit_command(tmp_path / "lock.txt", accepted)
    assert "--strict" in command and "--require-hashes" in command
    assert command[-4:] == [
        "--ignore-vuln",
        "PYSEC-2018-28",
        "--ignore-vuln",
        "GHSA-j8r2-6x86-q33q",
    ]


def _advisory_service_answers() -> bool:
    try:
        with urllib.request.urlopen(ADVISORY_URL, timeout=20) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, TimeoutError):
        return False


def _make_audit(tmp_path: Path, lock: Path, accepted: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.audit", "--lock", str(lock), "--accepted", str(accepted)],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=AUDIT_TIMEOUT,
        check=False,
    )


def test_the_audit_fails_on_a_known_vulnerability_and_passes_once_it_is_accepted(
    tmp_path: Path,
) -> None:
    if not _advisory_service_answers():
        if os.environ.get("KVP_AUDIT_NETWORK") == "required":
            pytest.fail(f"PyPI's advisory data ({ADVISORY_URL}) does not answer")
        pytest.skip(f"PyPI's per-version advisory data ({ADVISORY_URL}) does not answer here")
    lock = tmp_path / "vulnerable.txt"
    lock.write_text(VULNERABLE_LOCK, encoding="utf-8")
    accepted = tmp_path / "accepted.toml"
    accepted.write_text("# nothing accepted yet\n", encoding="utf-8")

    failing = _make_audit(tmp_path, lock, accepted)
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert "PYSEC-2018-28" in failing.stdout or "CVE-2018-18074" in failing.stdout

    report = subprocess.run(
        [*audit_command(lock, []), "--format", "json"],
        capture_output=True, text=True, timeout=AUDIT_TIMEOUT, check=False,
    )  # fmt: skip
    (dependency,) = json.loads(report.stdout)["dependencies"]
    ids = [vulnerability["id"] for vulnerability in dependency["vulns"]]
    expires = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    accepted.write_text(
        "".join(_entry(expires=expires, id=vid, reason="test: accepted") for vid in ids),
        encoding="utf-8",
    )
    passing = _make_audit(tmp_path, lock, accepted)
    assert passing.returncode == 0, passing.stdout + passing.stderr
    assert f"accepted until {expires}: PYSEC-2018-28 in requests" in passing.stdout
