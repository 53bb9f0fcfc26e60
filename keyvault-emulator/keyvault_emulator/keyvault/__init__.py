"""Key Vault: vault resources (shared with ARM) and the secrets data plane."""
