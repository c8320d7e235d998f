"""Python values as PostgreSQL input text and as SQL literals, for the statements whose
parameters are merged client-side (COPY's, `cursor.ClientCursor`'s) and for COPY's text
format. The values are adapted as bound parameters are (`types.dump`), then written in the form
PostgreSQL's input functions take (the guest does that rewriting for bound parameters)."""

from __future__ import annotations

import json
from typing import Any, Callable, Optional

from .errors import DataError, ProgrammingError
from .types import dump, oids

__all__ = ["literal", "text_of"]

# Type names for the casts of parameters merged into a statement.
_TYPE_NAMES = {
    oids.BOOL: "bool",
    oids.BYTEA: "bytea",
    oids.INT2: "int2",
    oids.INT4: "int4",
    oids.INT8: "int8",
    oids.TEXT: "text",
    oids.FLOAT4: "float4",
    oids.FLOAT8: "float8",
    oids.NUMERIC: "numeric",
    oids.DATE: "date",
    oids.TIME: "time",
    oids.TIMETZ: "timetz",
    oids.TIMESTAMP: "timestamp",
    oids.TIMESTAMPTZ: "timestamptz",
    oids.INTERVAL: "interval",
    oids.UUID: "uuid",
    oids.JSON: "json",
    oids.JSONB: "jsonb",
    oids.INET: "inet",
    oids.CIDR: "cidr",
}


def _interval(canonical: str) -> str:
    """``months days microseconds`` (the canonical form) as interval input."""
    months, days, micros = (int(x) for x in canonical.split(" "))
    sign = "-" if micros < 0 else ""
    secs, frac = divmod(abs(micros), 1000000)
    return "%d mons %d days %s%d.%06d secs" % (months, days, sign, secs, frac)


def _input(oid: int, canonical: str) -> str:
    """A canonical value (`types.dump`) in the form PostgreSQL's input functions take: the
    guest rewrites bytea, intervals and arrays for parameters; COPY data bypasses the guest."""
    if oid == oids.BYTEA:
        return "\\x" + canonical.encode("latin-1").hex()
    if oid == oids.INTERVAL:
        return _interval(canonical)
    element = oids.ARRAY_ELEMENT.get(oid)
    if element is not None:
        return _array(json.loads(canonical), element)
    return canonical


def _array(value: Any, element: int) -> str:
    """A canonical array (JSON lists of canonical strings) as an array literal."""
    if value is None:
        return "NULL"
    if isinstance(value, list):
        return "{" + ",".join(_array(v, element) for v in value) + "}"
    text = _input(element, value)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def text_of(value: Any) -> Optional[str]:
    """A Python value as PostgreSQL text input (None for NULL), adapted as parameters are."""
    if value is None:
        return None
    oid, canonical = dump(value)
    if canonical is None:
        return None
    return _input(oid, canonical)


Dump = Callable[[Any], tuple[int, Optional[str]]]


def literal(value: Any, dump: Dump = dump) -> str:
    """A parameter as an SQL literal, for client-side binding (COPY, `ClientCursor`): quoted,
    with a cast to the type it was adapted as; a tuple is a parenthesised list of literals
    (``IN %s``, psycopg2's adaptation). It starts with a space, so ``1-%s`` never becomes a
    comment."""
    if value is None:
        return "NULL"
    if type(value) is tuple:
        if not value:
            raise ProgrammingError("an empty tuple has no SQL form (IN () is a syntax error)")
        return " (%s)" % ",".join(literal(v, dump) for v in value)
    oid, canonical = dump(value)
    if canonical is None:
        return "NULL"
    text = _input(oid, canonical)
    if "\x00" in text:
        raise DataError("a parameter merged into the statement cannot contain NUL characters")
    if "\\" in text:
        quoted = " E'" + text.replace("\\", "\\\\").replace("'", "''") + "'"
    else:
        quoted = " '" + text.replace("'", "''") + "'"
    name = _TYPE_NAMES.get(oid)
    if name is None and oid in oids.ARRAY_ELEMENT:
        name = _TYPE_NAMES.get(oids.ARRAY_ELEMENT[oid])
        if name is not None:
            name += "[]"
    return quoted if name is None else "%s::%s" % (quoted, name)
