"""Make a Key Vault's secrets match the manifests in secrets/, without reading values.

Thin: the command lives in :mod:`infra.sync_command`; ``make sync ENV=<env>``
runs ``python -m scripts.sync --env <env>``. ``--help`` lists the options.
"""

from __future__ import annotations

import sys

from infra.sync_command import run

if __name__ == "__main__":
    sys.exit(run())
