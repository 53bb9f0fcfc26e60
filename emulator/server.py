"""The emulator process: one event loop, a main listener and one per vault.

The main port serves the managed-identity token endpoint (``/msi/token``),
the admin API (``/_emulator/``) and Resource Manager (everything else). Each
vault's data plane listens on a port of its own, because the SDK parses ids
and ``nextLink`` against the vault's authority and a vault cannot live under
a path prefix. All state is touched only on the loop's thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import secrets
import signal
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from .admin import PREFIX as ADMIN_PREFIX
from .admin import handle_admin
from .arm.plane import ArmPlane
from .config import EmulatorConfig, VaultSeed
from .discovery import remove_discovery, write_discovery
from .errors import AzureError
from .http import Request, Response, bind_socket, serve_socket
from .identity import TOKEN_PATH, handle_token_request, identity_header
from .keyvault.models import Vault
from .keyvault.responses import SecretsPlane
from .persistence import Store
from .state import World
from .tls import ensure_certificates

log = logging.getLogger("emulator")
T = TypeVar("T")
AUDIT_FLUSH_S = 0.2


class Emulator:
    """Local Azure. ``start()`` serves from a background thread; ``run()`` blocks."""

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        state_dir: Path | None = None,
        persist: bool = True,
    ) -> None:
        self.config = config or EmulatorConfig()
        self._temporary: tempfile.TemporaryDirectory[str] | None = None
        if state_dir is None:
            self._temporary = tempfile.TemporaryDirectory(prefix="kv-emulator-")
            state_dir = Path(self._temporary.name)
        self.state_dir = Path(state_dir).resolve()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.certificates = ensure_certificates(self.state_dir / "tls")
        self.store = Store(self.state_dir / "state.sqlite3" if persist else None)
        self.world = World(self.config, self.store, self.state_dir / "signing.key")
        self.admin_key = secrets.token_urlsafe(24)
        self.secrets_plane = SecretsPlane(self.world)
        self.arm = ArmPlane(self.world, self.ensure_vault_listener, self.close_vault_listener)
        self._ssl = self.certificates.server_context()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._servers: dict[int, asyncio.AbstractServer] = {}
        self._stopped: asyncio.Event | None = None
        self.port = 0
        self._published = False
        self.connections_accepted: Counter[int] = Counter()  # per vault port

    # -- endpoints ------------------------------------------------------------------
    @property
    def ca_path(self) -> str:
        return str(self.certificates.ca_path)

    @property
    def arm_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def identity_endpoint(self) -> str:
        return f"{self.arm_url}{TOKEN_PATH}"

    def info(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "arm_url": self.arm_url,
            "identity_endpoint": self.identity_endpoint,
            "ca_path": self.ca_path,
            "tenant_id": self.config.tenant_id,
            "subscription_id": self.config.subscription_id,
            "subscriptions": list(self.config.subscriptions),
            "admin_key": self.admin_key,
            "identities": {
                i.name: {
                    "object_id": i.object_id,
                    "client_id": i.client_id,
                    "principal_type": i.principal_type,
                    "header": identity_header(self.world, i),
                }
                for i in self.world.identities_by_oid.values()
            },
            "vaults": {
                v.name: {"uri": f"https://127.0.0.1:{v.port}/", "resource_id": v.resource_id}
                for v in self.world.vaults.values()
                if v.deleted_at is None
            },
        }

    # -- dispatch ---------------------------------------------------------------
    def _handle_main(self, request: Request) -> Response:
        if request.path == TOKEN_PATH:
            return handle_token_request(self.world, request)
        if request.path.startswith(ADMIN_PREFIX):
            return handle_admin(self, request)
        try:
            return self.arm.handle(request)
        except AzureError as error:
            return Response.json(error.status, error.body(), error.headers)

    # -- lifecycle ----------------------------------------------------------------
    def start(self) -> Emulator:
        """Serve from a daemon thread; returns once every listener is bound."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            try:
                asyncio.run(self._main(ready))
            except BaseException as exc:  # surface start-up failures to the caller
                failure.append(exc)
                ready.set()

        self._thread = threading.Thread(target=run, name="kv-emulator", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        return self

    def run(self) -> None:
        """Serve in the foreground until SIGINT or SIGTERM."""
        asyncio.run(self._main(None, handle_signals=True))

    async def _main(self, ready: threading.Event | None, *, handle_signals: bool = False) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        if handle_signals:
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._loop.add_signal_handler(signum, self._stopped.set)
        main_sock = bind_socket(self.config.port)
        self.port = main_sock.getsockname()[1]
        self._servers[self.port] = await serve_socket(main_sock, self._handle_main, self._ssl)
        for seed in self.config.vaults:
            if seed.name.lower() not in self.world.vaults:
                self._create_vault(seed)
        for vault in list(self.world.vaults.values()):
            if vault.deleted_at is None:
                self.ensure_vault_listener(vault)
        write_discovery(self.state_dir, self.info())
        self._published = True
        flusher = asyncio.create_task(self._flush_audit())
        log.info("emulator listening on %s (CA: %s)", self.arm_url, self.ca_path)
        if ready is not None:
            ready.set()
        try:
            await self._stopped.wait()
        finally:
            flusher.cancel()
            for server in self._servers.values():
                server.close()
            self.world.audit.flush()
            self._published = False
            remove_discovery(self.state_dir)
            self.store.close()

    async def _flush_audit(self) -> None:
        while True:
            await asyncio.sleep(AUDIT_FLUSH_S)
            self.world.audit.flush()

    def stop(self) -> None:
        if self._loop is None or self._stopped is None:
            return
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._stopped.set)
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._temporary is not None:
            self._temporary.cleanup()

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` on the emulator's loop thread and return its result."""
        if self._loop is None:
            return fn(*args, **kwargs)
        if threading.current_thread() is self._thread:
            return fn(*args, **kwargs)
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:
                future.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return future.result(timeout=30)

    # -- vault listeners ----------------------------------------------------------
    def ensure_vault_listener(self, vault: Vault) -> int:
        """Bind the vault's port now (reusing its old one when free) and serve it."""
        if vault.port and vault.port in self._servers:
            return vault.port
        assert self._loop is not None
        wanted = vault.port
        try:
            sock = bind_socket(wanted)
        except OSError:
            if not wanted:
                raise
            log.warning("port %s of vault %s is taken; picking another", wanted, vault.name)
            sock = bind_socket(self._next_vault_port())
        port = sock.getsockname()[1]
        self.world.set_vault_port(vault, port)
        self._publish()
        self._servers[port] = None  # type: ignore[assignment]  # reserved until serving

        async def serve() -> None:
            self._servers[port] = await serve_socket(
                sock, self.secrets_plane.handle, self._ssl, self.connections_accepted
            )

        self._loop.create_task(serve())
        return port

    def _next_vault_port(self) -> int:
        base = self.config.vault_port_base
        if not base:
            return 0
        used = {v.port for v in self.world.vaults.values()}
        port = base
        while port in used:
            port += 1
        return port

    def close_vault_listener(self, vault: Vault) -> None:
        server = self._servers.pop(vault.port, None)
        if server is not None:
            server.close()
        self._publish()

    def _publish(self) -> None:
        """Keep the discovery file's vault list current once serving has begun."""
        if self._published:
            write_discovery(self.state_dir, self.info())

    def _create_vault(self, seed: VaultSeed, created_by: str = "") -> Vault:
        vault = Vault(
            name=seed.name,
            subscription_id=seed.subscription_id,
            resource_group=seed.resource_group,
            location=seed.location,
            properties={
                "tenantId": self.config.tenant_id,
                "sku": {"family": "A", "name": "standard"},
                "accessPolicies": [],
                "enableRbacAuthorization": seed.rbac,
                "enableSoftDelete": True,
                "softDeleteRetentionInDays": seed.retention_days,
                "enablePurgeProtection": True if seed.purge_protection else None,
                "publicNetworkAccess": "Enabled",
                "provisioningState": "Succeeded",
            },
            created_at=time.time(),
            created_by=created_by,
        )
        vault.port = 0
        self.world.add_vault(vault)
        if self._loop is not None:
            self.ensure_vault_listener(vault)
        return vault

    def create_vault_now(self, **fields: Any) -> Vault:
        """Declare a vault directly (configuration-style), bypassing ARM."""
        seed = VaultSeed(**fields)
        if seed.name.lower() in self.world.vaults:
            raise AzureError(
                409, "VaultAlreadyExists", f"The vault name '{seed.name}' is already in use."
            )
        return self._create_vault(seed)
