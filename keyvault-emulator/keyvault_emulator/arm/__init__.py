"""Azure Resource Manager: resource groups, Key Vault vaults, authorization."""
