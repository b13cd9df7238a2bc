"""Filters that turn inventory groups into the network addresses firewall rules need."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

DOCUMENTATION = """
name: group_addresses
short_description: IP addresses of the hosts in some inventory groups
description:
  - For each host of the named groups, its default IPv4 address from gathered facts, else its
    C(ansible_host). Groups missing from the inventory contribute nothing.
options:
  _input:
    description: Names of inventory groups.
    type: list
    elements: str
    required: true
  groups:
    description: The C(groups) magic variable.
    type: dict
    required: true
  hostvars:
    description: The C(hostvars) magic variable.
    type: dict
    required: true
"""

EXAMPLES = """
redis_clients: "{{ ['app'] | ragstack.platform.group_addresses(groups, hostvars) }}"
"""

RETURN = """
_value:
  description: Sorted unique addresses.
  type: list
  elements: str
"""


def host_address(host_vars: Mapping[str, Any]) -> str:
    """The address other hosts reach this one on: its default IPv4, else ansible_host."""
    facts = host_vars.get("ansible_facts") or {}
    default_ipv4 = facts.get("default_ipv4") or host_vars.get("ansible_default_ipv4") or {}
    address = default_ipv4.get("address") or host_vars.get("ansible_host")
    return str(address or host_vars.get("inventory_hostname", ""))


def group_addresses(
    group_names: Iterable[str], groups: Mapping[str, list[str]], hostvars: Mapping[str, Any]
) -> list[str]:
    members = {host for name in group_names for host in groups.get(name, [])}
    return sorted({host_address(hostvars[host]) for host in members})


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"group_addresses": group_addresses}
