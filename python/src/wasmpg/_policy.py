"""The connection policy: which targets the host opens for the guest (deny by default)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .errors import InterfaceError

if TYPE_CHECKING:  # pragma: no cover
    from ._abi import Target

__all__ = ["Policy", "describe"]


def _normalize_host(host: str) -> str:
    """Host names compare case-insensitively; IPv6 literals compare without brackets."""
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host.lower()


class Policy:
    """Which connections the host opens for the guest: an allow-list, deny by default.

    A TCP entry allows a host name or address and a port. A connection to a name is allowed
    only when the name itself is listed (it is then resolved), one to an address literal only
    when that literal is listed: a name resolving somewhere unexpected never widens the list.
    """

    def __init__(self) -> None:
        self.entries: list[Target] = []

    @classmethod
    def from_targets(cls, targets: Sequence[Target]) -> Policy:
        """Exactly the targets a conninfo names."""
        p = cls()
        for kind, value in targets:
            if kind == "tcp":
                p.entries.append(("tcp", (_normalize_host(value[0]), value[1])))
            else:
                p.entries.append(("unix", value))
        return p

    @classmethod
    def parse(cls, entries: Sequence[str]) -> Policy:
        """``HOST:PORT``, ``[V6]:PORT`` and absolute socket paths."""
        if isinstance(entries, (str, bytes)) or not hasattr(entries, "__iter__"):
            raise InterfaceError(
                "allow must be a list of entries such as ['db.example:5432'], not %s"
                % type(entries).__name__
            )
        p = cls()
        for entry in entries:
            p.entries.append(cls._parse_entry(entry))
        return p

    @staticmethod
    def _parse_entry(entry: Any) -> Target:
        bad = InterfaceError(
            "invalid allow-list entry %r: expected HOST:PORT, [IPV6]:PORT or an absolute "
            "socket path" % (entry,)
        )
        if not isinstance(entry, str):
            raise bad
        if entry.startswith("/"):
            return ("unix", entry)
        host, sep, port_s = entry.rpartition(":")
        if not sep or not host or (":" in host and not host.startswith("[")):
            raise bad
        if not port_s.isdigit() or not 0 < int(port_s) < 65536:
            raise bad
        return ("tcp", (_normalize_host(host), int(port_s)))

    def allows(self, target: Target) -> bool:
        kind, value = target
        wanted: tuple[str, Any]
        if kind == "tcp":
            wanted = ("tcp", (_normalize_host(value[0]), value[1]))
        else:
            wanted = ("unix", value)
        return wanted in self.entries

    def __str__(self) -> str:
        if not self.entries:
            return "deny all"
        return "allow " + ", ".join(describe(t) for t in self.entries)


def describe(target: Target) -> str:
    """A target as a message names it: ``host:port``, ``[v6]:port`` or the socket path."""
    kind, value = target
    if kind == "tcp":
        host, port = value
        return ("[%s]:%d" if ":" in host else "%s:%d") % (host, port)
    return str(value)
