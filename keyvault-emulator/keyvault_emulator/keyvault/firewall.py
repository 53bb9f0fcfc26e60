"""A vault's network rules: ``publicNetworkAccess`` and ``networkAcls``.

Resource Manager validates them (:func:`check_network_settings`); the data
plane enforces them right after authentication (:func:`check_network_access`),
as Key Vault does: its 403 names the authenticated caller.

Every emulator listener binds the loopback interface, so every client's
address is 127.0.0.1. The emulator has no private endpoints, virtual
networks or trusted Azure services: ``bypass`` and ``virtualNetworkRules``
never let a request in, and with ``publicNetworkAccess`` disabled nothing
does.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from ..errors import BadRequest, Forbidden
from ..tokens import Claims
from .models import Vault

CLIENT_ADDRESS = ipaddress.IPv4Address("127.0.0.1")
PUBLIC_NETWORK_ACCESS = ("Enabled", "Disabled")
DEFAULT_ACTIONS = ("Allow", "Deny")
BYPASS_OPTIONS = ("AzureServices", "None")
# Azure refuses private ranges in a public vault's IP rules ("... belongs to
# forbidden range 10.0.0.0-10.255.255.255 (private IP addresses)", with an en dash).
# Loopback is not listed: guessed, and needed, since every emulator client is 127.0.0.1.
FORBIDDEN_RANGES = (
    (ipaddress.IPv4Network("10.0.0.0/8"), "10.0.0.0\u201310.255.255.255"),
    (ipaddress.IPv4Network("172.16.0.0/12"), "172.16.0.0\u2013172.31.255.255"),
    (ipaddress.IPv4Network("192.168.0.0/16"), "192.168.0.0\u2013192.168.255.255"),
)


def parse_ip_rule(value: str) -> ipaddress.IPv4Network:
    """An IPv4 address or CIDR range, as Key Vault's ``IPRule.value`` takes; else ValueError."""
    network = ipaddress.ip_network(value.strip(), strict=False)
    if not isinstance(network, ipaddress.IPv4Network):
        raise ValueError("only IPv4 addresses and ranges are supported")
    return network


def _invalid(where: str, value: Any, why: str = "") -> BadRequest:
    # Azure's form ("Invalid value found at properties.networkAcls.ipRules[0].value: ...");
    # the reasons after the value are the emulator's words except for forbidden ranges.
    suffix = f" {why}" if why else ""
    return BadRequest(
        f"Invalid value found at properties.{where}: {value}{suffix}", code="BadRequest"
    )


def _one_of(where: str, value: Any, allowed: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value.lower() not in (a.lower() for a in allowed):
        raise _invalid(where, value, f"(expected one of {', '.join(allowed)})")


def check_network_settings(properties: dict[str, Any]) -> None:
    """Resource Manager's checks of ``publicNetworkAccess`` and ``networkAcls`` (400)."""
    access = properties.get("publicNetworkAccess")
    if access is not None:
        # The REST description's default is "enabled": the values compare case-insensitively.
        _one_of("publicNetworkAccess", access, PUBLIC_NETWORK_ACCESS)
    acls = properties.get("networkAcls")
    if acls is None:
        return
    if not isinstance(acls, dict):
        raise _invalid("networkAcls", acls, "(expected an object)")
    if acls.get("defaultAction") is not None:
        _one_of("networkAcls.defaultAction", acls["defaultAction"], DEFAULT_ACTIONS)
    if acls.get("bypass") is not None:
        _one_of("networkAcls.bypass", acls["bypass"], BYPASS_OPTIONS)
    ip_rules = acls.get("ipRules")
    if ip_rules is not None:
        if not isinstance(ip_rules, list):
            raise _invalid("networkAcls.ipRules", ip_rules, "(expected a list)")
        for index, rule in enumerate(ip_rules):
            where = f"networkAcls.ipRules[{index}].value"
            value = rule.get("value") if isinstance(rule, dict) else None
            if not isinstance(value, str):
                raise _invalid(where, value, "(an IPv4 address or CIDR range is required)")
            try:
                network = parse_ip_rule(value)
            except ValueError:
                raise _invalid(where, value, "is not an IPv4 address or CIDR range") from None
            for forbidden, spelled in FORBIDDEN_RANGES:
                if network.subnet_of(forbidden):
                    raise _invalid(
                        where, value, f"belongs to forbidden range {spelled} (private IP addresses)"
                    )
    vnet_rules = acls.get("virtualNetworkRules")
    if vnet_rules is not None:
        if not isinstance(vnet_rules, list):
            raise _invalid("networkAcls.virtualNetworkRules", vnet_rules, "(expected a list)")
        for index, rule in enumerate(vnet_rules):
            subnet = rule.get("id") if isinstance(rule, dict) else None
            parts = subnet.strip("/").split("/") if isinstance(subnet, str) else []
            if (
                len(parts) != 10
                or parts[0].lower() != "subscriptions"
                or parts[2].lower() != "resourcegroups"
                or parts[4].lower() != "providers"
                or parts[5].lower() != "microsoft.network"
                or parts[6].lower() != "virtualnetworks"
                or parts[8].lower() != "subnets"
            ):
                raise _invalid(
                    f"networkAcls.virtualNetworkRules[{index}].id",
                    subnet,
                    "(expected a subnet's resource id)",  # guessed wording
                )


def network_denial(properties: dict[str, Any]) -> str | None:
    """Why the vault refuses :data:`CLIENT_ADDRESS`: "connection", "firewall" or None."""
    if str(properties.get("publicNetworkAccess") or "Enabled").lower() == "disabled":
        return "connection"
    acls = properties.get("networkAcls") or {}
    if str(acls.get("defaultAction") or "Allow").lower() != "deny":
        return None
    for rule in acls.get("ipRules") or []:
        try:
            if CLIENT_ADDRESS in parse_ip_rule(str(rule.get("value", ""))):
                return None
        except (ValueError, AttributeError):
            continue  # Resource Manager refuses these; a hand-made state file may not
    return "firewall"


def check_network_access(vault: Vault, claims: Claims) -> None:
    """Key Vault's 403 for a client its network rules refuse (after authentication)."""
    denial = network_denial(vault.properties)
    if denial is None:
        return
    caller = f"appid={claims.client_id};oid={claims.object_id};iss={claims.issuer}"
    where = f"Vault: {vault.name};location={vault.location}"
    if denial == "connection":
        # What Key Vault answers when public network access is disabled (inner code
        # ForbiddenByConnection, as observed from the service).
        raise Forbidden(
            "Public network access is disabled and request is not from a trusted service nor "
            f"via an approved private link.\r\nCaller: {caller}\r\n{where}",
            inner="ForbiddenByConnection",
        )
    raise Forbidden(
        "Client address is not authorized and caller is not a trusted service.\r\n"
        f"Client address: {CLIENT_ADDRESS}\r\nCaller: {caller}\r\n{where}",
        inner="ForbiddenByFirewall",
    )
