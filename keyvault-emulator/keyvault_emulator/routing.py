"""Matching a request against a plane's declarative route table."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol, TypeVar


class Routed(Protocol):
    @property
    def method(self) -> str: ...

    @property
    def pattern(self) -> re.Pattern[str]: ...


R = TypeVar("R", bound=Routed)


def match_route(
    routes: Sequence[R], method: str, path: str
) -> tuple[R | None, dict[str, str], bool]:
    """The route for a request, its path parameters, and whether the path exists at all.

    A known path with an unserved method is a 405, an unknown path a 404, so
    the third value tells the two apart.
    """
    path_known = False
    for route in routes:
        found = route.pattern.match(path)
        if found:
            path_known = True
            if route.method == method:
                return route, {k: v for k, v in found.groupdict().items() if v is not None}, True
    return None, {}, path_known
