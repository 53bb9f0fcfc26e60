"""Access tokens that name their principal: JWTs signed with the emulator's key.

Azure signs tokens with RS256 and publishes keys; the emulator is both issuer
and verifier, so an HMAC key kept in the state directory is enough. Claims
follow Entra ID's (``oid``, ``tid``, ``aud``, ``iss``, ``exp``, ``appid``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Literal

from .clock import Clock
from .config import Identity

VAULT_AUDIENCES = frozenset(
    {"https://vault.azure.net", "https://vault.azure.net/", "cfa8b339-82a2-471a-a3c9-0fc0be7a4093"}
)
ARM_AUDIENCES = frozenset(
    {
        "https://management.azure.com",
        "https://management.azure.com/",
        "https://management.core.windows.net",
        "https://management.core.windows.net/",
    }
)
# Microsoft Graph's resource and app id; the Graph plane adds the emulator's own
# origin (what a CLI registered against the emulator asks Graph tokens for).
GRAPH_AUDIENCES = frozenset(
    {
        "https://graph.microsoft.com",
        "https://graph.microsoft.com/",
        "00000003-0000-0000-c000-000000000000",
    }
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


RejectReason = Literal["malformed", "signature", "claims", "audience", "expired"]


class TokenRejected(Exception):
    """A bearer token the emulator will not accept; each plane words it its own way."""

    def __init__(self, reason: RejectReason, audience: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.audience = audience  # the token's audience, for "audience"


@dataclass(frozen=True)
class Claims:
    object_id: str
    tenant_id: str
    audience: str
    expires_at: int
    client_id: str
    name: str

    @property
    def issuer(self) -> str:
        return f"https://sts.windows.net/{self.tenant_id}/"


def normalize_resource(resource: str) -> str:
    """The token audience for a requested resource or scope."""
    return resource.removesuffix("/.default")


class TokenIssuer:
    """Mints and verifies tokens; verification results are memoised per token."""

    def __init__(
        self, key: bytes, *, tenant_id: str, lifetime_s: int, clock: Clock | None = None
    ) -> None:
        self._key = key
        self._clock = clock or Clock()
        self.tenant_id = tenant_id
        self.lifetime_s = lifetime_s
        self._verified: dict[str, Claims] = {}

    def mint(
        self, identity: Identity, resource: str, *, lifetime_s: int | None = None
    ) -> tuple[str, int]:
        now = int(self._clock.now())
        expires = now + (self.lifetime_s if lifetime_s is None else lifetime_s)
        payload = {
            "aud": normalize_resource(resource),
            "iss": f"https://sts.windows.net/{self.tenant_id}/",
            "iat": now,
            "nbf": now - 5,
            "exp": expires,
            "oid": identity.object_id,
            "sub": identity.object_id,
            "tid": self.tenant_id,
            "appid": identity.client_id,
            "idtyp": "app",
            "name": identity.name,
        }
        header = {"alg": "HS256", "typ": "JWT"}
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
        signature = hmac.new(self._key, signing_input.encode("ascii"), hashlib.sha256).digest()
        return f"{signing_input}.{_b64(signature)}", expires

    def verify(self, token: str, audiences: frozenset[str], *, now: float | None = None) -> Claims:
        """Return the token's claims or raise :class:`TokenRejected` saying why."""
        claims = self._verified.get(token)
        if claims is None:
            claims = self._decode(token)
            if len(self._verified) > 10_000:
                self._verified.clear()
            self._verified[token] = claims
        if claims.audience not in audiences:
            raise TokenRejected("audience", claims.audience)
        if (now if now is not None else self._clock.now()) >= claims.expires_at:
            raise TokenRejected("expired")
        return claims

    def _decode(self, token: str) -> Claims:
        parts = token.split(".")
        if len(parts) != 3:
            raise TokenRejected("malformed")
        signing_input = f"{parts[0]}.{parts[1]}".encode("ascii", "replace")
        expected = hmac.new(self._key, signing_input, hashlib.sha256).digest()
        try:
            signature = _unb64(parts[2])
            payload = json.loads(_unb64(parts[1]))
        except (ValueError, UnicodeDecodeError):
            raise TokenRejected("malformed") from None
        if not hmac.compare_digest(signature, expected):
            raise TokenRejected("signature")
        try:
            return Claims(
                object_id=str(payload["oid"]),
                tenant_id=str(payload["tid"]),
                audience=str(payload["aud"]),
                expires_at=int(payload["exp"]),
                client_id=str(payload.get("appid", "")),
                name=str(payload.get("name", "")),
            )
        except (KeyError, TypeError, ValueError):
            raise TokenRejected("claims") from None


def bearer_token(authorization: str | None) -> str | None:
    """The token in an ``Authorization: Bearer ...`` header, if any."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
