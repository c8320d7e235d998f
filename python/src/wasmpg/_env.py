"""What the guest cannot know because it has no environment: libpq's PG* variables and the OS
user name (the same rules as ``host/src/env.rs``). The guest matches password-file lines
itself; the host only reads the file, if its file policy allows (``_session``)."""

from __future__ import annotations

import os
from typing import Optional

__all__ = ["defaults", "os_user"]


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
