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
