"""Converge a Key Vault and its role assignments from an environment file.

Thin: the command lives in :mod:`keyvault_platform.cli.provision`; ``make
provision ENV=<env>`` runs it. ``--help`` lists the options.
"""

from __future__ import annotations

import sys

from keyvault_platform.cli.provision import run

if __name__ == "__main__":
    sys.exit(run())
