"""Microsoft Graph's directory reads, as the Azure CLI makes them, for the emulator's principals.

No Python SDK here speaks Graph's v1.0 REST surface the way the CLI does, so
these are plain HTTPS requests, with tokens fetched through the real
managed-identity credential (``azure-identity``) from the emulator's token
endpoint for the audiences the CLI asks for.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from keyvault_emulator.graph.models import USER_DOMAIN
from keyvault_emulator.testing import RunningEmulator

GRAPH_SCOPE = "https://graph.microsoft.com/.default"


def _token(emulator: RunningEmulator, identity: str, scope: str) -> str:
    with emulator.credential(identity) as credential:
        return str(credential.get_token(scope).token)


def graph(
    emulator: RunningEmulator,
    method: str,
    path: str,
    *,
    identity: str = "deployer",
    scope: str = GRAPH_SCOPE,
    token: str | None = None,
    url: str | None = None,
    **kwargs: Any,
) -> requests.Response:
    bearer = token if token is not None else _token(emulator, identity, scope)
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    return requests.request(
        method,
        url or f"{emulator.arm_url}/v1.0{path}",
        headers=headers,
        verify=emulator.ca_path,
        timeout=30,
        **kwargs,
    )


def test_get_by_ids_answers_the_known_principals_typed_and_leaves_unknown_ids_out(emulator):
    app, sync = emulator.object_id("app"), emulator.object_id("sync")
    unknown = "00000000-0000-0000-0000-0000000000aa"
    answer = graph(
        emulator,
        "POST",
        "/directoryObjects/getByIds",
        json={"ids": [sync, unknown, app], "types": ["user", "group", "servicePrincipal"]},
    )
    assert answer.status_code == 200
    found = answer.json()["value"]
    assert [o["id"] for o in found] == [sync, app]
    assert {o["@odata.type"] for o in found} == {"#microsoft.graph.servicePrincipal"}
    assert found[1]["appId"] == emulator.world.identity("app").client_id
    assert found[1]["displayName"] == "app"


def test_get_by_ids_keeps_to_the_types_asked_for(emulator):
    answer = graph(
        emulator,
        "POST",
        "/directoryObjects/getByIds",
        json={"ids": [emulator.object_id("app")], "types": ["user"]},
    )
    assert answer.json()["value"] == []


def test_get_by_ids_refuses_an_id_that_is_no_guid(emulator):
    answer = graph(emulator, "POST", "/directoryObjects/getByIds", json={"ids": ["app"]})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "Request_BadRequest"


@pytest.mark.parametrize(
    "query",
    [
        "servicePrincipalNames/any(c:c eq 'sync')",
        "servicePrincipalNames/any(x: x eq '{client_id}')",
        "appId eq '{client_id}'",
        "displayName eq 'SYNC'",
        "appId eq '{client_id}' and displayName eq 'sync'",
    ],
)
def test_service_principals_are_found_as_the_cli_asks(emulator, query):
    client_id = emulator.world.identity("sync").client_id
    answer = graph(
        emulator, "GET", "/servicePrincipals", params={"$filter": query.format(client_id=client_id)}
    )
    assert answer.status_code == 200
    assert [o["id"] for o in answer.json()["value"]] == [emulator.object_id("sync")]


def test_a_service_principal_nobody_has_is_an_empty_list(emulator):
    answer = graph(
        emulator,
        "GET",
        "/servicePrincipals",
        params={"$filter": "servicePrincipalNames/any(c:c eq 'nobody')"},
    )
    assert answer.status_code == 200
    assert answer.json()["value"] == []


def test_users_are_found_by_principal_name(emulator):
    object_id = emulator.declare_identity("graph-user-alice", principal_type="User")
    upn = f"graph-user-alice@{USER_DOMAIN}"
    answer = graph(emulator, "GET", "/users", params={"$filter": f"userPrincipalName eq '{upn}'"})
    assert [u["id"] for u in answer.json()["value"]] == [object_id]
    by_ids = graph(
        emulator, "POST", "/directoryObjects/getByIds", json={"ids": [object_id]}
    ).json()["value"]
    assert by_ids[0]["@odata.type"] == "#microsoft.graph.user"
    assert by_ids[0]["userPrincipalName"] == upn
    assert graph(emulator, "GET", f"/users/{upn}").json()["id"] == object_id


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/servicePrincipals", "startswith(displayName,'s')"),
        ("/servicePrincipals", "appId eq 'x' or appId eq 'y'"),
        ("/servicePrincipals", "userPrincipalName eq 'x'"),
        ("/users", "servicePrincipalNames/any(c:c eq 'x')"),
    ],
)
def test_a_filter_graph_would_not_take_here_is_refused_in_graphs_shape(emulator, path, query):
    answer = graph(emulator, "GET", path, params={"$filter": query})
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "Request_UnsupportedQuery"
    assert {"date", "request-id", "client-request-id"} <= set(error["innerError"])


@pytest.mark.parametrize("kind", ["servicePrincipals", "users", "directoryObjects"])
def test_an_unknown_id_is_graphs_resource_not_found(emulator, kind):
    unknown = "00000000-0000-0000-0000-0000000000bb"
    answer = graph(emulator, "GET", f"/{kind}/{unknown}")
    assert answer.status_code == 404
    error = answer.json()["error"]
    assert error["code"] == "Request_ResourceNotFound"
    assert f"Resource '{unknown}' does not exist" in error["message"]
    assert "request-id" in error["innerError"]


def test_a_principal_is_read_by_id(emulator):
    app = emulator.object_id("app")
    assert graph(emulator, "GET", f"/servicePrincipals/{app}").json()["displayName"] == "app"
    shown = graph(emulator, "GET", f"/directoryObjects/{app}").json()
    assert shown["@odata.type"] == "#microsoft.graph.servicePrincipal"


def test_me_is_refused_for_a_service_principal_as_graph_does(emulator):
    answer = graph(emulator, "GET", "/me")
    assert answer.status_code == 400
    assert "delegated authentication flow" in answer.json()["error"]["message"]


def test_lists_come_in_pages_linked_by_odata_next_link(emulator):
    seen: list[str] = []
    url: str | None = f"{emulator.arm_url}/v1.0/servicePrincipals?$top=1"
    pages = 0
    while url:
        body = graph(emulator, "GET", "", url=url).json()
        assert len(body["value"]) <= 1
        seen += [o["id"] for o in body["value"]]
        url = body.get("@odata.nextLink")
        pages += 1
    everyone = graph(emulator, "GET", "/servicePrincipals").json()["value"]
    assert seen == [o["id"] for o in everyone]
    assert pages == len(everyone) >= 4


def test_the_emulators_own_origin_is_a_graph_audience_as_a_registered_cli_asks(emulator):
    # az cloud register takes Graph's URL from microsoftGraphResourceId (the
    # emulator's origin) and asks tokens for that same resource.
    answer = graph(emulator, "GET", "/servicePrincipals", scope=f"{emulator.arm_url}//.default")
    assert answer.status_code == 200
    beta = graph(
        emulator, "GET", "", url=f"{emulator.arm_url}/beta/servicePrincipals", scope=GRAPH_SCOPE
    )
    assert beta.status_code == 200


@pytest.mark.parametrize(
    ("scope", "message"),
    [
        ("https://management.azure.com/.default", "Invalid audience"),
        ("https://vault.azure.net/.default", "Invalid audience"),
    ],
)
def test_tokens_for_other_audiences_are_refused(emulator, scope, message):
    answer = graph(emulator, "GET", "/servicePrincipals", scope=scope)
    assert answer.status_code == 401
    error = answer.json()["error"]
    assert error["code"] == "InvalidAuthenticationToken"
    assert message in error["message"]


def test_no_token_is_refused(emulator):
    answer = graph(emulator, "GET", "/servicePrincipals", token="")
    assert answer.status_code == 401
    assert answer.json()["error"]["message"] == "Access token is empty."


def test_an_unserved_graph_segment_is_graphs_bad_request(emulator):
    answer = graph(emulator, "GET", "/groups")
    assert answer.status_code == 400
    assert answer.json()["error"]["message"] == "Resource not found for the segment 'groups'."


def test_graph_requests_are_audited(emulator):
    since = emulator.audit()[-1].time if emulator.audit() else 0.0
    graph(emulator, "POST", "/directoryObjects/getByIds", json={"ids": []})
    records = emulator.audit(plane="graph", since=since)
    assert [r.operation for r in records][-1:] == ["DirectoryObjectsGetByIds"]
    assert records[-1].principal == emulator.object_id("deployer")
