"""Environment files: the declarative description of one vault and its grants.

An environment file (``environments/<env>.yaml`` in the user's config
root, see :mod:`keyvault_platform.config.root`) is validated against the
packaged ``environment.schema.yaml`` with file:line:col
problems, then turned into frozen dataclasses with safe defaults applied:
soft delete 90 days, purge protection on, RBAC authorization on (always
sent), no access policies, fail on a soft-deleted name.

Usage::

    env = load_environment("local")     # environments/local.yaml under the cwd
    env.vault.name                  # the vault the sync writes to
    target = env.target()           # the one seam (keyvault_platform.target.base.Target)
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, assert_never

import jsonschema
import yaml

from keyvault_platform import schemas
from keyvault_platform.config.root import (
    DEFAULT_EMULATOR_STATE_DIR,
    DEFAULT_MANIFEST_DIR,
    ConfigRoot,
)
from keyvault_platform.core.schema_errors import field_path, schema_problems, with_strict_anchors
from keyvault_platform.core.yaml_source import (
    InputError,
    Location,
    PathKey,
    Problem,
    SourceDocument,
    load_yaml_file,
)
from keyvault_platform.target.azure import AzureTarget
from keyvault_platform.target.base import Target
from keyvault_platform.target.builtin_roles import closest_builtin
from keyvault_platform.target.clouds import DEFAULT_CLOUD, Cloud, cloud_named
from keyvault_platform.target.emulator import EmulatorTarget

DEFAULT_RETENTION_DAYS = 90
DEFAULT_PRINCIPAL_WAIT_S = 300.0
DEFAULT_RBAC_PROPAGATION_WAIT_S = 600.0

OnSoftDeleted = Literal["recover", "fail"]


@dataclass(frozen=True)
class TargetSpec:
    """The file's ``target:``: which kind, and its settings.

    ``cloud`` is for ``kind: azure`` (the emulator answers as the public
    cloud); ``state_dir`` and ``identity`` are for ``kind: emulator``.
    """

    kind: Literal["azure", "emulator"]
    state_dir: Path | None = None
    identity: str = "deployer"
    cloud: Cloud = DEFAULT_CLOUD


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
    orgs: tuple[str, ...] = ()  # empty: every org; else these orgs' and GLOBAL secrets only

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
    #: The config root the file was read in; relative paths resolved against it.
    root: Path = field(default_factory=Path.cwd, compare=False)
    #: The example's placeholder ids still in the file (an ``*.example.yaml`` only).
    placeholders: tuple[Problem, ...] = field(default=(), compare=False, repr=False)

    @property
    def manifest_dir(self) -> Path:
        """Where this environment's manifests are: ``sync.manifests``, else ``secrets/``."""
        return self.sync.manifests or self.root / DEFAULT_MANIFEST_DIR

    def target(self, *, state_dir: Path | None = None, identity: str | None = None) -> Target:
        """The :class:`~keyvault_platform.target.base.Target` for this environment.

        ``state_dir`` and ``identity`` override the file (emulator only).

        :raises InputError: the file still holds the example's placeholder ids.
        """
        if self.placeholders:
            raise InputError(self.placeholders)
        spec = self.target_spec
        match spec.kind:
            case "azure":
                return AzureTarget(spec.cloud, self.subscription_id, self.tenant_id)
            case "emulator":
                where = state_dir or spec.state_dir
                if where is None:
                    raise ValueError("an emulator target needs a state_dir")
                return EmulatorTarget(
                    where, self.subscription_id, default_identity=identity or spec.identity
                )
            case unknown:
                assert_never(unknown)

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
    return cls(with_strict_anchors(schema))


