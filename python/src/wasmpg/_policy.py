"""The host's policies: which targets it opens for the guest (deny by default), and which
files it reads for it."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Optional

from .errors import InterfaceError

if TYPE_CHECKING:  # pragma: no cover
    from ._abi import Target

__all__ = ["FilePolicy", "Policy", "default_passfile", "default_ssl_dir", "describe", "home_dir"]


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _normalize_host(host: str) -> str:
    """Host names compare case-insensitively; IPv6 literals compare without brackets."""
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        # ASCII-only case folding, as DNS compares names (str.lower() would fold non-ASCII).
        return host.translate(_ASCII_LOWER)


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
        if not (port_s.isascii() and port_s.isdigit()) or not 0 < int(port_s) < 65536:
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


class FilePolicy:
    """Which files the host reads for the guest (its ``f`` action): by default the user's own
    default password file and the files under ``~/.postgresql/`` (`default_ssl_dir`, where
    libpq keeps root and client certificates and keys), plus exactly the paths granted with
    ``allow_files``."""

    def __init__(self, files: Sequence[str], directories: Sequence[str]) -> None:
        self.files = [os.path.abspath(f) for f in files]
        self.directories = [os.path.abspath(d) for d in directories]

    @classmethod
    def default(cls, granted: Optional[Sequence[str]] = None) -> FilePolicy:
        files: list[str] = []
        directories: list[str] = []
        passfile = default_passfile()
        if passfile:
            files.append(passfile)
        ssl_dir = default_ssl_dir()
        if ssl_dir:
            directories.append(ssl_dir)
        if granted is not None:
            if isinstance(granted, (str, bytes)) or not hasattr(granted, "__iter__"):
                raise InterfaceError(
                    "allow_files must be a list of paths, not %s" % type(granted).__name__
                )
            for path in granted:
                if not isinstance(path, str) or not os.path.isabs(path):
                    raise InterfaceError(
                        "invalid allow_files entry %r: expected an absolute path" % (path,)
                    )
                files.append(path)
        return cls(files, directories)

    def allows(self, path: str) -> bool:
        if not os.path.isabs(path):
            return False
        path = os.path.abspath(path)
        if path in self.files:
            return True
        real = os.path.realpath(path)
        for d in self.directories:
            if path.startswith(d + os.sep) and real.startswith(os.path.realpath(d) + os.sep):
                return True
        return False

    def __str__(self) -> str:
        entries = self.files + [d + os.sep for d in self.directories]
        return ("allow " + ", ".join(entries)) if entries else "deny all"


def home_dir() -> Optional[str]:
    """The user's home directory as libpq finds it: ``$HOME``, else the passwd entry
    (``%APPDATA%`` on Windows, where libpq keeps its files)."""
    if os.name == "nt":
        return os.environ.get("APPDATA") or None
    home = os.environ.get("HOME")
    if home:
        return home
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_dir or None
    except (ImportError, KeyError, OSError):
        return None


def default_passfile() -> Optional[str]:
    """The password file libpq reads when neither ``passfile`` nor ``PGPASSFILE`` names one:
    ``~/.pgpass``, or ``%APPDATA%\\postgresql\\pgpass.conf`` on Windows."""
    home = home_dir()
    if not home:
        return None
    if os.name == "nt":
        return os.path.join(home, "postgresql", "pgpass.conf")
    return os.path.join(home, ".pgpass")


def default_ssl_dir() -> Optional[str]:
    """Where libpq looks for the TLS files the conninfo does not name (``root.crt``,
    ``root.crl``, ``postgresql.crt``, ``postgresql.key``): ``~/.postgresql``, or
    ``%APPDATA%\\postgresql`` on Windows."""
    home = home_dir()
    if not home:
        return None
    return os.path.join(home, "postgresql" if os.name == "nt" else ".postgresql")
