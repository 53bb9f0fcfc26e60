"""Make a Key Vault's secrets match the manifests in secrets/, without reading values.

Thin: the command lives in :mod:`keyvault_platform.cli.sync`; ``make sync ENV=<env>``
runs ``python -m scripts.sync --env <env>``. ``--help`` lists the options.
"""

from __future__ import annotations

import sys

from keyvault_platform.cli.sync import run

if __name__ == "__main__":
    sys.exit(run())
