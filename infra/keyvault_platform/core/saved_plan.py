"""Saved plans: ``--plan --out FILE`` writes one, ``--from-plan FILE`` applies it.

A plan file is JSON (``format: keyvault-platform-plan``, ``version: 1``)
holding what was planned and what it was planned against:

- ``command`` (``sync`` or ``provision``), ``environment`` (as given to
  ``--env``) and ``options`` (the planning options: prune, targets, ...);
- ``inputs``: a SHA-256 of each input file the plan read (the environment
  file, the manifests): files that hold no secret value. Value files and
  environment variables are **not** hashed: a plain hash of a weak value
  could be guessed offline;
- ``state``: one record per resource the plan read from Azure (for a secret
  its created and updated times), each with the SHA-256 of everything read
  about it (metadata and tags: the value fingerprints in those tags are keyed
  HMACs that anyone with Key Vault Reader sees, useless without the key),
  and ``state_digest`` over all of them;
- ``changes``: each pending change as a ``planned_change`` line holds it (no
  value: sensitive fields say only whether each side exists);
- ``without_values``: the plan was made without values (a sync plan for
  pull requests); its value comparisons are made at apply.

Applying re-reads what the plan read and refuses (nothing written) when an
input file, a state record or a planned change differs: Terraform's
stale-plan rule. The plan itself is only ever rebuilt from the same inputs
and state and checked equal, so what is applied is exactly what was saved.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from keyvault_platform.core.errors import ActionableError, InputError
from keyvault_platform.core.messages import change_data
from keyvault_platform.core.plan import Plan
from keyvault_platform.core.problems import Location, Problem

FORMAT = "keyvault-platform-plan"
FORMAT_VERSION = 1

#: What a stale plan's refusal suggests.
REPLAN_HINT = "make a new plan (--plan --out FILE), review it, and apply that one"


def digest(data: Any) -> str:
    """``sha256:<hex>`` of ``data`` as canonical JSON (sorted keys; dates as text)."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def file_digests(paths: Iterable[Path], *, root: Path | None = None) -> dict[str, str]:
    """``sha256:<hex>`` of each file's bytes, keyed by its path (relative to ``root``).

    A file that cannot be read is recorded as ``unreadable``, not raised:
    the manifest loader reports it, located, with every other problem.
    """
    result: dict[str, str] = {}
    for path in paths:
        shown = str(path)
        if root is not None:
            try:
                shown = str(path.resolve().relative_to(root.resolve()))
            except ValueError:
                shown = str(path.resolve())
        try:
            result[shown] = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:  # its loader says what is wrong, with its location
            result[shown] = "unreadable"
    return result


def record(**facts: Any) -> dict[str, Any]:
    """A state record: ``facts`` kept as readable fields plus their digest.

    A fact named with a leading underscore goes into the digest only (tags:
    their fingerprints are not written to the file, even keyed).
    """
    shown = {k: v for k, v in facts.items() if not k.startswith("_")}
    plain = json.loads(json.dumps(shown, default=str))
    return {**plain, "digest": digest(facts)}


