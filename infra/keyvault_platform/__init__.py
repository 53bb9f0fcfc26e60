"""Provisioning and secret sync for Azure Key Vault: plan, then apply."""
