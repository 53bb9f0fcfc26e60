"""Microsoft Graph: the little of the directory the Azure CLI reads (the emulator's principals)."""
