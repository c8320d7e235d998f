"""psycopg2's ``extras`` module: row-shaped cursors (``DictCursor``, ``RealDictCursor``,
``NamedTupleCursor``) and their connections, logging connections, ``execute_batch`` and
``execute_values``, and the extra types: uuid, inet, ipaddress, JSON, ranges, hstore and
composite types."""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import time
import uuid
from collections import OrderedDict, namedtuple
from collections.abc import Iterator
from functools import lru_cache
from typing import Any, Callable, Optional

from ..errors import NotSupportedError, ProgrammingError
from ._adapt import ISQLQuote, QuotedString, adapt, getquoted, register_adapter
from ._connection import connection as _connection
from ._cursor import cursor as _cursor
from ._json import Json, register_default_json, register_default_jsonb, register_json
from ._range import (
    DateRange,
    DateTimeRange,
    DateTimeTZRange,
    NumberRangeAdapter,
    NumericRange,
    Range,
    RangeAdapter,
    RangeCaster,
    register_range,
)
from ._typecast import (
    KEEP,
    Typecaster,
    new_array_type,
    new_type,
    register_type,
)

__all__ = [
    "DictCursorBase",
    "DictCursor",
    "DictConnection",
    "DictRow",
    "RealDictCursor",
    "RealDictConnection",
    "RealDictRow",
    "NamedTupleCursor",
    "NamedTupleConnection",
    "LoggingConnection",
    "LoggingCursor",
    "MinTimeLoggingConnection",
    "MinTimeLoggingCursor",
    "UUID_adapter",
    "register_uuid",
    "Inet",
    "register_inet",
    "register_ipaddress",
    "register_tstz_w_secs",
    "wait_select",
    "HstoreAdapter",
    "register_hstore",
    "CompositeCaster",
    "register_composite",
    "execute_batch",
    "execute_values",
    "Json",
    "register_json",
    "register_default_json",
    "register_default_jsonb",
    "Range",
    "NumericRange",
    "DateRange",
    "DateTimeRange",
    "DateTimeTZRange",
    "RangeAdapter",
    "NumberRangeAdapter",
    "RangeCaster",
    "register_range",
]


# -- row-shaped cursors --


class DictCursorBase(_cursor):
    """The base of the cursors whose rows are built by ``row_factory``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        factory = kwargs.pop("row_factory", None)
        if factory is None:
            raise NotImplementedError("DictCursorBase can't be instantiated without a row factory.")
        super().__init__(*args, **kwargs)
        self.row_factory = factory


class DictRow(list):  # type: ignore[type-arg]
    """A row addressable by index and by column name (``row[0]``, ``row["id"]``)."""

    __slots__ = ("_index",)

    def __init__(self, cursor: Any) -> None:
        self._index = cursor.index
        self[:] = [None] * len(cursor.description)

    def __getitem__(self, x: Any) -> Any:
        if not isinstance(x, (int, slice)):
            x = self._index[x]
        return super().__getitem__(x)

    def __setitem__(self, x: Any, v: Any) -> None:
        if not isinstance(x, (int, slice)):
            x = self._index[x]
        super().__setitem__(x, v)

    def items(self) -> Iterator[tuple[str, Any]]:
        g = super().__getitem__
        return ((k, g(i)) for k, i in self._index.items())

    def keys(self) -> Iterator[str]:
        return iter(self._index)

    def values(self) -> Iterator[Any]:
        g = super().__getitem__
        return (g(i) for i in self._index.values())

    def get(self, x: Any, default: Any = None) -> Any:
        try:
            return self[x]
        except (KeyError, IndexError):
            return default

    def copy(self) -> OrderedDict[str, Any]:  # type: ignore[override]
        return OrderedDict(self.items())

    def __contains__(self, x: object) -> bool:
        return x in self._index

    def __reduce__(self) -> Any:
        return self.__class__, (), self.__getstate__()

    def __getstate__(self) -> Any:
        return self[:], self._index.copy()

    def __setstate__(self, data: Any) -> None:
        self[:] = data[0]
        self._index = data[1]


class DictCursor(DictCursorBase):
    """Rows are `DictRow`: a list also indexed by column name."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["row_factory"] = DictRow
        super().__init__(*args, **kwargs)
        self.index: OrderedDict[str, int] = OrderedDict()

    def _set_result(self, *args: Any) -> None:
        super()._set_result(*args)
        self._build_index()

    def _fetch_named(self, template: str) -> list[Any]:
        rows = super()._fetch_named(template)
        self._build_index()
        return rows

    def _build_index(self) -> None:
        self.index = OrderedDict()
        if self.description is not None:
            for i, d in enumerate(self.description):
                self.index[d[0]] = i