@dataclass(frozen=True)
class SavedPlan:
    """A plan as saved: what was planned, and the inputs and state it was planned against."""

    command: str
    environment: str
    options: Mapping[str, Any]
    inputs: Mapping[str, str]
    state: Mapping[str, Mapping[str, Any]]
    changes: tuple[Mapping[str, Any], ...]
    without_values: bool = False
    created: str = field(
        default_factory=lambda: datetime.now(UTC).replace(microsecond=0).isoformat()
    )

    @property
    def state_digest(self) -> str:
        return digest({k: v.get("digest") for k, v in self.state.items()})

    @property
    def inputs_digest(self) -> str:
        return digest(dict(self.inputs))

    @property
    def addresses(self) -> frozenset[str]:
        return frozenset(str(c["resource"]["addr"]) for c in self.changes)

    def to_json(self) -> str:
        return (
            json.dumps(
                {
                    "format": FORMAT,
                    "version": FORMAT_VERSION,
                    "command": self.command,
                    "created": self.created,
                    "environment": self.environment,
                    "without_values": self.without_values,
                    "options": dict(self.options),
                    "inputs": dict(self.inputs),
                    "inputs_digest": self.inputs_digest,
                    "state": {k: dict(v) for k, v in sorted(self.state.items())},
                    "state_digest": self.state_digest,
                    "changes": list(self.changes),
                },
                indent=2,
                sort_keys=False,
                ensure_ascii=False,
            )
            + "\n"
        )

    def write(self, path: Path) -> None:
        """Write the file whole or not at all (a temporary file, then renamed)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".plan-", dir=path.parent)
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(self.to_json())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    @classmethod
    def read(cls, path: Path, *, command: str) -> SavedPlan:
        """The plan in ``path``; a located error if it is not one for ``command``."""
        where = Location(str(path))
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError([Problem(where, "plan file not found")]) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError([Problem(where, f"cannot read the plan file ({exc})")]) from None
        except json.JSONDecodeError as exc:
            raise InputError(
                [Problem(Location(str(path), exc.lineno, exc.colno), "not JSON: " + exc.msg)]
            ) from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise InputError([Problem(where, f"not a plan file (no 'format: {FORMAT}')")])
        if data.get("version") != FORMAT_VERSION:
            raise InputError(
                [
                    Problem(
                        where,
                        f"plan file version {data.get('version')!r}; this keyvault-platform "
                        f"reads version {FORMAT_VERSION}: make the plan again with it",
                    )
                ]
            )
        if data.get("command") != command:
            raise InputError(
                [
                    Problem(
                        where,
                        f"a plan of '{data.get('command')}', not of '{command}': apply it with "
                        f"keyvault-platform {data.get('command')} --from-plan",
                    )
                ]
            )
        try:
            saved = cls(
                command=str(data["command"]),
                environment=str(data["environment"]),
                options=dict(data["options"]),
                inputs={str(k): str(v) for k, v in data["inputs"].items()},
                state={str(k): dict(v) for k, v in data["state"].items()},
                changes=tuple(dict(c) for c in data["changes"]),
                without_values=bool(data.get("without_values", False)),
                created=str(data.get("created", "")),
            )
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise InputError([Problem(where, f"damaged plan file ({exc!r})")]) from None
        if data.get("state_digest") != saved.state_digest or (
            data.get("inputs_digest") != saved.inputs_digest
        ):
            raise InputError([Problem(where, "damaged plan file (its digests do not match)")])
        return saved


def _differences(label: str, saved: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    found = []
    for key in sorted(set(saved) | set(now)):
        if key not in now:
            found.append(f"{label} {key}: gone")
        elif key not in saved:
            found.append(f"{label} {key}: new")
        elif saved[key] != now[key]:
            before, after = saved[key], now[key]
            if isinstance(before, Mapping) and isinstance(after, Mapping):
                shown = [
                    f"{k} {before.get(k)} -> {after.get(k)}"
                    for k in sorted(set(before) | set(after))
                    if k != "digest" and before.get(k) != after.get(k)
                ]
                found.append(
                    f"{label} {key}: changed" + (f" ({'; '.join(shown)})" if shown else "")
                )
            else:
                found.append(f"{label} {key}: changed")
    return found


def changes_of(plan: Plan) -> tuple[dict[str, Any], ...]:
    """The pending changes as a plan file holds them."""
    return tuple(change_data(c) for c in plan.pending)


def refuse_if_stale(
    saved: SavedPlan,
    path: Path,
    *,
    inputs: Mapping[str, str] | None = None,
    state: Mapping[str, Mapping[str, Any]] | None = None,
    changes: Sequence[Mapping[str, Any]] | None = None,
) -> None:
    """Raise if what was planned against differs now; each part is checked when given.

    :raises ActionableError: naming what changed, with the hint to plan again.
    """
    reasons: list[str] = []
    what = "inputs"
    if inputs is not None:
        reasons = _differences("file", saved.inputs, inputs)
    if not reasons and state is not None:
        what = "vault"
        reasons = _differences("", saved.state, state)
    if not reasons and changes is not None:
        what = "plan"
        before = {str(c["resource"]["addr"]): c for c in saved.changes}
        after = {str(c["resource"]["addr"]): c for c in changes}
        reasons = _differences("change", before, after)
    if not reasons:
        return
    shown = [r.strip() for r in reasons[:10]] + (
        [f"... {len(reasons) - 10} more"] if len(reasons) > 10 else []
    )
    cause = {
        "inputs": "the input files changed",
        "vault": "what the plan read from Azure changed",
        "plan": "planning again from the same inputs and state gives other changes",
    }[what]
    raise ActionableError(
        f"the saved plan {path} is stale: {cause} since it was made ({saved.created}); "
        "nothing was applied:\n  " + "\n  ".join(shown),
        hint=REPLAN_HINT,
    )


__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "REPLAN_HINT",
    "SavedPlan",
    "changes_of",
    "digest",
    "file_digests",
    "record",
    "refuse_if_stale",
]
