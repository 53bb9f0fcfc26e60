"""The emulator's own control API, under ``/_emulator/`` on the main port.

Tests and the CLI use it to read the audit log, inject faults, change
limits, declare vaults, identities and assignments directly, move the clock
forward, and mint tokens with odd lifetimes. It needs the admin key from the
discovery file (header ``X-Emulator-Admin-Key``). docs/emulator.md lists every
action with its body and answer.
"""

from __future__ import annotations

import dataclasses
import hmac
from typing import TYPE_CHECKING, Any

from . import events
from .clock import parse_duration
from .config import IDENTITY_NAME, PRINCIPAL_TYPES, ArmLimits, Identity
from .errors import AzureError, BadRequest, NotFound
from .faults import FaultPlan
from .http import InvalidJson, Request, Response, json_object

if TYPE_CHECKING:
    from .server import Emulator

PREFIX = "/_emulator/"


def handle_admin(emulator: Emulator, request: Request) -> Response:
    key = request.headers.get("x-emulator-admin-key", "")
    if not hmac.compare_digest(key, emulator.admin_key):
        return Response.json(
            401, {"error": {"code": "Unauthorized", "message": "X-Emulator-Admin-Key is required."}}
        )
    action = request.path[len(PREFIX) :].strip("/")
    try:
        body = json_object(request.body)
    except InvalidJson as invalid:
        return Response.json(400, BadRequest(f"The request body is not usable: {invalid}.").body())
    try:
        result = _dispatch(emulator, request.method, action, request.query, body)
    except AzureError as error:
        return Response.json(error.status, error.body())
    except (KeyError, TypeError, ValueError) as exc:
        return Response.json(400, BadRequest(str(exc)).body())
    return Response.json(200, result)


def _dispatch(
    emulator: Emulator, method: str, action: str, query: dict[str, str], body: dict[str, Any]
) -> Any:
    if action == "event-subscriptions":
        return events.handle_admin(emulator.events, emulator.world, method, query, body)
    if method == "GET" and action == "info":
        return emulator.info()
    if method == "GET" and action == "audit":
        since = float(query["since"]) if query.get("since") else None
        records = emulator.world.audit.records(
            plane=query.get("plane") or None,
            vault=query.get("vault") or None,
            since=since,
            operation=query.get("operation") or None,
        )
        return {"value": [dataclasses.asdict(r) for r in records]}
    if method == "POST" and action == "faults":
        plan = body.get("plan")
        fault_plan = None
        if plan is not None:
            if "statuses" in plan:
                plan["statuses"] = tuple(plan["statuses"])
            if "operations" in plan:
                plan["operations"] = frozenset(plan["operations"])
            fault_plan = FaultPlan(**plan)
        emulator.world.set_faults(body.get("vault"), fault_plan)
        return {"ok": True}
    if method == "POST" and action == "throttling":
        emulator.world.set_throttling(
            body["vault"],
            enabled=body.get("enabled", True),
            writes_per_10s=body.get("writes_per_10s"),
            others_per_10s=body.get("others_per_10s"),
        )
        return {"ok": True}
    if method == "POST" and action == "vaults":
        vault = emulator.create_vault_now(**body)
        return {
            "name": vault.name,
            "uri": f"https://127.0.0.1:{vault.port}/",
            "resource_id": vault.resource_id,
        }
    if method == "POST" and action == "role-assignments":
        identity = emulator.world.identity(body["identity"])
        assignment = emulator.world.grant(identity.object_id, body["role"], body["scope"])
        return {"id": assignment.id, "name": assignment.name}
    if method == "POST" and action == "identities":
        name, principal_type = body["name"], body.get("principal_type", "ServicePrincipal")
        if not isinstance(name, str) or not IDENTITY_NAME.match(name):
            raise ValueError(
                f"{name!r} is not an identity name: 1-64 letters, digits, '-', '_' or '.'"
            )
        if principal_type not in PRINCIPAL_TYPES:
            raise ValueError(f"principal_type must be one of {', '.join(PRINCIPAL_TYPES)}")
        identity = Identity.named(name, principal_type)
        emulator.add_identity(identity, replication_delay_s=body.get("replicate_after_s"))
        return {"name": identity.name, "object_id": identity.object_id}
    if method == "POST" and action == "arm-throttling":
        base = emulator.config.arm_throttling
        emulator.arm.set_limits(
            ArmLimits(
                enabled=body.get("enabled", True),
                window_s=float(body.get("window_s", base.window_s)),
                writes=int(body.get("writes", base.writes)),
                reads=int(body.get("reads", base.reads)),
            )
        )
        return {"ok": True}
    if method == "GET" and action == "clock":
        return _clock_state(emulator)
    if method == "POST" and action == "clock":
        advance = body.get("advance")
        if isinstance(advance, str):
            seconds = parse_duration(advance)
        elif isinstance(advance, int | float) and not isinstance(advance, bool):
            seconds = float(advance)
        else:
            raise ValueError("give 'advance': a duration like \"30d\", or seconds (a number)")
        emulator.world.clock.advance(seconds)
        return _clock_state(emulator)
    if method == "POST" and action == "tokens":
        identity = emulator.world.identity(body["identity"])
        token, expires_on = emulator.world.tokens.mint(
            identity, body["resource"], lifetime_s=body.get("lifetime_s")
        )
        return {"access_token": token, "expires_on": expires_on}
    raise NotFound(f"Unknown emulator admin action: {method} {action}")


def _clock_state(emulator: Emulator) -> dict[str, float]:
    clock = emulator.world.clock
    return {"now": clock.now(), "offset_s": clock.offset_s}
