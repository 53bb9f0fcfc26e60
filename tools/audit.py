"""``make audit``: the locked versions against the known vulnerabilities.

pip-audit reads each lock (hash-pinned, so it needs no pip resolve) and asks
PyPI's advisory data about every pin. ``--strict``: a pin it cannot look up
fails the audit, where plain pip-audit would skip it and still say "No known
vulnerabilities found". Accepted vulnerabilities come from
``requirements/audit-accepted.toml``: an id, the package, a reason and an
expiry date; an expired or malformed entry fails the audit before anything
is asked. ``--osv-url URL`` asks an OSV-compatible service instead (a
mirror inside a closed network, or a test's fabricated advisories).
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from tools.locks import LOCKS, ROOT

ACCEPTED_FILE = ROOT / "requirements" / "audit-accepted.toml"
FIELDS = {"id", "package", "reason", "expires"}
#: Seconds pip-audit waits for one answer from the advisory service.
SERVICE_TIMEOUT = 30


class AcceptedFileError(ValueError):
    """The accepted-vulnerabilities file is malformed or holds an expired entry."""


@dataclass(frozen=True)
class Accepted:
    """One vulnerability we knowingly keep, until ``expires``."""

    id: str
    package: str
    reason: str
    expires: dt.date


def read_accepted(path: Path, *, today: dt.date) -> list[Accepted]:
    """The accepted vulnerabilities in ``path``; an error names the entry and what is wrong."""
    if not path.exists():
        return []
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise AcceptedFileError(f"{path}: not valid TOML: {exc}") from None
    unknown = set(document) - {"accepted"}
    if unknown:
        raise AcceptedFileError(f"{path}: unknown keys {sorted(unknown)}; only [[accepted]]")
    entries = document.get("accepted", [])
    if not isinstance(entries, list):
        raise AcceptedFileError(f"{path}: `accepted` must be an array of tables ([[accepted]])")
    accepted: list[Accepted] = []
    for number, entry in enumerate(entries, start=1):
        where = f"{path}: [[accepted]] #{number}"
        if set(entry) != FIELDS:
            missing, extra = FIELDS - set(entry), set(entry) - FIELDS
            raise AcceptedFileError(
                f"{where}: needs exactly {sorted(FIELDS)}"
                + (f"; missing {sorted(missing)}" if missing else "")
                + (f"; unknown {sorted(extra)}" if extra else "")
            )
        for text in ("id", "package", "reason"):
            if not isinstance(entry[text], str) or not entry[text].strip():
                raise AcceptedFileError(f"{where}: `{text}` must be a non-empty string")
        expires = entry["expires"]
        if not isinstance(expires, dt.date) or isinstance(expires, dt.datetime):
            raise AcceptedFileError(f"{where}: `expires` must be a TOML date like 2026-03-31")
        if expires < today:
            raise AcceptedFileError(
                f"{where}: the acceptance of {entry['id']} ({entry['package']}) expired on "
                f"{expires}; upgrade (`make lock`) or renew it with a new reason and date"
            )
        accepted.append(Accepted(entry["id"], entry["package"], entry["reason"], expires))
    return accepted


def audit_command(
    lock: Path, accepted: list[Accepted], *, osv_url: str | None = None
) -> list[str]:
    """The pip-audit command that checks one lock, ignoring the accepted ids.

    ``osv_url``: ask this OSV-compatible service, not PyPI's advisory data.
    """
    command = [
        str(Path(sys.executable).parent / "pip-audit"),
        "--requirement",
        str(lock),
        "--require-hashes",
        "--disable-pip",
        "--strict",
        "--progress-spinner",
        "off",
        "--timeout",
        str(SERVICE_TIMEOUT),
    ]
    if osv_url is not None:
        command += ["--vulnerability-service", "osv", "--osv-url", osv_url]
    for entry in accepted:
        command += ["--ignore-vuln", entry.id]
    return command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make audit", description="Audit the locked versions for known vulnerabilities."
    )
    parser.add_argument(
        "--lock",
        type=Path,
        action="append",
        help="a lock file to audit (repeatable; default: every lock of the repository)",
    )
    parser.add_argument("--accepted", type=Path, default=ACCEPTED_FILE)
    parser.add_argument(
        "--osv-url", metavar="URL", help="ask this OSV-compatible service (default: PyPI's data)"
    )
    options = parser.parse_args(argv)
    try:
        accepted = read_accepted(options.accepted, today=dt.date.today())
    except AcceptedFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for entry in accepted:
        print(f"accepted until {entry.expires}: {entry.id} in {entry.package}: {entry.reason}")
    locks = options.lock or [ROOT / lock.output for lock in LOCKS]
    failed = False
    for lock in locks:
        print(f"== {lock}", flush=True)
        command = audit_command(lock, accepted, osv_url=options.osv_url)
        failed |= subprocess.run(command, check=False).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
