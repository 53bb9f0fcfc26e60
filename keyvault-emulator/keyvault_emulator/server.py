"""The emulator process: one event loop, a main listener and one per vault.

The main port serves the managed-identity token endpoint (``/msi/token``),
Microsoft Graph (``/v1.0/``, ``/beta/``),
the admin API (``/_emulator/``) and Resource Manager (everything else). Each
vault's data plane listens on a port of its own, because the SDK parses ids
and ``nextLink`` against the vault's authority and a vault cannot live under
a path prefix. All state is touched only on the loop's thread; disk writes
run on the state store's own thread.

The state directory is private: ``0700``, every file in it ``0600``
(tightened at start, for directories made by older emulators too).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import logging
import os
import secrets
import signal
import socket
import tempfile
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .admin import PREFIX as ADMIN_PREFIX
from .admin import handle_admin
from .arm.plane import ArmPlane
from .config import EmulatorConfig, Identity, VaultSeed
from .discovery import Discovery, EmulatorIdentity, PublishedVault, remove_discovery
from .errors import AzureError
from .events import EventDelivery, current_version
from .graph.plane import GraphPlane
from .graph.routes import PREFIXES as GRAPH_PREFIXES
from .http import (
    ConnectionLimits,
    Connections,
    Handler,
    Request,
    Response,
    bind_socket,
    request_log,
    serve_socket,
)
from .identity import TOKEN_PATH, handle_token_request, identity_header
from .keyvault.models import Vault
from .keyvault.responses import SecretsPlane
from .persistence import DEFAULT_AUDIT_RETENTION, Store
from .seeding import apply_configured_faults, seed_secrets
from .state import World
from .statelock import StateLock
from .tls import ensure_certificates

log = logging.getLogger("emulator")
AUDIT_FLUSH_S = 0.2


def make_private(directory: Path) -> None:
    """``directory`` and everything under it readable by its owner only."""
    directory.chmod(0o700)
    for root, dirs, files in os.walk(directory):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o700)
        for name in files:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                os.chmod(path, 0o600)


class Emulator:
    """Local Azure. ``start()`` serves from a background thread; ``run()`` blocks."""

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        state_dir: Path | None = None,
        persist: bool = True,
        limits: ConnectionLimits | None = None,
        audit_retention: int = DEFAULT_AUDIT_RETENTION,
    ) -> None:
        self.config = config or EmulatorConfig()
        self._temporary: tempfile.TemporaryDirectory[str] | None = None
        if state_dir is None:
            self._temporary = tempfile.TemporaryDirectory(prefix="kv-emulator-")
            state_dir = Path(self._temporary.name)
        self.state_dir = Path(state_dir).resolve()
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.state_dir.chmod(0o700)
        # Before anything reads the state: a second emulator is refused here.
        # In-memory mode keeps no state, so several may share a directory.
        self._state_lock = StateLock.acquire(self.state_dir) if persist else None
        try:
            self.certificates = ensure_certificates(self.state_dir / "tls")
            self.store = Store(
                self.state_dir / "state.sqlite3" if persist else None,
                audit_retention=audit_retention,
            )
            self.world = World(self.config, self.store, self.state_dir / "signing.key")
            make_private(self.state_dir)
        except BaseException:
            self._release_state()
            raise
        self.admin_key = secrets.token_urlsafe(24)
        self.events = EventDelivery(
            self.config.event_subscriptions,
            ca_path=self.ca_path,
            lookup=lambda vault, name: self.call(current_version, self.world, vault, name),
        )
        self.secrets_plane = SecretsPlane(self.world, self.events)
        self.arm = ArmPlane(self.world, self.ensure_vault_listener, self.close_vault_listener)
        self.graph = GraphPlane(self.world)
        self._ssl = self.certificates.server_context()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._main_server: asyncio.AbstractServer | None = None
        # Vault listeners by port: serving, or bound and starting (the task that
        # will serve it). A port leaves ``_starting`` when it starts serving or is
        # released; a released listener closes itself once started.
        self._servers: dict[int, asyncio.AbstractServer] = {}
        self._starting: dict[int, asyncio.Task[None]] = {}
        self._listener_tasks: set[asyncio.Task[None]] = set()
        self._stopped: asyncio.Event | None = None
        self.port = 0
        self._published = False
        self.connections_accepted: Counter[int] = Counter()  # per vault port
        self.connections = Connections(limits)

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

    def discovery(self) -> Discovery:
        """What the discovery file (and the admin API's ``info``) publishes."""
        return Discovery(
            pid=os.getpid(),
            arm_url=self.arm_url,
            identity_endpoint=self.identity_endpoint,
            ca_path=self.ca_path,
            tenant_id=self.config.tenant_id,
            subscription_id=self.config.subscription_id,
            subscriptions=tuple(self.config.subscriptions),
            admin_key=self.admin_key,
            identities={
                i.name: EmulatorIdentity(
                    name=i.name,
                    object_id=i.object_id,
                    client_id=i.client_id,
                    principal_type=i.principal_type,
                    header=identity_header(self.world, i),
                )
                for i in self.world.identities_by_oid.values()
            },
            vaults={
                v.name: PublishedVault(
                    name=v.name, uri=f"https://127.0.0.1:{v.port}/", resource_id=v.resource_id
                )
                for v in self.world.vaults.values()
                if v.deleted_at is None
            },
        )

    def info(self) -> dict[str, Any]:
        return self.discovery().to_json()

    # -- dispatch ---------------------------------------------------------------
    def _named(self, handler: Handler) -> Handler:
        """``handler``, its answers marked with the caller for the request log (at -v)."""
        audit = self.world.audit

        def handle(request: Request) -> Response:
            if not request_log.isEnabledFor(logging.DEBUG):
                return handler(request)
            audit.latest = None
            response = handler(request)
            record = audit.latest  # every plane audits the request it answers
            if record is not None:
                response.principal = record.identity or record.principal
            return response

        return handle

    def _serve(self, sock: socket.socket, handler: Handler, **options: Any) -> Any:
        return serve_socket(
            sock,
            self._named(handler),
            self._ssl,
            self.connections,
            barrier=self.store.barrier,
            **options,
        )

    def _handle_main(self, request: Request) -> Response:
        if request.path == TOKEN_PATH:
            return handle_token_request(self.world, request)
        if request.path.startswith(ADMIN_PREFIX):
            return handle_admin(self, request)
        if request.path.startswith(GRAPH_PREFIXES):  # Microsoft Graph: /v1.0/..., /beta/...
            return self.graph.handle(request)
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
        flusher: asyncio.Task[None] | None = None
        try:
            main_sock = bind_socket(self.config.port)
            self.port = main_sock.getsockname()[1]
            self._main_server = await self._serve(main_sock, self._handle_main)
            for seed in self.config.vaults:
                if seed.name.lower() not in self.world.vaults:
                    self._create_vault(seed)
            apply_configured_faults(self.world, self.config)
            # Soft-deleted vaults keep their ports too (their listeners drop every
            # connection, as at run time), so no other vault can be given one.
            for vault in list(self.world.vaults.values()):
                self.ensure_vault_listener(vault)
            self.discovery().write(self.state_dir)
            self._published = True
            flusher = asyncio.create_task(self._flush_audit())
            log.info("emulator listening on %s (CA: %s)", self.arm_url, self.ca_path)
            if ready is not None:
                ready.set()
            await self._stopped.wait()
        finally:
            if flusher is not None:
                flusher.cancel()
            await self._shut_down()

    async def _shut_down(self) -> None:
        """Each step runs even if one before it failed; failures are logged."""
        try:
            await self._close_listeners()
        except Exception:
            log.exception("closing the listeners failed")
        steps: list[tuple[str, Callable[[], None]]] = [
            ("stopping event delivery", self.events.close),
            ("flushing the audit log", self.world.audit.flush),
            ("removing the discovery file", self._unpublish),
            ("closing the state store", self.store.close),
            ("releasing the state directory", self._release_state),
        ]
        for what, step in steps:
            try:
                step()
            except Exception:
                log.exception("%s failed", what)

    async def _close_listeners(self) -> None:
        if self._main_server is not None:  # no new connections, so no new vaults
            self._main_server.close()
            self._main_server = None
        self._starting.clear()  # listeners still starting close themselves once started
        await self.listeners_started()
        for server in self._servers.values():
            server.close()
        self._servers.clear()
        self.connections.close()

    def _release_state(self) -> None:
        if self._state_lock is not None:
            self._state_lock.release()

    def _unpublish(self) -> None:
        if self._published:  # never another emulator's file (say, when start-up failed)
            self._published = False
            remove_discovery(self.state_dir)

    async def listeners_started(self) -> None:
        """Wait until every vault listener being started is serving (or closed)."""
        while self._listener_tasks:
            await asyncio.gather(*self._listener_tasks, return_exceptions=True)

    async def _flush_audit(self) -> None:
        while True:
            await asyncio.sleep(AUDIT_FLUSH_S)
            self.world.audit.flush()

    def request_stop(self) -> None:
        """Ask the server to stop, without waiting (safe from any thread)."""
        if self._loop is None or self._stopped is None:
            return
        if threading.current_thread() is self._thread:
            self._stopped.set()
            return
        with contextlib.suppress(RuntimeError):  # the loop has already closed
            self._loop.call_soon_threadsafe(self._stopped.set)

    def stop(self) -> None:
        """Stop serving and wait for the shutdown to finish."""
        if self._loop is None or self._stopped is None:
            self._release_state()  # never served: nothing else to undo
            return
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._temporary is not None:
            self._temporary.cleanup()

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn`` on the emulator's loop thread and return its result.

        A coroutine function runs as a task on the loop, and its result is
        returned once it finishes.
        """
        if self._loop is None:
            return fn(*args, **kwargs)
        if threading.current_thread() is self._thread:
            return fn(*args, **kwargs)
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def settle(task: asyncio.Future[Any]) -> None:
            if task.cancelled():
                future.cancel()
            elif task.exception() is not None:
                future.set_exception(task.exception())
            else:
                future.set_result(task.result())

        def run() -> None:
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                future.set_exception(exc)
                return
            if inspect.isawaitable(result):
                asyncio.ensure_future(result).add_done_callback(settle)
            else:
                future.set_result(result)

        self._loop.call_soon_threadsafe(run)
        return future.result(timeout=30)

    # -- vault listeners ----------------------------------------------------------
    def _listening(self, port: int) -> bool:
        return port in self._servers or port in self._starting

    def ensure_vault_listener(self, vault: Vault) -> int:
        """Serve the vault's data plane on a port of its own; returns the port.

        A port belongs to one vault: the vault keeps its stored port when that
        port is still its own and free, and otherwise gets a new one.
        """
        assert self._loop is not None
        key = vault.name.lower()
        owner = self.world.vault_ports.get(vault.port) if vault.port else None
        if owner == key and self._listening(vault.port):
            return vault.port
        sock = None
        if vault.port and owner in (None, key):
            try:
                sock = bind_socket(vault.port)
            except OSError:
                log.warning("port %s of vault %s is taken; picking another", vault.port, vault.name)
        if sock is None:
            sock = self._bind_new_vault_port()
        port: int = sock.getsockname()[1]
        self.world.set_vault_port(vault, port)
        self._publish()
        task: asyncio.Task[None]

        async def serve() -> None:
            try:
                server = await self._serve(
                    sock, self.secrets_plane.handle, accepted=self.connections_accepted
                )
            except BaseException:
                sock.close()
                raise
            if self._starting.get(port) is not task:  # released (or stopping) meanwhile
                server.close()
                return
            del self._starting[port]
            self._servers[port] = server

        task = self._loop.create_task(serve())
        self._starting[port] = task
        self._listener_tasks.add(task)
        task.add_done_callback(self._listener_tasks.discard)
        return port

    def _bind_new_vault_port(self) -> socket.socket:
        """A free port: from ``vault_port_base`` upwards when set, else any."""
        base = self.config.vault_port_base
        if not base:
            while True:
                sock = bind_socket(0)
                if sock.getsockname()[1] not in self.world.vault_ports:
                    return sock
                sock.close()  # another vault's port, not bound by us at the moment
        for port in range(base, 65536):
            if port in self.world.vault_ports or port == self.port:
                continue
            try:
                return bind_socket(port)
            except OSError:
                continue
        raise OSError(f"no free port for a vault at or above vault_port_base {base}")

    def close_vault_listener(self, vault: Vault) -> None:
        """Stop serving the vault's port (it was purged)."""
        if self.world.vault_ports.get(vault.port) == vault.name.lower():
            server = self._servers.pop(vault.port, None)
            if server is not None:
                server.close()
            self._starting.pop(vault.port, None)  # its task closes the server once started
        self._publish()

    def add_identity(self, identity: Identity, *, replication_delay_s: float | None = None) -> None:
        """Declare a principal at run time (see ``World.add_identity``) and publish it."""
        self.world.add_identity(identity, replication_delay_s=replication_delay_s)
        self._publish()

    def _publish(self) -> None:
        """Keep the discovery file's vault list current once serving has begun."""
        if self._published:
            self.discovery().write(self.state_dir)

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
            created_at=self.world.clock.now(),
            created_by=created_by,
        )
        vault.port = 0
        self.world.add_vault(vault)
        seed_secrets(self.world, vault, seed)
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
