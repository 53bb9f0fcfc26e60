"""An aiohttp transport that trusts one CA file and keeps its connections.

azure-core's ``AioHttpTransport`` turns ``connection_verify="<ca.pem>"`` into
a new ``SSLContext`` on every request, and aiohttp pools connections per
SSL context, so each request opens a new TLS connection (a handshake and a
CA file load per call; measured: 208 connections for 208 requests). Only
the emulator needs a CA file (Azure is trusted by the system store), so
only the emulator pays; this transport builds the context once, on the
session's connector, and leaves ``connection_verify`` at its default.
"""

from __future__ import annotations

import ssl
from typing import Any

import aiohttp
from azure.core.pipeline.transport import AioHttpTransport


# azure-core exports the transport lazily, so type checkers see it as Any.
class CATrustingAioHttpTransport(AioHttpTransport):  # type: ignore[misc]
    """``AioHttpTransport`` whose session trusts ``ca_path`` on every connection."""

    session: aiohttp.ClientSession | None

    def __init__(self, ca_path: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._ssl_context = ssl.create_default_context(cafile=ca_path)

    async def open(self) -> None:
        if self.session is None:
            self.session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self._ssl_context),
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,  # as azure-core's own session: it decompresses itself
            )
        await super().open()
