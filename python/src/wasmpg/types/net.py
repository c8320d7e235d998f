"""Network addresses: inet and cidr to and from the ``ipaddress`` module, psycopg 3's mapping.

inet loads as an address (``IPv4Address``, ``IPv6Address``) when the server prints no prefix
length, else as an interface (``IPv4Interface``: the address with its network); cidr loads as a
network (``IPv4Network``, ``IPv6Network``). Addresses and interfaces are inet parameters,
networks cidr. The canonical forms are the server's text.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Union

from . import oids

Inet = Union[
    ipaddress.IPv4Address, ipaddress.IPv6Address, ipaddress.IPv4Interface, ipaddress.IPv6Interface
]


def load_inet(text: str) -> Inet:
    if "/" in text:
        return ipaddress.ip_interface(text)
    return ipaddress.ip_address(text)


def load_cidr(text: str) -> Union[ipaddress.IPv4Network, ipaddress.IPv6Network]:
    return ipaddress.ip_network(text)


def dump_inet(value: Any) -> tuple[int, str]:
    return oids.INET, str(value)


def dump_cidr(value: Any) -> tuple[int, str]:
    return oids.CIDR, str(value)
