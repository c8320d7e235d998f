"""What the guest cannot know because it has no environment: libpq's PG* variables, the OS
user name, and the password file (the same rules as ``host/src/env.rs``)."""

from __future__ import annotations

import os
import stat
from typing import Optional

__all__ = ["defaults", "os_user", "passfile_password"]


def defaults() -> list[tuple[str, str]]:
    """The PG* variables of this process, plus the OS user as ``PGUSER`` when that is unset
    (libpq's default user)."""
    pairs = [(k, v) for k, v in os.environ.items() if k.startswith("PG")]
    if "PGUSER" not in os.environ:
        user = os_user()
        if user:
            pairs.append(("PGUSER", user))
    return pairs


def os_user() -> Optional[str]:
    """``$USER``, else ``$LOGNAME``, else the name of this process's uid."""
    for var in ("USER", "LOGNAME"):
        value = os.environ.get(var)
        if value:
            return value
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError, OSError):
        return None


def passfile_password(
    passfile: Optional[str], host: str, port: int, dbname: str, user: str
) -> Optional[str]:
    """Looks a password up with libpq's rules: ``passfile`` from the conninfo, else
    ``$PGPASSFILE``, else ``~/.pgpass``; lines ``host:port:db:user:password`` with ``*``
    wildcards and ``\\`` escapes; a file readable by group or others is ignored; a Unix-socket
    host also matches ``localhost``."""
    path = passfile or os.environ.get("PGPASSFILE")
    if not path:
        home = os.environ.get("HOME")
        if not home:
            return None
        path = os.path.join(home, ".pgpass")
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            return None
        if st.st_mode & 0o077:
            return None
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    return lookup(text, host, port, dbname, user)


def lookup(text: str, host: str, port: int, dbname: str, user: str) -> Optional[str]:
    """The password of the first matching passfile line."""
    port_s = str(port)
    is_socket = host.startswith("/") or host.startswith("@")
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        fields = _split_fields(line)
        if len(fields) != 5:
            continue
        h, p, d, u, password = fields
        host_ok = h == "*" or h == host or (is_socket and h == "localhost")
        if host_ok and p in ("*", port_s) and d in ("*", dbname) and u in ("*", user):
            return password
    return None


def _split_fields(line: str) -> list[str]:
    """Splits on unescaped ``:``; the password is the rest of the line."""
    fields: list[str] = []
    field: list[str] = []
    chars = iter(line)
    for c in chars:
        if c == "\\":
            nxt = next(chars, None)
            if nxt is not None:
                field.append(nxt)
        elif c == ":" and len(fields) < 4:
            fields.append("".join(field))
            field = []
        else:
            field.append(c)
    fields.append("".join(field))
    return fields
