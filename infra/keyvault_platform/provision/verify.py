"""Verify provisioning: the safety settings, each grant, and reads as each granted identity."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from azure.core.exceptions import (
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
)

from keyvault_platform.config.environment import Environment
from keyvault_platform.provision import role_assignments as ra
from keyvault_platform.provision import vault as vaults
from keyvault_platform.target.base import Target
from keyvault_platform.target.failures import Kind, Plane, classify, hint

if TYPE_CHECKING:
    pass
from keyvault_platform.provision.apply import Timing
from keyvault_platform.provision.observe import ArmClients

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------
# Verify


CheckStatus = Literal["ok", "failed", "skipped"]


@dataclass(frozen=True)
class Check:
    name: str
    status: CheckStatus
    detail: str = ""
    address: str | None = None


@dataclass
class VerifyReport:
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.status != "failed" for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.status == "failed"]


def verify(
    env: Environment,
    target: Target,
    arm: ArmClients,
    *,
    timing: Timing | None = None,
    roles: dict[str, ra.RoleDefinition] | None = None,
) -> VerifyReport:
    """Check the result: safety settings, each grant, and data-plane reads (metadata only).

    ``roles`` are the definitions the plan resolved (looked up again if not given).
    Data-plane reads wait with backoff up to ``timing.rbac_propagation_wait_s``
    for RBAC propagation, then report the identities still denied.
    """
    timing = timing or Timing.for_environment(env)
    report = VerifyReport()
    addr = vaults.address(env.vault)
    vault = vaults.read_vault(arm.keyvault, env.resource_group.name, env.vault.name)
    if vault is None:
        report.checks.append(Check("vault exists", "failed", "the vault was not found", addr))
        return report
    settings = [
        ("soft delete on", vault.soft_delete),
        ("RBAC authorization on", vault.rbac_authorization),
    ]
    if env.vault.purge_protection:
        settings.append(("purge protection on", vault.purge_protection))
    for name, ok in settings:
        report.checks.append(Check(name, "ok" if ok else "failed", "", addr))

    if roles is None:
        roles, _unknown = ra.resolve_roles(
            arm.authorization,
            f"/subscriptions/{env.subscription_id}",
            (g.role for g in env.access),
        )
    desired = ra.desired_assignments(
        [g for g in env.access if g.role.lower() in roles], vault.id, roles
    )
    present: set[tuple[str, str, str]] = set()
    for scope in sorted({d.scope for d in desired}):
        present.update(a.key for a in ra.list_at_scope(arm.authorization, scope))
    for item in desired:
        found = item.key in present
        report.checks.append(
            Check(
                f"grant {item.address.removeprefix('role_assignment.')} present",
                "ok" if found else "failed",
                "" if found else f"{item.role.name} for {item.grant.principal_id} is missing",
                item.address,
            )
        )

    probes = _read_probes(env, target, arm, desired, report)
    if vault.vault_uri:
        _check_network_path(env, target, vault.vault_uri, report)
    if probes and vault.vault_uri:
        _wait_for_reads(target, vault.vault_uri, probes, timing, report)
    return report


#: The name of the check that the vault's network rules let this machine in.
NETWORK_CHECK = "the vault's network rules admit this machine"


def _check_network_path(
    env: Environment, target: Target, vault_uri: str, report: VerifyReport
) -> None:
    """Whether this machine gets past the vault's network rules (read as the ambient identity).

    Key Vault checks the network before RBAC, so any answer but a network
    refusal (a listing, or an RBAC denial of an identity with no data role)
    shows the path is open. The sync must run where this check passes: a
    ``public_network_access: Disabled`` vault is reached only from its
    virtual network (a self-hosted runner), never from a hosted one.
    """
    addr = vaults.address(env.vault)
    client = target.secret_client(vault_uri)
    try:
        outcome, detail = _probe_network(client)
    finally:
        client.close()
    report.checks.append(Check(NETWORK_CHECK, outcome, detail, addr))


def _probe_network(client: Any) -> tuple[CheckStatus, str]:
    try:
        for _ in next(client.list_properties_of_secrets().by_page()):
            break
    except StopIteration:
        pass
    except Exception as exc:  # every failure is classified; none may escape verify
        failure = classify(exc)
        if failure.kind in (Kind.NETWORK_BLOCKED, Kind.HOST_NOT_FOUND, Kind.UNREACHABLE):
            remedy = hint(Plane.VAULT, failure)
            return (
                "failed",
                f"{failure.describe()}; fix: {remedy}" if remedy else failure.describe(),
            )
        if failure.kind in (Kind.NOT_SIGNED_IN, Kind.WRONG_TENANT, Kind.UNAUTHENTICATED):
            return "skipped", f"could not sign in to the vault from here: {failure.describe()}"
        return "ok", f"reached the vault ({failure.describe()})"
    return "ok", ""


@dataclass
class _Probe:
    item: ra.DesiredAssignment
    identity: str | None  # emulator identity name; None: the ambient credential
    last_error: str = ""


def _read_probes(
    env: Environment,
    target: Target,
    arm: ArmClients,
    desired: Iterable[ra.DesiredAssignment],
    report: VerifyReport,
) -> list[_Probe]:
    """Which grants can be checked by reading as their principal from here."""
    probes: list[_Probe] = []
    for item in desired:
        wanted = item.grant.verify_read
        if wanted is False or (wanted is None and not item.role.can_read_metadata()):
            continue
        label = f"{item.grant.name} can read secret metadata ({item.scope_label})"
        principal = item.grant.principal_id.lower()
        read_as = target.identity_for_principal(principal)
        if read_as is not None:
            probes.append(_Probe(item, read_as.identity))
        else:
            report.checks.append(
                Check(
                    label,
                    "skipped",
                    f"cannot act as principal {principal} from here; the role assignment "
                    "was checked instead (set verify_read: false to silence this)",
                    item.address,
                )
            )
    return probes


def _wait_for_reads(
    target: Target,
    vault_uri: str,
    probes: list[_Probe],
    timing: Timing,
    report: VerifyReport,
) -> None:
    pending = list(probes)
    clients: dict[str | None, Any] = {}
    deadline = timing.clock() + timing.rbac_propagation_wait_s
    delay = timing.first_delay_s
    attempts = 0
    try:
        while pending:
            attempts += 1
            still: list[_Probe] = []
            for probe in pending:
                label = (
                    f"{probe.item.grant.name} can read secret metadata ({probe.item.scope_label})"
                )
                client = clients.get(probe.identity)
                if client is None:
                    client = target.secret_client(vault_uri, identity=probe.identity)
                    clients[probe.identity] = client
                outcome, detail = _probe_read(client, probe.item)
                if outcome == "ok":
                    report.checks.append(Check(label, "ok", detail, probe.item.address))
                elif outcome == "denied":
                    probe.last_error = detail
                    still.append(probe)
                elif outcome == "skipped":
                    report.checks.append(Check(label, "skipped", detail, probe.item.address))
                else:
                    report.checks.append(Check(label, "failed", detail, probe.item.address))
            pending = still
            if not pending:
                break
            remaining = deadline - timing.clock()
            if remaining <= 0:
                for probe in pending:
                    who = probe.identity or probe.item.grant.principal_id
                    report.checks.append(
                        Check(
                            f"{probe.item.grant.name} can read secret metadata "
                            f"({probe.item.scope_label})",
                            "failed",
                            f"identity {who} ({probe.item.grant.principal_id}) is still denied "
                            f"after {timing.rbac_propagation_wait_s:g} s and {attempts} "
                            f"attempts: {probe.last_error}. RBAC changes can take up to 10 "
                            "minutes to propagate; raise provisioning.rbac_propagation_wait_s "
                            "or run `make provision` again later",
                            probe.item.address,
                        )
                    )
                return
            wait = min(delay, remaining, timing.max_delay_s)
            log.info(
                "waiting %.1f s for RBAC propagation (%d identities still denied)",
                wait,
                len(pending),
            )
            timing.sleep(wait)
            delay = min(delay * 2, timing.max_delay_s)
    finally:
        for client in clients.values():
            client.close()


def _probe_read(client: Any, item: ra.DesiredAssignment) -> tuple[str, str]:
    """One metadata read as the grant's principal: ok, denied, skipped or error."""
    try:
        if "/secrets/" in item.scope:
            name = item.scope.rsplit("/", 1)[-1]
            pages = client.list_properties_of_secret_versions(name).by_page()
        else:
            pages = client.list_properties_of_secrets().by_page()
        for _ in next(pages):
            break
        return "ok", ""
    except StopIteration:
        return "ok", ""
    except ResourceNotFoundError:
        return "ok", "the secret does not exist yet; access to it is granted"
    except (HttpResponseError, ServiceRequestError) as exc:
        failure = classify(exc)
        if failure.kind in (Kind.NETWORK_BLOCKED, Kind.HOST_NOT_FOUND, Kind.UNREACHABLE):
            # Reported once, by the network check (NETWORK_CHECK), with its fix.
            return "error", f"{failure.describe()} (see: {NETWORK_CHECK})"
        if failure.kind is Kind.NOT_SIGNED_IN:
            return "error", f"could not sign in: {failure.message}"
        if failure.status in (401, 403):
            return "denied", f"{failure.status} {failure.inner_code or failure.code}".strip()
        return "error", f"{failure.status} {failure.code}".strip()
