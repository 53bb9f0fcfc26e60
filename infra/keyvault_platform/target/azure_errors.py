"""What an Azure SDK error says about itself, read the way azure-core stores it.

azure-core (1.41) parses a service's error body ``{"error": {"code",
"message", "innererror": {"code": ...}}}`` into ``exc.error`` (an
``ODataV4Format``) whose ``innererror`` is a **dict**, not an object:
``getattr(error.innererror, "code")`` is always ``None``. The inner code is
where Key Vault says *why* (``ForbiddenByRbac``, ``ForbiddenByFirewall``,
``ObjectIsDeletedButRecoverable``), so both provisioning and the sync read it
through :func:`inner_code`.
"""

from __future__ import annotations

from collections.abc import Mapping


def inner_code(exc: BaseException) -> str:
    """The ``innererror.code`` of an SDK error, or ``""`` when it has none."""
    error = getattr(exc, "error", None)
    inner = getattr(error, "innererror", None) or {}
    if isinstance(inner, Mapping):
        return str(inner.get("code") or "")
    return str(getattr(inner, "code", "") or "")  # an object, should a version model it so


#: What to do when no token could be had (not signed in, or a token endpoint
#: that does not answer).
SIGN_IN_HINT = (
    "run `az login` (or configure workload identity) for real Azure, or start "
    "the emulator (`make emulator`) for the local target"
)


def first_line(exc: BaseException) -> str:
    """The first line of an error's text (SDK errors add lines of detail), or its type."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def sign_in_failure(exc: BaseException) -> str | None:
    """Why no token could be had, when ``exc`` is a credential's failure; else None.

    A credential raises ``ClientAuthenticationError`` with no HTTP response,
    before any request reaches the service; it is an ``HttpResponseError``
    too, so an ARM error mapper must ask this first (its status and code are
    ``None``).
    """
    from azure.core.exceptions import ClientAuthenticationError

    if isinstance(exc, ClientAuthenticationError) and getattr(exc, "response", None) is None:
        return first_line(exc)
    return None
