"""Environment files: the declarative description of one vault and its grants.

``infra/environments/<env>.yaml`` is validated against
``environment.schema.yaml`` (beside this module) with file:line:col
problems, then turned into frozen dataclasses with safe defaults applied:
soft delete 90 days, purge protection on, RBAC authorization on (always
sent), no access policies, fail on a soft-deleted name.

Usage::

    env = load_environment(Path("infra/environments/local.yaml"))
    env.vault.name                  # the vault the sync writes to
    target = env.target()           # the one seam (keyvault_platform.target.target.Target)
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import jsonschema
import yaml

from keyvault_platform import schemas
from keyvault_platform.core.schema_errors import schema_problems
from keyvault_platform.core.yaml_source import (
    InputError,
    Location,
    Problem,
    SourceDocument,
    load_yaml_file,
)
from keyvault_platform.target.target import Target

REPO_ROOT = Path(__file__).resolve().parents[3]
ENVIRONMENTS_DIR = REPO_ROOT / "infra" / "environments"

DEFAULT_RETENTION_DAYS = 90
DEFAULT_PRINCIPAL_WAIT_S = 300.0
DEFAULT_RBAC_PROPAGATION_WAIT_S = 600.0
DEFAULT_EMULATOR_STATE_DIR = ".state/emulator"

OnSoftDeleted = Literal["recover", "fail"]


@dataclass(frozen=True)
class TargetSpec:
    kind: Literal["azure", "emulator"]
    state_dir: Path | None = None
    identity: str = "deployer"


@dataclass(frozen=True)
class ResourceGroupSpec:
    name: str
    location: str
    create: bool = True
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class NetworkAcls:
    default_action: Literal["Allow", "Deny"] = "Allow"
    bypass: Literal["AzureServices", "None"] = "AzureServices"
    ip_rules: tuple[str, ...] = ()
    virtual_network_rules: tuple[str, ...] = ()


@dataclass(frozen=True)
class VaultSpec:
    name: str
    location: str
    sku: Literal["standard", "premium"] = "standard"
    soft_delete_retention_days: int = DEFAULT_RETENTION_DAYS
    purge_protection: bool = True
    rbac_authorization: bool = True
    public_network_access: Literal["Enabled", "Disabled"] = "Enabled"
    network_acls: NetworkAcls = field(default_factory=NetworkAcls)
    tags: Mapping[str, str] = field(default_factory=dict)
    on_soft_deleted: OnSoftDeleted = "fail"


@dataclass(frozen=True)
class Grant:
    """One declared access grant: a principal gets a role on the vault or on named secrets."""

    name: str
    principal_id: str
    role: str
    principal_type: str = "ServicePrincipal"
    secrets: tuple[str, ...] = ()  # empty: the vault scope
    verify_read: bool | None = None  # None: verify if the role can read metadata
    location: Location | None = field(default=None, compare=False)

    @property
    def at_vault_scope(self) -> bool:
        return not self.secrets


@dataclass(frozen=True)
class ProvisioningSettings:
    principal_wait_s: float = DEFAULT_PRINCIPAL_WAIT_S
    rbac_propagation_wait_s: float = DEFAULT_RBAC_PROPAGATION_WAIT_S


@dataclass(frozen=True)
class SyncSettings:
    """What the secret sync reads from the environment file."""

    manifests: Path | None = None
    identity: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Environment:
    name: str
    path: Path
    target_spec: TargetSpec
    tenant_id: str
    subscription_id: str
    resource_group: ResourceGroupSpec
    vault: VaultSpec
    access: tuple[Grant, ...] = ()
    provisioning: ProvisioningSettings = field(default_factory=ProvisioningSettings)
    sync: SyncSettings = field(default_factory=SyncSettings)
    document: SourceDocument | None = field(default=None, compare=False, repr=False)

    def target(self, *, state_dir: Path | None = None, identity: str | None = None) -> Target:
        """The :class:`~keyvault_platform.target.target.Target` for this environment.

        ``state_dir`` and ``identity`` override the file (emulator only).
        """
        if self.target_spec.kind == "azure":
            return Target.azure(self.subscription_id, tenant_id=self.tenant_id)
        return Target(
            "emulator",
            self.subscription_id,
            tenant_id=self.tenant_id,
            state_dir=state_dir or self.target_spec.state_dir,
            default_identity=identity or self.target_spec.identity,
        )

    def locate(self, *path: str | int) -> Location:
        """Where ``path`` (e.g. ``"vault", "purge_protection"``) is set, or its parent."""
        if self.document is None:
            return Location(str(self.path))
        return self.document.locate(tuple(path))

    @property
    def vault_resource_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group.name}"
            f"/providers/Microsoft.KeyVault/vaults/{self.vault.name}"
        )

    @property
    def resource_group_id(self) -> str:
        return f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group.name}"


@functools.cache
def _validator() -> Any:
    schema = yaml.safe_load(schemas.schema_text(schemas.ENVIRONMENT))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def environment_path(name_or_path: str) -> Path:
    """``local`` -> ``infra/environments/local.yaml``; a path stays a path."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or "/" in name_or_path:
        return candidate
    return ENVIRONMENTS_DIR / f"{name_or_path}.yaml"


def load_environment(path: Path | str, *, root: Path | None = None) -> Environment:
    """Read, validate and model an environment file; raises :class:`InputError`."""
    file = environment_path(str(path)) if isinstance(path, str) else path
    document = load_yaml_file(file, root=root or REPO_ROOT)
    if document.data is None:
        raise InputError([Problem(document.locate(()), "the environment file is empty")])
    problems = schema_problems(document, _validator())
    if problems:
        raise InputError(problems)
    problems = _semantic_problems(document)
    if problems:
        raise InputError(problems)
    return _build(file, document)


