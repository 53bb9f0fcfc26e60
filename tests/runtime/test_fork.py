"""A fork while a read is in flight (gunicorn --preload, multiprocessing) must not hang the child.

The child inherits the parent's single-flight registry and locks, but not
the threads that would resolve or release them. Each test forks (os.fork,
no network), lets the child read, and bounds the child with a deadline: a
child that hangs is killed and the test fails.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

import pytest
from orgsecrets import SecretStore, StoreConfig
from orgsecrets.cache import Loaded, SecretCache
from orgsecrets.naming import SecretName, secret_name

# Windows has no os.fork: processes there start fresh (spawn), inherit no
# lock or load in flight, and the hazard these tests guard against cannot
# arise. Everywhere CI and the shipped pipelines run (Linux), they run.
pytestmark = pytest.mark.skipif(
    not hasattr(os, "fork"), reason="os.fork does not exist on Windows, where no child inherits"
)

CHILD_DEADLINE_S = 20.0
"""A guard against a hung child, not a timing assertion."""


def run_in_child(work: Callable[[], str]) -> str:
    """Fork, run ``work`` in the child, return what it wrote; fail if the child hangs."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            os.close(read_end)
            # Our own guard too, in case the parent dies before killing us.
            guard = threading.Timer(CHILD_DEADLINE_S, os._exit, args=(3,))
            guard.daemon = True
            guard.start()
            os.write(write_end, work().encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    deadline = time.monotonic() + CHILD_DEADLINE_S
    status = None
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.02)
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.close(read_end)
        pytest.fail("the child's read hung")
    with os.fdopen(read_end, "rb") as pipe:
        out = pipe.read().decode()
    assert status is not None and os.waitstatus_to_exitcode(status) == 0, "the child failed"
    return out


class ParentBlocksSource:
    """In the parent, blocks until released; in a forked child, answers at once."""

    def __init__(self) -> None:
        self.parent_pid = os.getpid()
        self.started = threading.Event()
        self.release = threading.Event()

    def __call__(self, name: SecretName) -> Loaded:
        if os.getpid() != self.parent_pid:
            return Loaded(f"child-{name.name}", "test")
        self.started.set()
        assert self.release.wait(30), "never released"
        return Loaded(f"parent-{name.name}", "test")


def test_child_get_does_not_wait_on_the_parents_flight() -> None:
    source = ParentBlocksSource()
    cache = SecretCache(source)
    name = secret_name("db-password")
    parent_result: list[str | None] = []
    reader = threading.Thread(target=lambda: parent_result.append(cache.get(name).value))
    reader.start()
    try:
        assert source.started.wait(10)
        child_value = run_in_child(lambda: str(cache.get(name).value))
    finally:
        source.release.set()
        reader.join(10)
    assert child_value == "child-db-password"
    assert parent_result == ["parent-db-password"]  # the parent's own read still completes


def test_child_get_does_not_wait_on_a_lock_held_at_fork() -> None:
    cache = SecretCache(lambda n: Loaded(f"v-{n.name}", "test"))
    name = secret_name("api-key")
    held, release = threading.Event(), threading.Event()

    def hold_the_lock() -> None:
        with cache._lock:  # a thread inside the cache's critical section at fork
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    try:
        assert held.wait(10)
        child_value = run_in_child(lambda: str(cache.get(name).value))
    finally:
        release.set()
        holder.join(10)
    assert child_value == "v-api-key"
    assert cache.get(name).value == "v-api-key"


def test_store_get_in_child_while_parent_read_is_in_flight() -> None:
    source = ParentBlocksSource()
    store = SecretStore(StoreConfig(environment_fallback=False, dotenv_path=None))
    store._cache = SecretCache(source)  # the local loader, replaced by one that blocks
    parent_result: list[str] = []
    reader = threading.Thread(target=lambda: parent_result.append(store.get("token", org="c")))
    reader.start()
    try:
        assert source.started.wait(10)
        child_value = run_in_child(lambda: store.get("token", org="c"))
    finally:
        source.release.set()
        reader.join(10)
    assert child_value == "child-token"
    assert parent_result == ["parent-token"]
