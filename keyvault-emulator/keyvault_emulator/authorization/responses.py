"""Microsoft.Authorization on the wire: role definitions and role assignments.

Role assignment PUT is synchronous (201 created, 200 same or updated);
DELETE answers 200 with the removed assignment, or 204 when there was none.
List-for-scope understands the ``$filter`` forms the SDK and the portal send:
``atScope()``, ``principalId eq '{id}'``, ``assignedTo('{id}')`` and their
conjunctions.
"""

from __future__ import annotations

import re
import time
from typing import Any

from ..arm.models import Caller, ResourceManager
from ..arm.paging import paged
from ..arm.responses import iso, json_body
from ..errors import AzureError, BadRequest, NotFound
from ..http import Request, Response
from ..state import World
from .conditions import (
    REQUEST_PRINCIPAL,
    REQUEST_PRINCIPAL_TYPE,
    REQUEST_ROLE_DEFINITION,
    RESOURCE_PRINCIPAL,
    RESOURCE_PRINCIPAL_TYPE,
    RESOURCE_ROLE_DEFINITION,
    Attributes,
)
from .models import (
    RoleAssignment,
    assignment_subscription,
    check_assignment_name,
    check_principal,
    effective_permissions,
    list_for_scope,
    put_assignment,
    resolve_role_definition_id,
)
from .roles import BUILT_IN_ROLES, RoleDefinition, role_by_id

_AT_SCOPE = re.compile(r"^atscope\(\)$", re.IGNORECASE)
_PRINCIPAL = re.compile(r"^principalid\s+eq\s+'(?P<id>[^']*)'$", re.IGNORECASE)
_ASSIGNED_TO = re.compile(r"^assignedto\('(?P<id>[^']*)'\)$", re.IGNORECASE)
_ROLE_NAME = re.compile(r"^rolename\s+eq\s+'(?P<name>[^']*)'$", re.IGNORECASE)
_ROLE_TYPE = re.compile(r"^type\s+eq\s+'(?P<type>[^']*)'$", re.IGNORECASE)
# The first api-version whose Permission model carries the assignment's condition.
_CONDITIONS_SINCE = "2022-05-01-preview"


def _clauses(raw: str) -> list[str]:
    return [c.strip() for c in re.split(r"\s+and\s+", raw.strip(), flags=re.IGNORECASE) if c]


def _invalid_filter(raw: str) -> BadRequest:
    # Guessed wording; ARM answers unsupported filters with 400.
    return BadRequest(f"The filter '{raw}' is not supported.", code="UnsupportedQuery")


def assignment_body(assignment: RoleAssignment) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "roleDefinitionId": assignment.role_definition_id,
        "principalId": assignment.principal_id,
        "principalType": assignment.principal_type,
        "scope": assignment.scope,
        "createdOn": iso(assignment.created_on),
        "updatedOn": iso(assignment.updated_on),
        "createdBy": assignment.created_by or None,
        "updatedBy": assignment.updated_by or assignment.created_by or None,
        "description": assignment.description,
        "condition": assignment.condition,
        "conditionVersion": assignment.condition_version,
    }
    return {
        "id": assignment.id,
        "name": assignment.name,
        "type": "Microsoft.Authorization/roleAssignments",
        "properties": {k: v for k, v in properties.items() if v is not None},
    }


def definition_body(role: RoleDefinition, scope: str) -> dict[str, Any]:
    # Azure names a built-in role by its subscription-level id whatever the scope
    # it was read at (or the tenant-level id outside subscriptions).
    subscription = assignment_subscription(scope)
    return {
        "id": role.resource_id(f"/subscriptions/{subscription}" if subscription else ""),
        "name": role.id,
        "type": "Microsoft.Authorization/roleDefinitions",
        "properties": {
            "roleName": role.name,
            "type": "BuiltInRole",
            "description": role.description,
            "assignableScopes": ["/"],
            "permissions": [
                {
                    "actions": list(role.actions),
                    "notActions": list(role.not_actions),
                    "dataActions": list(role.data_actions),
                    "notDataActions": list(role.not_data_actions),
                }
            ],
            # Built-in roles carry fixed dates in Azure; the emulator's are nominal.
            "createdOn": "2015-02-02T21:55:09.8806423Z",
            "updatedOn": "2024-01-01T00:00:00.0000000Z",
            "createdBy": None,
            "updatedBy": None,
        },
    }