class DictConnection(_connection):
    """A connection whose cursors are `DictCursor`s."""

    def cursor(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("cursor_factory", self.cursor_factory or DictCursor)
        return super().cursor(*args, **kwargs)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cursor_factory = DictCursor


class RealDictRow(OrderedDict):  # type: ignore[type-arg]
    """A row that is a dict of column name to value."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args and isinstance(args[0], _cursor):
            cursor = args[0]
            args = args[1:]
        else:
            cursor = None
        super().__init__(*args, **kwargs)
        if cursor is not None:
            # Until populated: the column names by position (replaced key by key).
            self._keys: Optional[list[str]] = [d[0] for d in cursor.description or ()]
        else:
            self._keys = None

    def __setitem__(self, key: Any, value: Any) -> None:
        keys = getattr(self, "_keys", None)
        if keys is not None and isinstance(key, int):
            key = keys[key]
            if key == keys[-1]:
                self._keys = None
        super().__setitem__(key, value)


class RealDictCursor(DictCursorBase):
    """Rows are `RealDictRow`: dicts keyed by column name."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["row_factory"] = RealDictRow
        super().__init__(*args, **kwargs)

    def _make(self, row: tuple[Any, ...]) -> Any:
        assert self.description is not None
        out = RealDictRow()
        for d, v in zip(self.description, row):
            out[d[0]] = v
        return out


class RealDictConnection(_connection):
    """A connection whose cursors are `RealDictCursor`s."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cursor_factory = RealDictCursor


class NamedTupleCursor(_cursor):
    """Rows are namedtuples whose fields are the column names (invalid names renamed)."""

    Record: Any = None
    MAX_CACHE = 1024

    def _make(self, row: tuple[Any, ...]) -> Any:
        record = self._record()
        return record._make(row)

    def _record(self) -> Any:
        assert self.description is not None
        key = tuple(d[0] for d in self.description)
        record = self.Record
        if record is None or record._fields_key != key:
            record = _make_nt(key)
            self.Record = record
        return record


# namedtuple typed loosely: the field names are only known at run time.
_namedtuple: Any = namedtuple


@lru_cache(maxsize=512)
def _make_nt(key: tuple[str, ...]) -> Any:
    fields = []
    for name in key:
        name = re.sub(r"[^a-zA-Z0-9_]", "_", name)
        name = re.sub("^_+", "", name)
        if not name or name[0].isdigit():
            name = "f" + name
        fields.append(name)
    nt = _namedtuple("Record", fields, rename=True)
    nt._fields_key = key
    return nt


class NamedTupleConnection(_connection):
    """A connection whose cursors are `NamedTupleCursor`s."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cursor_factory = NamedTupleCursor


# -- logging --


class LoggingConnection(_connection):
    """A connection that logs every query its cursors run (``initialize(logobj)``: a logger
    or a file); ``filter(msg, curs)`` can rewrite or drop (None) a message."""

    def initialize(self, logobj: Any) -> None:
        self._logobj = logobj
        if logging is not None and isinstance(logobj, (logging.Logger, logging.LoggerAdapter)):
            self.log: Callable[[Any, Any], None] = self._logtologger
        else:
            self.log = self._logtofile

    def filter(self, msg: Any, curs: Any) -> Any:
        return msg

    def _logtofile(self, msg: Any, curs: Any) -> None:
        msg = self.filter(msg, curs)
        if msg:
            if isinstance(msg, bytes):
                msg = msg.decode(self._codec, "replace")
            self._logobj.write(msg + os.linesep)

    def _logtologger(self, msg: Any, curs: Any) -> None:
        msg = self.filter(msg, curs)
        if msg:
            self._logobj.debug(msg)

    def _check_init(self) -> None:
        if not hasattr(self, "_logobj"):
            raise ProgrammingError("LoggingConnection object has not been initialize()d")

    def cursor(self, *args: Any, **kwargs: Any) -> Any:
        self._check_init()
        kwargs.setdefault("cursor_factory", self.cursor_factory or LoggingCursor)
        return super().cursor(*args, **kwargs)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cursor_factory = LoggingCursor


class LoggingCursor(_cursor):
    """A cursor that logs its queries through its `LoggingConnection`."""

    def execute(self, query: Any, vars: Any = None) -> None:
        try:
            super().execute(query, vars)
        finally:
            self.connection.log(self.query, self)

    def callproc(self, procname: str, vars: Any = None) -> Any:
        try:
            return super().callproc(procname, vars)
        finally:
            self.connection.log(self.query, self)


class MinTimeLoggingConnection(LoggingConnection):
    """Logs only the queries that took at least ``mintime`` milliseconds."""

    def initialize(self, logobj: Any, mintime: int = 0) -> None:
        LoggingConnection.initialize(self, logobj)
        self._mintime = mintime

    def filter(self, msg: Any, curs: Any) -> Any:
        t = (time.time() - curs.timestamp) * 1000
        if t > self._mintime:
            if isinstance(msg, bytes):
                msg = msg.decode(self._codec, "replace")
            return msg + os.linesep + "  (execution time: %d ms)" % t
        return None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cursor_factory = MinTimeLoggingCursor


class MinTimeLoggingCursor(LoggingCursor):
    """The cursor of `MinTimeLoggingConnection`."""

    def execute(self, query: Any, vars: Any = None) -> None:
        self.timestamp = time.time()
        super().execute(query, vars)

    def callproc(self, procname: str, vars: Any = None) -> Any:
        self.timestamp = time.time()
        return super().callproc(procname, vars)


# -- uuid, inet, ipaddress --


class UUID_adapter:
    """A UUID as ``'...'::uuid``."""

    def __init__(self, uuid: uuid.UUID) -> None:
        self._uuid = uuid

    def __conform__(self, proto: Any) -> Any:
        return self if proto is ISQLQuote else None

    def getquoted(self) -> bytes:
        return ("'%s'::uuid" % self._uuid).encode("ascii")

    def __str__(self) -> str:
        return "'%s'::uuid" % self._uuid


def _cast_uuid(s: Optional[str], cur: Any) -> Any:
    return None if s is None else uuid.UUID(s)


def register_uuid(oids: Any = None, conn_or_curs: Any = None) -> Typecaster:
    """Casts uuid (and uuid[]) to ``uuid.UUID`` and adapts UUID parameters."""
    if not oids:
        oid1, oid2 = 2950, 2951
    elif isinstance(oids, (list, tuple)):
        oid1, oid2 = oids
    else:
        oid1, oid2 = oids, 2951
    caster = Typecaster((oid1,), "UUID", _cast_uuid, KEEP)
    array = new_array_type((oid2,), "UUID[]", caster)
    register_type(caster, conn_or_curs)
    register_type(array, conn_or_curs)
    register_adapter(uuid.UUID, UUID_adapter)
    return caster


class Inet:
    """An inet value: as a parameter ``'...'::inet``; as a result (``register_inet``), the
    address text in ``addr``."""

    def __init__(self, addr: Any) -> None:
        self.addr = addr
        self._conn: Any = None

    def __repr__(self) -> str:
        return "%s(%r)" % (type(self).__name__, self.addr)

    def prepare(self, conn: Any) -> None:
        self._conn = conn

    def getquoted(self) -> bytes:
        obj = adapt(self.addr)
        if self._conn is not None and hasattr(obj, "prepare"):
            obj.prepare(self._conn)
        return bytes(obj.getquoted()) + b"::inet"

    def __conform__(self, proto: Any) -> Any:
        return self if proto is ISQLQuote else None

    def __str__(self) -> str:
        return str(self.addr)


def register_inet(oid: Any = None, conn_or_curs: Any = None) -> Typecaster:
    """Casts inet (and inet[]) to `Inet` objects (deprecated in psycopg2: see
    ``register_ipaddress``)."""
    oid1, oid2 = oid if isinstance(oid, (list, tuple)) else (oid or 869, 1041)

    def cast(s: Optional[str], cur: Any) -> Any:
        return None if s is None else Inet(s)

    caster = new_type((oid1,), "INET", cast)
    array = new_array_type((oid2,), "INETARRAY", caster)
    register_type(caster, conn_or_curs)
    register_type(array, conn_or_curs)
    return caster


def _cast_interface(s: Optional[str], cur: Any) -> Any:
    return None if s is None else ipaddress.ip_interface(s)


def _cast_network(s: Optional[str], cur: Any) -> Any:
    return None if s is None else ipaddress.ip_network(s)


def _adapt_ipaddress(obj: Any) -> QuotedString:
    return QuotedString(str(obj))


def register_ipaddress(conn_or_curs: Any = None) -> None:
    """Casts inet to ``ipaddress`` interfaces and cidr to networks (and their arrays), and
    adapts the ``ipaddress`` objects."""
    for caster in (
        new_type((869,), "INET", _cast_interface),
        new_type((650,), "CIDR", _cast_network),
    ):
        register_type(caster, conn_or_curs)
    base_inet = new_type((869,), "INET", _cast_interface)
    base_cidr = new_type((650,), "CIDR", _cast_network)
    register_type(new_array_type((1041,), "INET[]", base_inet), conn_or_curs)
    register_type(new_array_type((651,), "CIDR[]", base_cidr), conn_or_curs)
    for t in (
        ipaddress.IPv4Interface,
        ipaddress.IPv6Interface,
        ipaddress.IPv4Network,
        ipaddress.IPv6Network,
        ipaddress.IPv4Address,
        ipaddress.IPv6Address,
    ):
        register_adapter(t, _adapt_ipaddress)


def register_tstz_w_secs(oids: Any = None, conn_or_curs: Any = None) -> Typecaster:
    """Kept for compatibility: timestamptz offsets with seconds are always handled."""
    from ._typecast import DATETIMETZ

    return DATETIMETZ


def wait_select(conn: Any) -> None:
    """Not supported: wasmpg connections are synchronous (no asynchronous polling)."""
    raise NotSupportedError("wait_select is not supported: wasmpg connections are synchronous")


# -- hstore --


class HstoreAdapter:
    """A dict as an hstore literal: ``hstore(ARRAY[keys], ARRAY[values])``."""

    def __init__(self, wrapped: dict[Any, Any]) -> None:
        self.wrapped = wrapped
        self._conn: Any = None

    def prepare(self, conn: Any) -> None:
        self._conn = conn

    def __conform__(self, proto: Any) -> Any:
        return self if proto is ISQLQuote else None

    def getquoted(self) -> bytes:
        if not self.wrapped:
            return b"''::hstore"
        keys = [getquoted(k, self._conn) for k in self.wrapped]
        values = [
            b"NULL" if v is None else getquoted(str(v), self._conn) for v in self.wrapped.values()
        ]
        return b"hstore(ARRAY[" + b", ".join(keys) + b"], ARRAY[" + b", ".join(values) + b"])"

    @classmethod
    def parse(cls, s: Optional[str], cur: Any) -> Any:
        """An hstore's text (``"k"=>"v", "n"=>NULL``) as a dict (None for NULL)."""
        if s is None:
            return None
        rv: dict[str, Optional[str]] = {}
        n = len(s)

        def skip(i: int) -> int:
            while i < n and s[i].isspace():
                i += 1
            return i

        def quoted(i: int) -> tuple[str, int]:
            out = []
            i += 1
            while i < n and s[i] != '"':
                if s[i] == "\\" and i + 1 < n:
                    i += 1
                out.append(s[i])
                i += 1
            if i >= n:
                raise ProgrammingError("error parsing hstore: unterminated string")
            return "".join(out), i + 1

        i = skip(0)
        while i < n:
            if s[i] != '"':
                raise ProgrammingError("error parsing hstore pair at char %d" % i)
            key, i = quoted(i)
            i = skip(i)
            if not s.startswith("=>", i):
                raise ProgrammingError("error parsing hstore pair at char %d" % i)
            i = skip(i + 2)
            value: Optional[str]
            if s.startswith('"', i):
                value, i = quoted(i)
            elif s[i : i + 4].upper() == "NULL":
                value, i = None, i + 4
            else:
                raise ProgrammingError("error parsing hstore pair at char %d" % i)
            rv[key] = value
            i = skip(i)
            if i < n:
                if s[i] != ",":
                    raise ProgrammingError("error parsing hstore pair at char %d" % i)
                i = skip(i + 1)
        return rv

    @classmethod
    def parse_unicode(cls, s: Optional[str], cur: Any) -> Any:
        return cls.parse(s, cur)

    @classmethod
    def get_oids(cls, conn_or_curs: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The OIDs of hstore and hstore[] in the database (empty without the extension)."""
        conn = getattr(conn_or_curs, "connection", conn_or_curs)
        curs = conn.cursor()
        try:
            curs.execute(
                "SELECT t.oid, typarray FROM pg_type t JOIN pg_namespace ns"
                " ON typnamespace = ns.oid WHERE typname = 'hstore'"
            )
            rows = curs.fetchall()
        finally:
            curs.close()
        return tuple(int(r[0]) for r in rows), tuple(int(r[1]) for r in rows if r[1])


def register_hstore(
    conn_or_curs: Any,
    globally: bool = False,
    unicode: bool = False,
    oid: Any = None,
    array_oid: Any = None,
) -> None:
    """Casts hstore to dicts and adapts dicts as hstore (dict parameters then are hstore,
    as in psycopg2)."""
    if oid is None:
        oid, array_oid = HstoreAdapter.get_oids(conn_or_curs)
        if not oid:
            raise ProgrammingError("hstore type not found in the database")
    if isinstance(oid, int):
        oid = (oid,)
    if array_oid is None:
        array_oid = ()
    elif isinstance(array_oid, int):
        array_oid = (array_oid,)
    caster = new_type(tuple(oid), "HSTORE", HstoreAdapter.parse)
    scope = None if globally else conn_or_curs
    register_type(caster, scope)
    if array_oid:
        register_type(new_array_type(tuple(array_oid), "HSTOREARRAY", caster), scope)
    register_adapter(dict, HstoreAdapter)


# -- composite types --


class CompositeCaster:
    """Casts a composite type to a namedtuple (or what ``make`` returns) and back: created
    by ``register_composite``."""

    def __init__(
        self,
        name: str,
        oid: int,
        attrs: list[tuple[str, int]],
        array_oid: Optional[int] = None,
        schema: Optional[str] = None,
    ) -> None:
        self.name = name
        self.schema = schema
        self.oid = oid
        self.array_oid = array_oid
        self.attnames = [a[0] for a in attrs]
        self.atttypes = [a[1] for a in attrs]
        self._create_type(name, self.attnames)
        self.typecaster = new_type((oid,), name.upper(), self.parse)
        self.array_typecaster = (
            new_array_type((array_oid,), "%sARRAY" % name.upper(), self.typecaster)
            if array_oid
            else None
        )

    def parse(self, s: Optional[str], curs: Any) -> Any:
        if s is None:
            return None
        tokens = self.tokenize(s)
        if len(tokens) != len(self.atttypes):
            raise ProgrammingError(
                "expecting %d components for the type %s, %d found instead"
                % (len(self.atttypes), self.name, len(tokens))
            )
        values = [
            None if tok is None else curs.cast(oid, tok) for oid, tok in zip(self.atttypes, tokens)
        ]
        return self.make(values)

    def make(self, values: list[Any]) -> Any:
        return self._ctor(values)

    @staticmethod
    def tokenize(s: str) -> list[Optional[str]]:
        """The fields of a record literal ``(a,"b c",)`` (None for an empty field: NULL)."""
        if not (s.startswith("(") and s.endswith(")")):
            raise ProgrammingError("bad record: %r" % s)
        body = s[1:-1]
        out: list[Optional[str]] = []
        i = 0
        n = len(body)
        while True:
            if i >= n or body[i] == ",":
                out.append(None)
            elif body[i] == '"':
                chars = []
                i += 1
                while i < n:
                    c = body[i]
                    if c == "\\" or (c == '"' and body[i + 1 : i + 2] == '"'):
                        chars.append(body[i + 1])
                        i += 2
                        continue
                    if c == '"':
                        i += 1
                        break
                    chars.append(c)
                    i += 1
                out.append("".join(chars))
            else:
                j = body.find(",", i)
                j = n if j < 0 else j
                out.append(body[i:j])
                i = j
            if i >= n:
                break
            if body[i] == ",":
                i += 1
                if i >= n:
                    out.append(None)
                    break
        return out

    def _create_type(self, name: str, attnames: list[str]) -> None:
        self.type = _namedtuple(name, attnames, rename=True)
        self._ctor = self.type._make

    @classmethod
    def _from_db(cls, name: str, conn_or_curs: Any) -> CompositeCaster:
        conn = getattr(conn_or_curs, "connection", conn_or_curs)
        schema, _, tname = name.rpartition(".")
        curs = conn.cursor()
        try:
            curs.execute(
                "SELECT t.oid, t.typarray, a.attname, a.atttypid"
                " FROM pg_type t JOIN pg_namespace ns ON typnamespace = ns.oid"
                " JOIN pg_attribute a ON attrelid = typrelid"
                " WHERE typname = %s AND "
                + ("nspname = %s" if schema else "pg_catalog.pg_type_is_visible(t.oid)")
                + " AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
                (tname, schema) if schema else (tname,),
            )
            rows = curs.fetchall()
        finally:
            curs.close()
        if not rows:
            raise ProgrammingError("PostgreSQL type '%s' not found" % name)
        oid, array_oid = int(rows[0][0]), int(rows[0][1]) or None
        attrs = [(r[2], int(r[3])) for r in rows]
        return cls(tname, oid, attrs, array_oid=array_oid, schema=schema or None)


def register_composite(
    name: str, conn_or_curs: Any, globally: bool = False, factory: Any = None
) -> CompositeCaster:
    """Casts the composite type ``name`` to a namedtuple (or ``factory``'s objects)."""
    caster_class = factory or CompositeCaster
    caster = caster_class._from_db(name, conn_or_curs)
    scope = None if globally else conn_or_curs
    register_type(caster.typecaster, scope)
    if caster.array_typecaster is not None:
        register_type(caster.array_typecaster, scope)
    return caster


# -- batch execution --


def _paginate(seq: Any, page_size: int) -> Iterator[list[Any]]:
    page: list[Any] = []
    for item in seq:
        page.append(item)
        if len(page) == page_size:
            yield page
            page = []
    if page:
        yield page


def execute_batch(cur: Any, sql: Any, argslist: Any, page_size: int = 100) -> None:
    """Runs ``sql`` once per parameter set, ``page_size`` statements per round trip."""
    for page in _paginate(argslist, page_size):
        sqls = [cur.mogrify(sql, args) for args in page]
        cur.execute(b";".join(sqls))


def _split_sql(sql: str) -> tuple[str, str]:
    """The query around its single ``%s`` (``%%`` becoming ``%`` on both sides)."""
    pre: list[str] = []
    post: list[str] = []
    current = pre
    i = 0
    n = len(sql)
    while i < n:
        j = sql.find("%", i)
        if j < 0:
            current.append(sql[i:])
            break
        current.append(sql[i:j])
        nxt = sql[j + 1 : j + 2]
        if nxt == "%":
            current.append("%")
        elif nxt == "s":
            if current is post:
                raise ValueError("the query contains more than one '%s' placeholder")
            current = post
        else:
            raise ValueError("unsupported format character: '%s'" % nxt)
        i = j + 2
    if current is pre:
        raise ValueError("the query doesn't contain any '%s' placeholder")
    return "".join(pre), "".join(post)


def execute_values(
    cur: Any,
    sql: Any,
    argslist: Any,
    template: Any = None,
    page_size: int = 100,
    fetch: bool = False,
) -> Optional[list[Any]]:
    """Runs ``sql`` (with one ``%s``, e.g. ``INSERT INTO t VALUES %s``) with ``%s`` replaced
    by ``page_size`` parameter sets at a time, each merged into ``template`` (default
    ``(%s, %s, ...)``). With ``fetch``, returns the rows of every page."""
    conn = cur.connection
    if not isinstance(sql, str):
        sql = sql.as_string(cur) if hasattr(sql, "as_string") else bytes(sql).decode(conn._codec)
    pre, post = _split_sql(sql)
    result: Optional[list[Any]] = [] if fetch else None
    for page in _paginate(argslist, page_size):
        tmpl = template
        if tmpl is None:
            tmpl = "(" + ",".join(["%s"] * len(page[0])) + ")"
        parts = [cur.mogrify(tmpl, args).decode(conn._codec) for args in page]
        cur.execute(pre + ",".join(parts) + post)
        if fetch:
            assert result is not None
            result.extend(cur.fetchall())
    return result


# psycopg2's extras also re-export these: the json casters are registered by extensions.
_unused = (register_default_json, register_default_jsonb, register_json, Json, RangeCaster)