def load_environment(
    name_or_path: Path | str, *, root: ConfigRoot | Path | str | None = None
) -> Environment:
    """Read, validate and model an environment file; raises :class:`InputError`.

    ``name_or_path`` is an environment name (looked up under ``root``, see
    :class:`~keyvault_platform.config.root.ConfigRoot`) or a file path.
    ``root`` (default: the working directory) is what relative paths in the
    file resolve against.
    """
    config = root if isinstance(root, ConfigRoot) else ConfigRoot.at(root)
    file = config.environment_file(name_or_path)
    document = load_yaml_file(file, root=config.path)
    if document.data is None:
        raise InputError([Problem(document.locate(()), "the environment file is empty")])
    # Every problem at once: the rules beyond the schema run on what the
    # schema let through, and say nothing where the schema already did.
    problems = schema_problems(document, _validator())
    located = {p.location for p in problems}
    problems += [p for p in _semantic_problems(document, config) if p.location not in located]
    # The example file is a template that holds placeholders by design: it
    # validates, and is refused only when used (Environment.target). A copy
    # under any other name is refused here.
    placeholders = _placeholder_problems(document)
    if not file.name.endswith(EXAMPLE_SUFFIX):
        problems += [p for p in placeholders if p.location not in located]
    if problems:
        raise InputError(problems)
    return replace(_build(file, document, config), placeholders=tuple(placeholders))


def _semantic_problems(document: SourceDocument, root: ConfigRoot) -> list[Problem]:
    """Rules JSON Schema cannot express: unique grant names, valid IP ranges."""
    data = document.data
    problems: list[Problem] = []
    if not isinstance(data, dict):
        return problems  # the schema said what is wrong
    seen: dict[str, int] = {}
    triples: dict[tuple[str, str, tuple[str, ...]], str] = {}
    access = data.get("access")
    for index, grant in enumerate(access if isinstance(access, list) else []):
        if not _well_formed_grant(grant):
            continue
        name = grant["name"]
        if name in seen:
            problems.append(
                Problem(
                    document.locate(("access", index, "name")),
                    f"{field_path(('access', index, 'name'))}: duplicate grant name {name!r} "
                    f"(first used by {field_path(('access', seen[name]))})",
                )
            )
        seen.setdefault(name, index)
        scope = grant.get("scope", "vault")
        secrets = tuple(sorted(scope["secrets"])) if isinstance(scope, dict) else ()
        orgs = grant.get("orgs")
        if isinstance(orgs, list) and secrets:
            problems.append(
                Problem(
                    document.locate(("access", index, "orgs")),
                    f"{field_path(('access', index, 'orgs'))}: orgs limit a vault-scope grant; "
                    "a grant on named secrets is already limited to them (remove one of the two)",
                )
            )
        for position, org in enumerate(orgs if isinstance(orgs, list) else []):
            if isinstance(org, str) and org.upper() == "GLOBAL":
                problems.append(
                    Problem(
                        document.locate(("access", index, "orgs", position)),
                        f"{field_path(('access', index, 'orgs', position))}: GLOBAL secrets are "
                        "readable with every org list; name orgs only",
                    )
                )
        key = (grant["principal_id"].lower(), grant["role"].lower(), secrets)
        if key in triples:
            problems.append(
                Problem(
                    document.locate(("access", index)),
                    f"{field_path(('access', index))}: grants the same role to the same "
                    f"principal at the same scope as grant {triples[key]!r}",
                )
            )
        triples.setdefault(key, name)
    problems += _role_problems(document, access)
    sync = data.get("sync")
    manifests = sync.get("manifests") if isinstance(sync, dict) else None
    if isinstance(manifests, str) and not root.contains(Path(manifests)):
        problems.append(
            Problem(
                document.locate(("sync", "manifests")),
                f"sync.manifests: {manifests} resolves outside the config directory "
                f"{root.path}; manifests are reviewed code and must live in it",
            )
        )
    vault = data.get("vault")
    acls = vault.get("network_acls") if isinstance(vault, dict) else None
    rules = acls.get("ip_rules") if isinstance(acls, dict) else None
    for index, rule in enumerate(rules if isinstance(rules, list) else []):
        if not isinstance(rule, str):
            continue
        try:
            ipaddress.IPv4Network(rule, strict=False)
        except ValueError as exc:
            problems.append(
                Problem(
                    document.locate(("vault", "network_acls", "ip_rules", index)),
                    f"{field_path(('vault', 'network_acls', 'ip_rules', index))}: {exc}",
                )
            )
    return problems


