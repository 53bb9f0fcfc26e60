"""Test helpers: the emulator in-process, or as a child process to kill.

``RunningEmulator`` wraps an in-process :class:`Emulator` with the calls
tests need (vaults, role assignments, faults, audit, credentials acting as
an identity). ``EmulatorProcess`` supervises ``python -m keyvault_emulator serve`` as
a child process (start, wait for its discovery file, stop), so tests can
SIGKILL it and restart on the same state, and ``make demo`` can run one in the
background.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .audit import AuditRecord
from .clock import parse_duration
from .config import ArmLimits, EmulatorConfig
from .discovery import Discovery, discovery_path, identity_environment
from .faults import FaultPlan
from .server import Emulator

_ENV_LOCK = threading.Lock()


@contextlib.contextmanager
def patched_environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of the block (process-wide)."""
    with _ENV_LOCK:
        saved = {key: os.environ.get(key) for key in values}
        os.environ.update(values)
        try:
            yield
        finally:
            for key, old in saved.items():
                if old is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = old


def _admin_call(info: dict[str, Any], method: str, action: str, body: Any) -> Any:
    """One admin API request, with the key and CA from the discovery ``info``."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"{info['arm_url']}/_emulator/{action}",
        data=data,
        method=method,
        headers={"X-Emulator-Admin-Key": info["admin_key"], "Content-Type": "application/json"},
    )
    context = ssl.create_default_context(cafile=info["ca_path"])
    with urllib.request.urlopen(request, context=context, timeout=30) as response:
        return json.load(response)


class IdentityBoundCredential:
    """The unmodified ``DefaultAzureCredential``, pinned to one emulator identity.

    A real process is one managed identity; a test process plays several. The
    sync credential (msal) reads ``IDENTITY_ENDPOINT``/``IDENTITY_HEADER`` when
    it fetches a token, not when it is built, so the identity's environment is
    put in place around each token request.
    """

    def __init__(self, environment: dict[str, str]) -> None:
        from azure.identity import DefaultAzureCredential

        self._environment = environment
        with patched_environment(environment):
            self._inner = DefaultAzureCredential()

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        with patched_environment(self._environment):
            return self._inner.get_token(*scopes, **kwargs)

    def get_token_info(self, *scopes: str, **kwargs: Any) -> Any:
        with patched_environment(self._environment):
            return self._inner.get_token_info(*scopes, **kwargs)

    def close(self) -> None:
        self._inner.close()

    def __enter__(self) -> IdentityBoundCredential:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class VaultHandle:
    name: str
    uri: str
    resource_id: str


def unique_vault_name(prefix: str = "kv") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


class RunningEmulator:
    """An in-process emulator with the conveniences tests need."""

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        state_dir: Path | None = None,
        persist: bool = False,
    ) -> None:
        self.server = Emulator(config, state_dir=state_dir, persist=persist).start()
        self.world = self.server.world

    # -- endpoints -----------------------------------------------------------------
    @property
    def ca_path(self) -> str:
        return self.server.ca_path

    @property
    def arm_url(self) -> str:
        return self.server.arm_url

    @property
    def state_dir(self) -> Path:
        return self.server.state_dir

    @property
    def tenant_id(self) -> str:
        return self.server.config.tenant_id

    @property
    def subscription_id(self) -> str:
        return self.server.config.subscription_id

    def info(self) -> dict[str, Any]:
        published: dict[str, Any] = self.server.call(self.server.info)
        return published

    def object_id(self, identity: str) -> str:
        return self.world.identity(identity).object_id

    def identity_env(self, identity: str) -> dict[str, str]:
        return identity_environment(self.info(), identity)

    # -- credentials -----------------------------------------------------------------
    def credential(self, identity: str) -> Any:
        """A ``DefaultAzureCredential`` that signs in as ``identity``."""
        return IdentityBoundCredential(self.identity_env(identity))

    def async_credential(self, identity: str) -> Any:
        from azure.identity.aio import DefaultAzureCredential

        with patched_environment(self.identity_env(identity)):
            return DefaultAzureCredential()

    def client_kwargs(self) -> dict[str, Any]:
        """What a SecretClient needs to talk to the emulator."""
        return {"connection_verify": self.ca_path, "verify_challenge_resource": False}

    def secret_client(self, vault: VaultHandle | str, identity: str, **kwargs: Any) -> Any:
        from azure.keyvault.secrets import SecretClient

        uri = vault.uri if isinstance(vault, VaultHandle) else vault
        return SecretClient(uri, self.credential(identity), **self.client_kwargs(), **kwargs)

    # -- state -------------------------------------------------------------------------
    def async_secret_client(self, vault: VaultHandle | str, identity: str, **kwargs: Any) -> Any:
        """The aio ``SecretClient`` for ``vault`` as ``identity``; use it in ``async with``."""
        from azure.keyvault.secrets.aio import SecretClient

        uri = vault.uri if isinstance(vault, VaultHandle) else vault
        return SecretClient(
            uri, self.async_credential(identity), **self.client_kwargs(), **kwargs
        )

    def create_vault(
        self,
        name: str | None = None,
        *,
        rbac: bool = True,
        purge_protection: bool = True,
        retention_days: int = 90,
        resource_group: str = "rg-local",
    ) -> VaultHandle:
        vault = self.server.call(
            self.server.create_vault_now,
            name=name or unique_vault_name(),
            rbac=rbac,
            purge_protection=purge_protection,
            retention_days=retention_days,
            resource_group=resource_group,
            subscription_id=self.subscription_id,
        )
        return VaultHandle(vault.name, f"https://127.0.0.1:{vault.port}/", vault.resource_id)

    def assign_role(self, identity: str, role: str, scope: str) -> str:
        principal = self.world.identity(identity)
        assignment = self.server.call(
            self.world.grant,
            principal.object_id,
            role,
            scope,
            principal_type=principal.principal_type,
        )
        return str(assignment.id)

    def audit(
        self,
        *,
        vault: str | None = None,
        plane: str | None = None,
        since: float | None = None,
        operation: str | None = None,
    ) -> list[AuditRecord]:
        return self.world.audit.records(vault=vault, plane=plane, since=since, operation=operation)

    def set_faults(self, vault: str | None, **plan: Any) -> None:
        if "statuses" in plan:
            plan["statuses"] = tuple(plan["statuses"])
        if "operations" in plan:
            plan["operations"] = frozenset(plan["operations"])
        self.server.call(self.world.set_faults, vault, FaultPlan(**plan))

    def clear_faults(self, vault: str | None) -> None:
        self.server.call(self.world.set_faults, vault, None)

    def set_throttling(
        self,
        vault: str,
        *,
        enabled: bool = True,
        writes_per_10s: int | None = None,
        others_per_10s: int | None = None,
        window_s: float | None = None,
    ) -> None:
        self.server.call(
            self.world.set_throttling,
            vault,
            enabled=enabled,
            writes_per_10s=writes_per_10s,
            others_per_10s=others_per_10s,
            window_s=window_s,
        )

    def connections_accepted(self, vault: VaultHandle) -> int:
        """TCP connections the vault's data plane has accepted (clients should reuse them)."""
        port = int(vault.uri.rstrip("/").rsplit(":", 1)[1])
        return self.server.connections_accepted[port]

    # -- time -------------------------------------------------------------------------------
    def advance_clock(self, duration: str | float) -> float:
        """Move the emulator's clock forward (``"30d"``, ``"12h"``, or seconds); returns its now.

        Secret expiry and purge dates, vault purge dates and token expiry all
        read this clock (see :mod:`keyvault_emulator.clock`); it never goes back.
        """
        seconds = parse_duration(duration) if isinstance(duration, str) else float(duration)
        now: float = self.server.call(self.world.clock.advance, seconds)
        return now

    def now(self) -> float:
        """The emulator's time (epoch seconds): this machine's plus what was advanced."""
        return self.world.clock.now()

    def mint_token(self, identity: str, resource: str, *, lifetime_s: int | None = None) -> str:
        token, _ = self.world.tokens.mint(
            self.world.identity(identity), resource, lifetime_s=lifetime_s
        )
        return token

    # -- Resource Manager -----------------------------------------------------------------
    def mgmt_kwargs(self) -> dict[str, Any]:
        """What an unmodified azure-mgmt-* client needs to talk to the emulator's ARM."""
        return {
            "base_url": self.arm_url,
            "credential_scopes": ["https://management.azure.com/.default"],
            "connection_verify": self.ca_path,
        }

    def keyvault_mgmt_client(self, identity: str = "deployer", **kwargs: Any) -> Any:
        from azure.mgmt.keyvault import KeyVaultManagementClient

        return KeyVaultManagementClient(
            self.credential(identity), self.subscription_id, **self.mgmt_kwargs(), **kwargs
        )

    def authorization_client(self, identity: str = "deployer", **kwargs: Any) -> Any:
        from azure.mgmt.authorization import AuthorizationManagementClient

        return AuthorizationManagementClient(
            self.credential(identity), self.subscription_id, **self.mgmt_kwargs(), **kwargs
        )

    def resource_client(self, identity: str = "deployer", **kwargs: Any) -> Any:
        from azure.mgmt.resource.resources import ResourceManagementClient

        return ResourceManagementClient(
            self.credential(identity), self.subscription_id, **self.mgmt_kwargs(), **kwargs
        )

    def arm_request(
        self,
        method: str,
        path: str,
        *,
        identity: str | None = "deployer",
        body: Any = None,
        raw_body: bytes | None = None,
        api_version: str | None = "2026-05-15",
        query: dict[str, str] | None = None,
        token: str | None = None,
    ) -> tuple[int, Any, dict[str, str]]:
        """One raw HTTPS request to ARM: (status, parsed JSON body or None, headers).

        For wire-level tests (schemas, malformed input); SDK tests use the clients.
        """
        import requests

        params = dict(query or {})
        if api_version is not None:
            params["api-version"] = api_version
        headers = {"Content-Type": "application/json"}
        if token is None and identity is not None:
            token = self.mint_token(identity, "https://management.azure.com")
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        data = raw_body if raw_body is not None else (None if body is None else json.dumps(body))
        response = requests.request(
            method,
            f"{self.arm_url}{path}",
            params=params,
            data=data,
            headers=headers,
            verify=self.ca_path,
            timeout=30,
        )
        parsed = response.json() if response.content else None
        return response.status_code, parsed, dict(response.headers)

    def declare_identity(
        self,
        name: str,
        *,
        replicate_after_s: float | None = None,
        principal_type: str = "ServicePrincipal",
    ) -> str:
        """Create a principal now (as Entra ID would); returns its object id.

        Resource Manager learns of it after ``replicate_after_s`` (default: the
        configured ``principal_replication_delay_s``); until then an assignment
        for it without ``principalType`` fails with ``PrincipalNotFound``.
        """
        from .config import Identity

        identity = Identity.named(name, principal_type)
        self.server.call(self.server.add_identity, identity, replication_delay_s=replicate_after_s)
        return identity.object_id

    def admin(self, method: str, action: str, body: dict[str, Any] | None = None) -> Any:
        """Call the admin API (``/_emulator/{action}``) over HTTPS, as other processes do."""
        return _admin_call(self.info(), method, action, body)

    def set_arm_throttling(
        self,
        *,
        enabled: bool = True,
        writes: int | None = None,
        reads: int | None = None,
        window_s: float | None = None,
    ) -> None:
        """Resource Manager's per-principal limits (defaults: the configuration's)."""
        base = self.server.config.arm_throttling
        limits = ArmLimits(
            enabled=enabled,
            window_s=base.window_s if window_s is None else window_s,
            writes=base.writes if writes is None else writes,
            reads=base.reads if reads is None else reads,
        )
        self.server.call(self.server.arm.set_limits, limits)

    def stop(self) -> None:
        self.server.stop()


