"""Provisioning and secret sync for Azure Key Vault: plan, then apply.

The command is ``keyvault-platform`` (:mod:`keyvault_platform.cli.main`).
Subpackages: :mod:`.core` (plans, errors, input files), :mod:`.config`
(environment files, the config root), :mod:`.target` (the one seam to Azure
or the emulator), :mod:`.provision`, :mod:`.sync`, :mod:`.cli`.
"""

from __future__ import annotations

from importlib import metadata

try:
    __version__ = metadata.version("keyvault-platform")
except metadata.PackageNotFoundError:  # run from a source tree that is not installed
    __version__ = "0+unknown"
