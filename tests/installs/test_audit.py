"""`make audit`: the accepted-vulnerabilities file, and pip-audit failing on a known one.

The file's rules are offline unit tests. The audit itself runs end to end
twice:

- against a fabricated advisory record, served by an OSV-compatible service
  on loopback (``--osv-url``): the audit must fail naming it, and pass once
  it is accepted. No network; it runs in ``make test``.
- against the real advisory data (PyPI's, pip-audit's default), on a scratch
  lock pinning requests 2.19.1 (CVE-2018-18074, PYSEC-2018-28, ...). That
  needs PyPI's per-version JSON, which some networks do not serve (a mirror
  of the package index only), so it carries the ``network`` marker: ``make
  test`` leaves it out, ``make test-network`` (run by the shipped
  pipelines) runs it, and there it fails if the data does not answer.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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


def _make_audit(
    tmp_path: Path, lock: Path, accepted: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "tools.audit", "--lock", str(lock)]
    command += ["--accepted", str(accepted)]
    return subprocess.run(
        [*command, *extra],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=AUDIT_TIMEOUT,
        check=False,
    )


FABRICATED_ID = "KVP-TEST-2026-0001"


@pytest.fixture
def fabricated_advisories() -> Iterator[str]:
    """An OSV-compatible query endpoint on loopback: one made-up advisory for requests 2.19.1."""
    queries: list[dict[str, object]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            query = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            queries.append(query)
            package = query["package"]["name"]
            found = package == "requests" and query["version"] == "2.19.1"
            body = json.dumps(
                {"vulns": [{
                    "id": FABRICATED_ID,
                    "summary": "a fabricated advisory for the audit's own test",
                    "affected": [{
                        "package": {"name": "requests", "ecosystem": "PyPI"},
                        "ranges": [{"type": "ECOSYSTEM",
                                    "events": [{"introduced": "0"}, {"fixed": "2.20.0"}]}],
                    }],
                }]} if found else {}
            ).encode()  # fmt: skip
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/query"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert queries, "the audit never asked the fabricated service"


def test_the_audit_fails_on_a_fabricated_advisory_and_passes_once_it_is_accepted(
    tmp_path: Path, fabricated_advisories: str
) -> None:
    lock = tmp_path / "vulnerable.txt"
    lock.write_text(VULNERABLE_LOCK, encoding="utf-8")
    accepted = tmp_path / "accepted.toml"
    accepted.write_text("# nothing accepted yet\n", encoding="utf-8")
    service = ("--osv-url", fabricated_advisories)

    failing = _make_audit(tmp_path, lock, accepted, *service)
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert FABRICATED_ID in failing.stdout

    expires = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    accepted.write_text(
        _entry(expires=expires, id=FABRICATED_ID, reason="test: accepted"), encoding="utf-8"
    )
    passing = _make_audit(tmp_path, lock, accepted, *service)
    assert passing.returncode == 0, passing.stdout + passing.stderr
    assert f"accepted until {expires}: {FABRICATED_ID} in requests" in passing.stdout


@pytest.mark.network
def test_the_audit_fails_on_a_known_vulnerability_and_passes_once_it_is_accepted(
    tmp_path: Path,
) -> None:
    assert _advisory_service_answers(), f"PyPI's advisory data ({ADVISORY_URL}) does not answer"
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
