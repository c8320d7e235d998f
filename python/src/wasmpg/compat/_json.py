"""psycopg2's JSON support: the ``Json`` adapter and the json/jsonb typecasters
(``register_json``, ``register_default_json``, ``register_default_jsonb``), per connection,
cursor or globally."""

from __future__ import annotations

import json as _json
from typing import Any, Callable, Optional

from ..errors import ProgrammingError
from ._adapt import ISQLQuote, QuotedString
from ._typecast import KEEP, Typecaster, new_array_type, register_type

__all__ = ["Json", "register_json", "register_default_json", "register_default_jsonb"]

JSON_OID = 114
JSONARRAY_OID = 199
JSONB_OID = 3802
JSONBARRAY_OID = 3807


class Json:
    """A Python object as a JSON literal (``json.dumps``, or ``dumps``): ``'{"a": 1}'``
    with no cast, so the server infers json or jsonb."""

    def __init__(self, adapted: Any, dumps: Optional[Callable[[Any], str]] = None) -> None:
        self.adapted = adapted
        self._conn: Any = None
        self._dumps = dumps or _json.dumps

    def __conform__(self, proto: Any) -> Any:
        return self if proto is ISQLQuote else None

    def dumps(self, obj: Any) -> str:
        """The object serialised (override to customise)."""
        return self._dumps(obj)

    def prepare(self, conn: Any) -> None:
        self._conn = conn

    def getquoted(self) -> bytes:
        s = self.dumps(self.adapted)
        qs = QuotedString(s)
        if self._conn is not None:
            qs.prepare(self._conn)
        else:
            qs.encoding = "utf8"
        return qs.getquoted()

    def __str__(self) -> str:
        return self.getquoted().decode("utf-8", "replace")


def _casters(
    oid: int, array_oid: Optional[int], loads: Optional[Callable[[str], Any]], name: str
) -> tuple[Typecaster, Optional[Typecaster]]:
    fn = loads or _json.loads

    def cast(s: Optional[str], cur: Any) -> Any:
        return None if s is None else fn(s)

    # wasmpg already parsed the value with json.loads: kept as is unless loads is custom.
    caster = Typecaster((oid,), name, cast, KEEP if loads is None else None)
    array = new_array_type((array_oid,), name + "ARRAY", caster) if array_oid else None
    return caster, array


def _oids_of(conn_or_curs: Any, name: str) -> tuple[int, Optional[int]]:
    if conn_or_curs is None:
        raise ProgrammingError("a connection or cursor is needed to look up the %s type" % name)
    conn = getattr(conn_or_curs, "connection", conn_or_curs)
    curs = conn.cursor()
    try:
        curs.execute(
            "SELECT t.oid, typarray FROM pg_type t WHERE typname = %s ORDER BY t.oid LIMIT 1",
            (name,),
        )
        row = curs.fetchone()
    finally:
        curs.close()
    if row is None:
        raise ProgrammingError("%s data type not found" % name)
    return int(row[0]), (int(row[1]) if row[1] else None)


def register_json(
    conn_or_curs: Any = None,
    globally: bool = False,
    loads: Optional[Callable[[str], Any]] = None,
    oid: Optional[int] = None,
    array_oid: Optional[int] = None,
    name: str = "json",
) -> tuple[Typecaster, Optional[Typecaster]]:
    """Casts the json type named ``name`` (its OIDs looked up unless given) with ``loads``,
    for ``conn_or_curs`` or, with ``globally``, everywhere."""
    if oid is None:
        oid, array_oid = _oids_of(conn_or_curs, name)
    caster, array = _casters(oid, array_oid, loads, name.upper())
    scope = None if globally else conn_or_curs
    register_type(caster, scope)
    if array is not None:
        register_type(array, scope)
    return caster, array


def register_default_json(
    conn_or_curs: Any = None, globally: bool = False, loads: Optional[Callable[[str], Any]] = None
) -> tuple[Typecaster, Optional[Typecaster]]:
    """``register_json`` for the built-in json type (no look-up)."""
    return register_json(
        conn_or_curs, globally=globally, loads=loads, oid=JSON_OID, array_oid=JSONARRAY_OID
    )


def register_default_jsonb(
    conn_or_curs: Any = None, globally: bool = False, loads: Optional[Callable[[str], Any]] = None
) -> tuple[Typecaster, Optional[Typecaster]]:
    """``register_json`` for the built-in jsonb type (no look-up)."""
    return register_json(
        conn_or_curs,
        globally=globally,
        loads=loads,
        oid=JSONB_OID,
        array_oid=JSONBARRAY_OID,
        name="jsonb",
    )
