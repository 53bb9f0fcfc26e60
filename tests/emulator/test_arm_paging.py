"""ARM lists come in pages; the SDK pagers and provisioning read past the first."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from keyvault_platform.cli.provision import run as provision

from emulator.config import EmulatorConfig
from emulator.testing import RunningEmulator

SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"


@pytest.fixture(scope="module")
def small_pages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulator]:
    running = RunningEmulator(
        EmulatorConfig(arm_page_size=2), state_dir=tmp_path_factory.mktemp("paged")
    )
    try:
        yield running
    finally:
        running.stop()


def test_sdk_pagers_follow_next_link(small_pages: RunningEmulator) -> None:
    resources = small_pages.resource_client()
    groups = {f"rg-page-{uuid.uuid4().hex[:6]}" for _ in range(5)}
    for group in groups:
        resources.resource_groups.create_or_update(group, {"location": "westeurope"})
    since = small_pages.audit(plane="arm")[-1].time
    listed = {g.name for g in resources.resource_groups.list()}
    assert groups <= listed
    pages = [r for r in small_pages.audit(plane="arm", since=since) if r.method == "GET"]
    assert len(pages) >= 3  # 5+ groups at 2 a page

    scope = f"/subscriptions/{small_pages.subscription_id}/resourceGroups/{sorted(groups)[0]}"
    authorization = small_pages.authorization_client()
    role = (
        f"/subscriptions/{small_pages.subscription_id}/providers/Microsoft.Authorization"
        f"/roleDefinitions/{SECRETS_USER}"
    )
    for identity in ("app", "sync", "outsider"):
        authorization.role_assignments.create(
            scope,
            str(uuid.uuid4()),
            {
                "role_definition_id": role,
                "principal_id": small_pages.object_id(identity),
                "principal_type": "ServicePrincipal",
            },
        )
    found = list(authorization.role_assignments.list_for_scope(scope, filter="atScope()"))
    assert {a.principal_id for a in found if a.scope.lower() == scope.lower()} == {
        small_pages.object_id(i) for i in ("app", "sync", "outsider")
    }


def test_provisioning_reads_every_page_of_assignments(
    small_pages: RunningEmulator, tmp_path: Path
) -> None:
    suffix = uuid.uuid4().hex[:10]
    grants = "".join(
        f"""  - name: {identity}-reads
    principal_id: {small_pages.object_id(identity)}
    role: Key Vault Secrets User
"""
        for identity in ("app", "sync", "outsider", "deployer")
    )
    path = tmp_path / "env.yaml"
    path.write_text(
        f"""\
target:
  kind: emulator
  state_dir: {small_pages.state_dir}
tenant_id: {small_pages.tenant_id}
subscription_id: {small_pages.subscription_id}
resource_group:
  name: rg-p{suffix}
  location: westeurope
vault:
  name: kv-p{suffix}
access:
{grants}"""
    )

    def run(*args: str) -> tuple[int, str]:
        out, err = io.StringIO(), io.StringIO()
        code = provision(
            ["--env", str(path), "--rbac-wait", "30", "--auto-approve", *args],
            stdout=out,
            stderr=err,
        )
        return code, out.getvalue() + err.getvalue()

    code, output = run()
    assert code == 0, output
    # Four assignments at the vault scope span two pages; a reader of only
    # the first would plan two of them again.
    code, output = run("--plan")
    assert code == 0, output
    assert "No changes." in output