def _role_problems(document: SourceDocument, access: Any) -> list[Problem]:
    """A role name that misspells a built-in role, with the suggestion (offline).

    A name close to no built-in role may be a custom role: Azure resolves it.
    """
    problems = []
    for index, grant in enumerate(access if isinstance(access, list) else []):
        role = grant.get("role") if isinstance(grant, dict) else None
        if not isinstance(role, str):
            continue
        meant = closest_builtin(role)
        if meant is not None:
            path = ("access", index, "role")
            problems.append(
                Problem(
                    document.locate(path),
                    f"{field_path(path)}: unknown role {role!r} (did you mean {meant!r}?); "
                    "built-in role names are listed in docs/provisioning.md",
                )
            )
    return problems


#: Environment files with this ending are templates (their ids are placeholders).
EXAMPLE_SUFFIX = ".example.yaml"


def _placeholder_problems(document: SourceDocument) -> list[Problem]:
    """The example file's placeholder ids, left in place: a located error, before any sign-in.

    A principal id of zeros but for its last digits (the example's
    ``...0001``) is a placeholder too: no real object id looks like it.
    """
    data = document.data
    problems = []
    ids: list[tuple[PathKey, Any]] = [
        (("tenant_id",), data.get("tenant_id")),
        (("subscription_id",), data.get("subscription_id")),
    ]
    access = data.get("access")
    for index, grant in enumerate(access if isinstance(access, list) else []):
        if isinstance(grant, dict):
            ids.append((("access", index, "principal_id"), grant.get("principal_id")))
    for path, value in ids:
        if isinstance(value, str) and _placeholder(value):
            problems.append(
                Problem(
                    document.locate(path),
                    f"{field_path(path)}: still the example's placeholder id; "
                    f"{_PLACEHOLDER_HINTS[str(path[-1])]}",
                )
            )
    return problems


_PLACEHOLDER_HINTS = {
    "tenant_id": "set your Entra tenant id (`az account show --query tenantId -o tsv`)",
    "subscription_id": "set your subscription id (`az account show --query id -o tsv`)",
    "principal_id": (
        "set the identity's object id "
        "(`az identity show -g <rg> -n <identity> --query principalId -o tsv`)"
    ),
}


def _placeholder(guid: str) -> bool:
    digits = guid.replace("-", "")
    return len(digits) == 32 and digits[:28] == "0" * 28


def _well_formed_grant(grant: Any) -> bool:
    """Whether a grant has what the uniqueness rules read (the schema reports the rest)."""
    if not isinstance(grant, dict):
        return False
    if not all(isinstance(grant.get(key), str) for key in ("name", "principal_id", "role")):
        return False
    scope = grant.get("scope", "vault")
    return not isinstance(scope, dict) or (
        isinstance(scope.get("secrets"), list) and all(isinstance(s, str) for s in scope["secrets"])
    )


def normalize_ip_rule(rule: str) -> str:
    """Azure stores single addresses as /32 ranges; compare in that form."""
    return str(ipaddress.IPv4Network(rule, strict=False))


def _build(file: Path, document: SourceDocument, root: ConfigRoot) -> Environment:
    data = document.data
    target = data["target"]
    state_dir = None
    if target["kind"] == "emulator":
        state_dir = root.resolve(target.get("state_dir", DEFAULT_EMULATOR_STATE_DIR))
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
                orgs=tuple(sorted(o.lower() for o in entry.get("orgs") or ())),
            )
        )
    return Environment(
        name=file.stem,
        path=file,
        target_spec=TargetSpec(
            kind=target["kind"],
            state_dir=state_dir,
            identity=target.get("identity", "deployer"),
            cloud=cloud_named(target.get("cloud", DEFAULT_CLOUD.name)),
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
            manifests=root.resolve(manifests) if manifests else None,
            identity=sync_identity,
            extra=sync,
        ),
        document=document,
        root=root.path,
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
    "load_environment",
    "normalize_ip_rule",
]
