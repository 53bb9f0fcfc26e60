"""Microsoft Graph: the little of the directory the Azure CLI reads, for the emulator's principals."""
