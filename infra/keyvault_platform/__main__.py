"""``python -m keyvault_platform``: the same as the ``keyvault-platform`` command."""

from keyvault_platform.cli.main import main

main()
