"""The asyncio API: :class:`AsyncSecretStore` and :func:`aget`.

Needs an async HTTP transport for azure-core: ``pip install 'keyvault-orgsecrets[aio]'``.
"""

from . import aget, default_async_store
from .cache import AsyncSecretCache
from .keyvault import AsyncKeyVaultSource
from .store import AsyncSecretStore

__all__ = [
    "AsyncKeyVaultSource",
    "AsyncSecretCache",
    "AsyncSecretStore",
    "aget",
    "default_async_store",
]
