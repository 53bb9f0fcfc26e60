"""Resource Manager's front door on the main port (placeholder until issue 3)."""

from __future__ import annotations

from collections.abc import Callable

from ..errors import NotFound
from ..http import Request, Response
from ..keyvault.models import Vault
from ..state import World


class ArmPlane:
    def __init__(self, world: World, ensure_listener: Callable[[Vault], int]) -> None:
        self.world = world
        self.ensure_listener = ensure_listener

    def handle(self, request: Request) -> Response:
        error = NotFound(f"The resource path '{request.path}' is not served yet.")
        return Response.json(error.status, error.body())