def _semantic_problems(document: SourceDocument) -> list[Problem]:
    """Rules JSON Schema cannot express: unique grant names, valid IP ranges."""
    data = document.data
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    triples: dict[tuple[str, str, tuple[str, ...]], str] = {}
    for index, grant in enumerate(data.get("access") or []):
        name = grant["name"]
        if name in seen:
            problems.append(
                Problem(
                    document.locate(("access", index, "name")),
                    f"access/{index}/name: duplicate grant name {name!r} "
                    f"(first used by access/{seen[name]})",
                )
            )
        seen.setdefault(name, index)
        scope = grant.get("scope", "vault")
        secrets = tuple(sorted(scope["secrets"])) if isinstance(scope, dict) else ()
        key = (grant["principal_id"].lower(), grant["role"].lower(), secrets)
        if key in triples:
            problems.append(
                Problem(
                    document.locate(("access", index)),
                    f"access/{index}: grants the same role to the same principal at the same "
                    f"scope as grant {triples[key]!r}",
                )
            )
        triples.setdefault(key, name)
    manifests = (data.get("sync") or {}).get("manifests")
    if isinstance(manifests, str) and not (REPO_ROOT / manifests).resolve().is_relative_to(
        REPO_ROOT.resolve()
    ):
        problems.append(
            Problem(
                document.locate(("sync", "manifests")),
                f"sync/manifests: {manifests} resolves outside the repository; manifests are "
                "reviewed code and must live in it",
            )
        )
    acls = (data.get("vault") or {}).get("network_acls") or {}
    for index, rule in enumerate(acls.get("ip_rules") or []):
        try:
            ipaddress.IPv4Network(rule, strict=False)
        except ValueError as exc:
            problems.append(
                Problem(
                    document.locate(("vault", "network_acls", "ip_rules", index)),
                    f"vault/network_acls/ip_rules/{index}: {exc}",
                )
            )
    return problems


def normalize_ip_rule(rule: str) -> str:
    """Azure stores single addresses as /32 ranges; compare in that form."""
    return str(ipaddress.IPv4Network(rule, strict=False))


def _build(file: Path, document: SourceDocument) -> Environment:
    data = document.data
    target = data["target"]
    state_dir = None
    if target["kind"] == "emulator":
        raw_state = Path(target.get("state_dir", DEFAULT_EMULATOR_STATE_DIR))
        state_dir = raw_state if raw_state.is_absolute() else REPO_ROOT / raw_state
    rg = data["resource_group"]
    vault = data["vault"]
    acls = vault.get("network_acls") or {}
    provisioning = data.get("provisioning") or {}
    sync = dict(data.get("sync") or {})
    manifests = sync.pop("manifests", None)
    sync_identity = sync.pop("identity", None)
    grants = []
    for index, entry in enumerate(data.get("access") or []):
        scope = entry.get("scope", "vault")
        grants.append(
            Grant(
                name=entry["name"],
                principal_id=entry["principal_id"].lower(),
                role=entry["role"],
                principal_type=entry.get("principal_type", "ServicePrincipal"),
                secrets=tuple(scope["secrets"]) if isinstance(scope, dict) else (),
                verify_read=entry.get("verify_read"),
                location=document.locate(("access", index)),
            )
        )
    return Environment(
        name=file.stem,
        path=file,
        target_spec=TargetSpec(
            kind=target["kind"],
            state_dir=state_dir,
            identity=target.get("identity", "deployer"),
        ),
        tenant_id=data["tenant_id"].lower(),
        subscription_id=data["subscription_id"].lower(),
        resource_group=ResourceGroupSpec(
            name=rg["name"],
            location=rg["location"],
            create=rg.get("create", True),
            tags=dict(rg.get("tags") or {}),
        ),
        vault=VaultSpec(
            name=vault["name"],
            location=vault.get("location", rg["location"]),
            sku=vault.get("sku", "standard"),
            soft_delete_retention_days=vault.get(
                "soft_delete_retention_days", DEFAULT_RETENTION_DAYS
            ),
            purge_protection=vault.get("purge_protection", True),
            rbac_authorization=vault.get("rbac_authorization", True),
            public_network_access=vault.get("public_network_access", "Enabled"),
            network_acls=NetworkAcls(
                default_action=acls.get("default_action", "Allow"),
                bypass=acls.get("bypass", "AzureServices"),
                ip_rules=tuple(sorted(normalize_ip_rule(r) for r in acls.get("ip_rules", []))),
                virtual_network_rules=tuple(
                    sorted(r.lower() for r in acls.get("virtual_network_rules", []))
                ),
            ),
            tags=dict(vault.get("tags") or {}),
            on_soft_deleted=vault.get("on_soft_deleted", "fail"),
        ),
        access=tuple(grants),
        provisioning=ProvisioningSettings(
            principal_wait_s=float(provisioning.get("principal_wait_s", DEFAULT_PRINCIPAL_WAIT_S)),
            rbac_propagation_wait_s=float(
                provisioning.get("rbac_propagation_wait_s", DEFAULT_RBAC_PROPAGATION_WAIT_S)
            ),
        ),
        sync=SyncSettings(
            manifests=(REPO_ROOT / manifests) if manifests else None,
            identity=sync_identity,
            extra=sync,
        ),
        document=document,
    )


__all__ = [
    "Environment",
    "Grant",
    "NetworkAcls",
    "ProvisioningSettings",
    "ResourceGroupSpec",
    "SyncSettings",
    "TargetSpec",
    "VaultSpec",
    "environment_path",
    "load_environment",
    "normalize_ip_rule",
]
