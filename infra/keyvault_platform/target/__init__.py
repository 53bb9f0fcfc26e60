"""The one seam: where Azure is, and every client built from it.

- :mod:`~keyvault_platform.target.base`: :class:`Target`, what callers hold.
- :mod:`~keyvault_platform.target.azure`: :class:`AzureTarget`, one Azure cloud.
- :mod:`~keyvault_platform.target.emulator`: :class:`EmulatorTarget`, the local emulator.
- :mod:`~keyvault_platform.target.clouds`: the table of Azure clouds.
- :mod:`~keyvault_platform.target.credentials`, :mod:`~keyvault_platform.target.settings`:
  the credentials the targets add, and the options every client gets.
- :mod:`~keyvault_platform.target.failures`: the one Azure failure classifier and hint table.
- :mod:`~keyvault_platform.target.builtin_roles`: Azure's built-in role names, offline.
"""