class AuthorizationResponses:
    def __init__(self, world: World, manager: ResourceManager) -> None:
        self.world = world
        self.manager = manager

    # -- role definitions -----------------------------------------------------------------
    def _definition_scope(self, params: dict[str, str]) -> str:
        scope = params.get("scope", "")
        if scope.strip("/"):
            self.manager.check_scope(scope)
        return scope

    def get_role_definition(
        self, request: Request, params: dict[str, str], caller: Caller
    ) -> Response:
        scope = self._definition_scope(params)
        role = role_by_id(params["name"])
        if role is None:
            raise NotFound(
                f"The specified role definition with ID '{params['name'].replace('-', '')}' "
                "does not exist.",
                code="RoleDefinitionDoesNotExist",
            )
        return Response.json(200, definition_body(role, scope))

    def list_role_definitions(
        self, request: Request, params: dict[str, str], caller: Caller
    ) -> Response:
        scope = self._definition_scope(params)
        roles: list[RoleDefinition] = list(BUILT_IN_ROLES)
        raw = request.query.get("$filter", "")
        for clause in _clauses(raw) if raw else []:
            if found := _ROLE_NAME.match(clause):
                roles = [r for r in roles if r.name.lower() == found.group("name").lower()]
            elif found := _ROLE_TYPE.match(clause):
                if found.group("type").lower() != "builtinrole":
                    roles = []
            elif not _AT_SCOPE.match(clause):
                raise _invalid_filter(raw)
        return paged(
            request,
            roles,
            lambda r: definition_body(r, scope),
            page_size=self.world.config.arm_page_size,
        )

    def write_role_definition(
        self, request: Request, params: dict[str, str], caller: Caller
    ) -> Response:
        raise BadRequest(
            "The emulator serves Azure's built-in role definitions only; custom role "
            "definitions cannot be created, changed or deleted.",
            code="UnsupportedRoleDefinitionOperation",
        )

    # -- role assignments -----------------------------------------------------------------
    def _assignment(self, params: dict[str, str]) -> RoleAssignment | None:
        check_assignment_name(params["name"])
        assignment = self.world.role_assignments.get(params["name"])
        if assignment is None or not self.manager.same_scope(assignment.scope, params["scope"]):
            return None
        return assignment

    def get_role_assignment(
        self, request: Request, params: dict[str, str], caller: Caller
    ) -> Response:
        assignment = self._assignment(params)
        if assignment is None:
            raise NotFound(
                "The role assignment '{}' is not found.".format(params["name"]),
                code="RoleAssignmentNotFound",
            )
        return Response.json(200, assignment_body(assignment))

    def put_role_assignment(
        self, request: Request, params: dict[str, str], caller: Caller
    ) -> Response:
        name = params["name"]
        check_assignment_name(name)
        scope = self.manager.check_scope(params["scope"])
        body = json_body(request)
        properties = body.get("properties")
        if not isinstance(properties, dict):
            raise BadRequest(
                "The request content was invalid: 'properties' is required.",
                code="InvalidRequestContent",
            )
        for key in ("roleDefinitionId", "principalId"):
            if not isinstance(properties.get(key), str) or not properties[key]:
                raise BadRequest(
                    f"The request content was invalid: 'properties.{key}' is required.",
                    code="InvalidRequestContent",
                )
        for key in ("principalType", "description", "condition", "conditionVersion"):
            if properties.get(key) is not None and not isinstance(properties[key], str):
                raise BadRequest(
                    f"The request content was invalid: 'properties.{key}' must be a string.",
                    code="InvalidRequestContent",
                )
        role_definition_id = resolve_role_definition_id(properties["roleDefinitionId"], scope)
        principal_id = properties["principalId"]
        identity = self.world.identities_by_oid.get(principal_id.lower())
        principal_type = check_principal(
            principal_id,
            properties.get("principalType"),
            actual_type=identity.principal_type if identity else None,
            replicated=self._replicated(principal_id),
            tenant_id=self.world.config.tenant_id,
        )
        assignment, created = put_assignment(
            self.world.role_assignments,
            name=name,
            scope=scope,
            role_definition_id=role_definition_id,
            principal_id=principal_id,
            principal_type=principal_type,
            description=properties.get("description"),
            condition=properties.get("condition"),
            condition_version=properties.get("conditionVersion"),
            caller=caller.object_id,
            propagation_delay_s=self.world.config.rbac_propagation_delay_s,
        )
        return Response.json(201 if created else 200, assignment_body(assignment))

    def condition_attributes(self, request: Request, params: dict[str, str]) -> Attributes:
        """What a role assignment condition may read about this write or delete.

        A PUT offers the requested assignment (``@Request[...]``); a DELETE the
        assignment it removes (``@Resource[...]``). What cannot be read (a body
        that is not JSON, an unknown assignment) is absent, so conditions on it
        grant nothing.
        """
        if request.method == "PUT":
            try:
                properties = json_body(request).get("properties")
            except AzureError:
                return {}
            if not isinstance(properties, dict):
                return {}
            found: dict[tuple[str, str], tuple[str, ...]] = {}
            for attribute, key in (
                (REQUEST_ROLE_DEFINITION, "roleDefinitionId"),
                (REQUEST_PRINCIPAL, "principalId"),
                (REQUEST_PRINCIPAL_TYPE, "principalType"),
            ):
                value = properties.get(key)
                if isinstance(value, str) and value:
                    if key == "roleDefinitionId":
                        value = value.rstrip("/").rsplit("/", 1)[-1]
                    found[attribute] = (value,)
            return found
        if request.method == "DELETE":
            try:
                assignment = self._assignment(params)
            except AzureError:
                return {}
            if assignment is None:
                return {}
            return {
                RESOURCE_ROLE_DEFINITION: (assignment.role_definition_id.rsplit("/", 1)[-1],),
                RESOURCE_PRINCIPAL: (assignment.principal_id,),
                RESOURCE_PRINCIPAL_TYPE: (assignment.principal_type,),
            }
        return {}

    def _replicated(self, principal_id: str) -> bool:
        """Has a newly declared principal reached Resource Manager's directory replica?"""
        at = self.world.principal_replicated_at(principal_id)
        return at is None or time.time() >= at

    def delete_role_assignment(
        self, request: Request, params: dict[str, str], caller: Caller
    ) -> Response:
        assignment = self._assignment(params)
        if assignment is None:
            return Response(204)
        self.world.role_assignments.remove(assignment.name)
        return Response.json(200, assignment_body(assignment))

    def list_role_assignments(
        self, request: Request, params: dict[str, str], caller: Caller
    ) -> Response:
        scope = self.manager.check_scope(params["scope"])
        at_scope = False
        principal_id: str | None = None
        raw = request.query.get("$filter", "")
        for clause in _clauses(raw) if raw else []:
            if _AT_SCOPE.match(clause):
                at_scope = True
            elif found := (_PRINCIPAL.match(clause) or _ASSIGNED_TO.match(clause)):
                principal_id = found.group("id")
            else:
                raise _invalid_filter(raw)
        assignments = list_for_scope(
            self.world.role_assignments, scope, at_scope=at_scope, principal_id=principal_id
        )
        return paged(
            request, assignments, assignment_body, page_size=self.world.config.arm_page_size
        )

    # -- the caller's permissions -----------------------------------------------------------
    def list_permissions(
        self, request: Request, params: dict[str, str], caller: Caller
    ) -> Response:
        """The caller's effective permissions at a resource group or a resource.

        An unknown group or resource is the 404 role assignments get there
        (guessed: Azure's answer for a missing resource is undocumented).
        """
        # ARM reads an empty parent path's "//" as "/".
        scope = self.manager.check_scope(re.sub(r"/{2,}", "/", params["scope"]))
        with_condition = request.query.get("api-version", "") >= _CONDITIONS_SINCE
        entries = effective_permissions(self.world.role_assignments, caller.object_id, scope)
        return paged(
            request,
            entries,
            lambda entry: permission_body(entry[0], entry[1], with_condition=with_condition),
            page_size=self.world.config.arm_page_size,
        )


def permission_body(
    assignment: RoleAssignment, role: RoleDefinition, *, with_condition: bool
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "actions": list(role.actions),
        "notActions": list(role.not_actions),
        "dataActions": list(role.data_actions),
        "notDataActions": list(role.not_data_actions),
    }
    if with_condition and assignment.condition:
        body["condition"] = assignment.condition
        body["conditionVersion"] = assignment.condition_version
    return body


def unauthorized_action(caller: Caller, action: str, scope: str) -> AzureError:
    """ARM's 403 for a caller without the action at the scope."""
    return AzureError(
        403,
        "AuthorizationFailed",
        f"The client '{caller.object_id}' with object id '{caller.object_id}' does not have "
        f"authorization to perform action '{action}' over scope '{scope}' or the scope is "
        "invalid. If access was recently granted, please refresh your credentials.",
    )
