"""``connect(dsn, **kwargs)`` arguments to one libpq connection string.

The guest parses conninfo strings itself (both forms, with libpq's quoting); this module only
adds keyword arguments to the DSN the user gave:

* a ``key=value`` DSN gets `` key='value'`` appended (a later keyword wins, as in libpq);
* a ``postgresql://`` URI gets ``?key=value&...`` query parameters, percent-encoded (URI
  parameters override the URI's other parts, as in libpq).

``database`` is accepted as an alias of ``dbname``; keywords whose value is None are skipped
(psycopg's behaviour).
"""

from __future__ import annotations

from typing import Any, Optional
from urllib.parse import quote

from .errors import ProgrammingError

__all__ = ["make_conninfo", "quote_value"]

_ALIASES = {"database": "dbname"}


def quote_value(value: str) -> str:
    """libpq keyword/value quoting: single quotes, with ``\\`` and ``'`` backslash-escaped."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _to_str(key: str, value: Any) -> str:
    if isinstance(value, bool):
        raise ProgrammingError("connection option %r: expected a string or a number" % key)
    if isinstance(value, (str, int, float)):
        return str(value)
    raise ProgrammingError(
        "connection option %r: expected a string or a number, got %s" % (key, type(value).__name__)
    )


def make_conninfo(dsn: Optional[str] = None, **kwargs: Any) -> str:
    """The DSN with the keyword arguments added."""
    if dsn is not None and not isinstance(dsn, str):
        raise ProgrammingError("dsn must be a string, got %s" % type(dsn).__name__)
    dsn = (dsn or "").strip()
    params: dict[str, str] = {}
    for key, value in kwargs.items():
        if value is None:
            continue
        key = _ALIASES.get(key, key)
        params[key] = _to_str(key, value)
    if not params:
        return dsn
    if dsn.startswith(("postgresql://", "postgres://")):
        query = "&".join(
            "%s=%s" % (quote(k, safe=""), quote(v, safe="")) for k, v in params.items()
        )
        sep = "&" if "?" in dsn else "?"
        if dsn.endswith(("?", "&")):
            sep = ""
        return dsn + sep + query
    extra = " ".join("%s=%s" % (k, quote_value(v)) for k, v in params.items())
    return (dsn + " " + extra) if dsn else extra
