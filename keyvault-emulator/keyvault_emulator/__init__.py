"""Local Azure: the parts of Azure this project touches, over real HTTPS.

The unmodified Azure SDK clients talk to it on 127.0.0.1: a managed-identity
token endpoint, Azure Resource Manager (resource groups, Key Vault vaults,
role definitions and assignments) and each vault's secrets data plane. It
enforces what Azure enforces (RBAC data actions, soft delete, purge
protection, name and size limits, throttling), because a test only proves
something if it does.
"""