class EmulatorStartError(RuntimeError):
    """The emulator exited, or took too long, while starting; with its log's last lines."""

    def __init__(self, reason: str, *, log_path: Path | None = None, log_tail: str = "") -> None:
        self.reason = reason
        self.log_path = log_path
        self.log_tail = log_tail
        text = reason if log_path is None else f"{reason} (its log: {log_path})"
        super().__init__(f"{text}\n{log_tail}" if log_tail else text)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but another user's
        return True
    return True


class EmulatorProcess:
    """``python -m keyvault_emulator serve`` as a child process: started, waited for, stopped.

    Tests kill and restart it on the same state; ``make demo`` runs one in the
    background, or attaches to one already serving its state directory
    (:meth:`attach`). The child gets a session of its own, so a terminal's Ctrl-C
    reaches only its supervisor, which stops it with SIGTERM (the emulator
    then removes its discovery file): call :meth:`stop` in a ``finally``. Its
    output goes to ``log_path`` if given, else nowhere.
    """

    #: How many lines of the log a start error quotes.
    LOG_TAIL_LINES = 20

    def __init__(
        self, state_dir: Path, *, config_path: Path | None = None, log_path: Path | None = None
    ) -> None:
        self.state_dir = Path(state_dir)
        self.config_path = config_path
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.info: dict[str, Any] = {}

    @classmethod
    def attach(cls, state_dir: Path) -> EmulatorProcess | None:
        """The emulator already serving ``state_dir`` if its process is alive, else None.

        :meth:`stop` leaves an attached emulator running: it is not ours.
        """
        try:
            published = Discovery.read(Path(state_dir))
        except (FileNotFoundError, ValueError):
            return None
        if not _process_alive(published.pid):
            return None
        found = cls(state_dir)
        found.info = published.to_json()
        return found

    @property
    def started_here(self) -> bool:
        return self.process is not None

    @property
    def pid(self) -> int:
        return self.process.pid if self.process is not None else int(self.info["pid"])

    @property
    def arm_url(self) -> str:
        return str(self.info["arm_url"])

    def start(self, timeout_s: float = 30) -> EmulatorProcess:
        """:meth:`launch`, then :meth:`wait_ready`; a child that fails to start is stopped."""
        self.launch()
        try:
            return self.wait_ready(timeout_s)
        except BaseException:
            self.stop()
            raise

    def launch(self) -> EmulatorProcess:
        """Start the child and return at once (a stale discovery file is removed first).

        A live emulator's file is left alone: the child is then refused (the
        state directory is locked) and exits naming that emulator's pid.
        """
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError(f"the emulator started here still runs (pid {self.process.pid})")
        if EmulatorProcess.attach(self.state_dir) is None:  # stale; never a live emulator's
            with contextlib.suppress(FileNotFoundError):
                discovery_path(self.state_dir).unlink()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "keyvault_emulator",
            "--state-dir",
            str(self.state_dir),
            "serve",
            "--port",
            "0",
        ]
        if self.config_path:
            command += ["--config", str(self.config_path)]
        with contextlib.ExitStack() as stack:
            output: Any = subprocess.DEVNULL
            if self.log_path is not None:
                self.log_path.parent.mkdir(parents=True, exist_ok=True)
                output = stack.enter_context(self.log_path.open("wb"))
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=Path(__file__).resolve().parent.parent,
                start_new_session=True,
            )
        return self

    def wait_ready(self, timeout_s: float = 30) -> EmulatorProcess:
        """Wait for the discovery file naming the child's pid; raises EmulatorStartError."""
        process = self.process
        if process is None:
            return self  # attached: it already serves
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise self._start_error(
                    f"the emulator exited with status {process.returncode} while starting"
                )
            try:
                found = Discovery.read(self.state_dir)
                if found.pid == process.pid:
                    self.info = found.to_json()
                    return self
            except (FileNotFoundError, ValueError):
                pass
            time.sleep(0.05)
        raise self._start_error(f"the emulator did not start within {timeout_s:g}s")

    def log_tail(self) -> str:
        """The log's last lines ("" without a log)."""
        if self.log_path is None:
            return ""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-self.LOG_TAIL_LINES :])

    def _start_error(self, reason: str) -> EmulatorStartError:
        return EmulatorStartError(reason, log_path=self.log_path, log_tail=self.log_tail())

    def admin(self, method: str, action: str, body: dict[str, Any] | None = None) -> Any:
        return _admin_call(self.info, method, action, body)

    def identity_env(self, identity: str) -> dict[str, str]:
        return identity_environment(self.info, identity)

    def create_vault(
        self, name: str, *, roles: dict[str, str] | None = None, **fields: Any
    ) -> dict[str, str]:
        """Declare a vault (``name``, ``uri``, ``resource_id``) and grant ``{identity: role}``."""
        vault: dict[str, str] = self.admin("POST", "vaults", {"name": name, **fields})
        for identity, role in (roles or {}).items():
            self.admin(
                "POST",
                "role-assignments",
                {"identity": identity, "role": role, "scope": vault["resource_id"]},
            )
        return vault

    def secret_client(self, uri: str, identity: str, **kwargs: Any) -> Any:
        """The unmodified ``SecretClient`` for ``uri``, signed in as ``identity``."""
        from azure.keyvault.secrets import SecretClient

        return SecretClient(
            uri,
            IdentityBoundCredential(self.identity_env(identity)),
            verify_challenge_resource=False,
            connection_verify=self.info["ca_path"],
            **kwargs,
        )

    def kill(self) -> None:
        """SIGKILL: no chance to flush or clean up."""
        process = self.process
        if process is not None and process.poll() is None:
            self._signal(signal.SIGKILL)
            process.wait(timeout=10)

    def stop(self, timeout_s: float = 10) -> None:
        """SIGTERM, wait up to ``timeout_s``, then SIGKILL. Only a child started here."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        self._signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()

    def _signal(self, signum: signal.Signals) -> None:
        """Signal the child's process group: it leads its own session."""
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)
