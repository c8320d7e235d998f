"""SQLAlchemy 2.0 dialects for wasmpg: ``postgresql+wasmpg://`` (sync) and
``postgresql+wasmpg_async://`` (asyncio).

Its one job: let SQLAlchemy (Core, ORM, ``create_async_engine``) use wasmpg as its PostgreSQL
driver. Both dialects are registered as ``sqlalchemy.dialects`` entry points by wasmpg's package
metadata, so nothing needs importing::

    from sqlalchemy import create_engine
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_engine("postgresql+wasmpg://user:secret@db.example:5432/app")
    aengine = create_async_engine("postgresql+wasmpg_async://user:secret@db.example/app")

URL forms:

* ``postgresql+wasmpg://user:password@host:port/dbname`` (every part optional: libpq's ``PG*``
  variables, the password file and the OS user name fill in the rest, as in `wasmpg.connect`);
* a Unix socket: ``postgresql+wasmpg://user@/dbname?host=/var/run/postgresql`` (the directory of
  the socket, or its path);
* several hosts: ``?host=h1:5432&host=h2:5433`` or ``?host=h1,h2&port=5432,5433``, with
  ``target_session_attrs=read-write`` as libpq has it;
* any other query-string option is a libpq keyword (``sslmode``, ``sslrootcert``,
  ``application_name``, ``connect_timeout``, ``options``, ...), except wasmpg's own options:
  ``allow`` and ``allow_files`` (comma-separated, or repeated), ``read_timeout`` and
  ``cpu_limit`` (seconds), ``statement_cache`` (0 for PgBouncer in transaction mode),
  ``max_message_size`` and ``memory_limit`` (bytes). ``connect_args={...}`` of
  ``create_engine`` passes anything else `wasmpg.connect` takes (``password_callback``...).

What the dialects do with the driver:

* Parameters are bound server-side (``pyformat``), so bind casts are rendered
  (``%(x)s::VARCHAR``) where the server could not infer a type; JSON and JSONB values are sent as
  `wasmpg.Json` / `wasmpg.Jsonb`; ranges and multiranges travel as their text form.
* ``stream_results`` / ``yield_per`` use real server-side cursors (``DECLARE``/``FETCH``),
  declared ``WITH HOLD`` in autocommit mode, so other statements may run on the connection
  between fetches.
* ``executemany`` is the driver's, one round trip for all parameter sets; INSERT ... RETURNING
  of many rows goes through SQLAlchemy's "insertmanyvalues" batches.
* Isolation levels: ``AUTOCOMMIT`` is the connection's ``autocommit``; the others are
  ``SET SESSION CHARACTERISTICS``, run outside any transaction.
* ``pool_pre_ping`` sends an empty query; a lost connection (a closed session, an I/O error,
  SQLSTATE class 08, an administrator's shutdown 57P0x) is a disconnect, so the pool replaces it.
* The driver's automatic prepared statements: after DDL (CREATE, ALTER, DROP) run through the
  engine, each connection forgets its prepared statements (``DEALLOCATE ALL``) before its next
  statement, as SQLAlchemy's asyncpg dialect does, instead of failing with "cached plan must
  not change result type" inside a transaction.
* A custom ``json_deserializer`` gets the server's text: selected JSON columns are cast to text
  (the driver would otherwise parse them itself).
"""

from __future__ import annotations

import datetime as _dt
import decimal
import importlib
import json
import logging
import re
import types
from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Callable, Optional, Union, cast

from sqlalchemy import Text, exc, pool, type_coerce, util
from sqlalchemy.dialects.postgresql import ranges
from sqlalchemy.dialects.postgresql.array import ARRAY as PGARRAY
from sqlalchemy.dialects.postgresql.base import (
    INTERVAL,
    PGDialect,
    PGExecutionContext,
)
from sqlalchemy.dialects.postgresql.json import JSON, JSONB, JSONPathType
from sqlalchemy.dialects.postgresql.pg_catalog import INT2VECTOR, OIDVECTOR
from sqlalchemy.engine import AdaptedConnection, processors
from sqlalchemy.sql import sqltypes
from sqlalchemy.sql.expression import cast as sql_cast
from sqlalchemy.util.concurrency import await_only

import wasmpg

if TYPE_CHECKING:  # pragma: no cover
    from sqlalchemy.engine import URL, Connection
    from sqlalchemy.engine.interfaces import (
        ConnectArgsType,
        DBAPIConnection,
        DBAPICursor,
        DBAPIModule,
        ExecutionContext,
        IsolationLevel,
    )
    from sqlalchemy.pool import Pool, PoolProxiedConnection

__all__ = ["WasmpgDialect", "WasmpgAsyncDialect"]

logger = logging.getLogger("sqlalchemy.dialects.postgresql")

# Type OIDs (pg_type.dat).
_JSON_OIDS = (114, 3802)
_DECIMAL_OIDS = (1231, 1700)
_FLOAT_OIDS = (700, 701, 1021, 1022)
_INT_OIDS = (20, 21, 23, 26, 1005, 1007, 1016)

# wasmpg.connect()'s own options that a URL's query string may carry, with their parsers.
_LIST_OPTIONS = ("allow", "allow_files")
_NUMBER_OPTIONS: dict[str, Callable[[str], Any]] = {
    "read_timeout": float,
    "cpu_limit": float,
    "statement_cache": int,
    "max_message_size": int,
    "memory_limit": int,
}

# Error kinds (`wasmpg.errors`) after which the session is gone.
_DISCONNECT_KINDS = frozenset(("closed", "io", "trap", "protocol", "message-too-large"))
# SQLSTATEs of a server that ended the session: admin shutdown, crash shutdown, cannot connect
# now (and the whole class 08, connection exceptions).
_DISCONNECT_SQLSTATES = frozenset(("57P01", "57P02", "57P03"))

_ISOLATION_LEVELS = ("READ COMMITTED", "READ UNCOMMITTED", "REPEATABLE READ", "SERIALIZABLE")

_server_side_id = util.counter()

Processor = Optional[Callable[[Any], Any]]


# -- types: casts where the server cannot infer a parameter's type, and the conversions --


class _String(sqltypes.String):
    render_bind_cast = True


class _Integer(sqltypes.Integer):
    render_bind_cast = True


class _SmallInteger(sqltypes.SmallInteger):
    render_bind_cast = True


class _BigInteger(sqltypes.BigInteger):
    render_bind_cast = True


class _Boolean(sqltypes.Boolean):
    render_bind_cast = True


class _Date(sqltypes.Date):
    render_bind_cast = True


class _DateTime(sqltypes.DateTime):
    render_bind_cast = True


class _Time(sqltypes.Time):
    render_bind_cast = True


class _LargeBinary(sqltypes.LargeBinary):
    render_bind_cast = True


class _Interval(INTERVAL):
    render_bind_cast = True

    @classmethod
    def adapt_emulated_to_native(  # type: ignore[override] # INTERVAL's differs from its base's
        cls, interval: Any, **kw: Any
    ) -> _Interval:
        # The generic Interval becomes this class (INTERVAL's own would lose the cast).
        return cls(precision=interval.second_precision)


class _Numeric(sqltypes.Numeric):  # type: ignore[type-arg]
    """Numbers: the driver returns Decimal for numeric and float for float4/float8; this
    converts to what ``asdecimal`` asks for."""

    render_bind_cast = True

    def bind_processor(self, dialect: Any) -> Processor:
        return None  # Decimal, float and int are bound natively

    def result_processor(self, dialect: Any, coltype: Any) -> Processor:
        if self.asdecimal:
            if coltype in _FLOAT_OIDS:
                return cast(
                    "Processor",
                    processors.to_decimal_processor_factory(
                        decimal.Decimal, self._effective_decimal_return_scale
                    ),
                )
            return None  # numeric is a Decimal, integers stay int
        if coltype in _DECIMAL_OIDS or coltype in _INT_OIDS:
            return cast("Processor", processors.to_float)
        return None


class _Float(_Numeric, sqltypes.Float):  # type: ignore[type-arg]
    __visit_name__ = "float"
    render_bind_cast = True


class _ARRAY(PGARRAY):  # type: ignore[type-arg]
    """Arrays are lists both ways; tuples (refused by the driver's server-side binding) are
    sent as lists."""

    render_bind_cast = True

    def bind_processor(self, dialect: Any) -> Processor:
        inner = super().bind_processor(dialect)

        def process(value: Any) -> Any:
            if isinstance(value, tuple):
                value = _tuples_to_lists(value)
            return inner(value) if inner is not None else value

        return process


def _tuples_to_lists(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_tuples_to_lists(v) for v in value]
    return value


class _JSONMixin:
    """JSON and JSONB: values are sent wrapped in the driver's Json/Jsonb (declared json or
    jsonb, serialized by the dialect's ``json_serializer``); the driver parses results."""

    _wrapper: type[wasmpg.Json] = wasmpg.Json

    def bind_processor(self, dialect: Any) -> Processor:
        dumps = dialect._json_serializer or json.dumps
        wrapper = self._wrapper

        def wrap(value: Any) -> wasmpg.Json:
            return wrapper(value, dumps)

        make = cast("Any", self)._make_bind_processor
        return cast("Processor", make(None, wrap))

    def result_processor(self, dialect: Any, coltype: Any) -> Processor:
        loads = dialect._json_deserializer
        if coltype in _JSON_OIDS:
            if loads is None:
                return None  # parsed by the driver
            # A custom deserializer sees the JSON text again (see `_JSONAsText` for the
            # exact text the server sent).
            return lambda value: None if value is None else loads(json.dumps(value))
        # The value came as text (a text column typed JSON, or `_JSONAsText`'s cast).
        loads = loads or json.loads
        return lambda value: loads(value) if isinstance(value, (str, bytes)) else value


class _JSON(_JSONMixin, JSON):
    pass


class _JSONB(_JSONMixin, JSONB):
    _wrapper = wasmpg.Jsonb


class _JSONAsTextMixin:
    """With a custom ``json_deserializer``: selected JSON columns are cast to text, so that the
    deserializer gets the server's exact text (the driver would parse json itself)."""

    def column_expression(self, colexpr: Any) -> Any:
        # Still typed JSON, so that the result goes through `_JSONMixin.result_processor`.
        return type_coerce(sql_cast(colexpr, Text), colexpr.type)


class _JSONAsText(_JSONAsTextMixin, _JSON):
    pass


class _JSONBAsText(_JSONAsTextMixin, _JSONB):
    pass


class _JSONIntIndex(sqltypes.JSON.JSONIntIndexType):
    __visit_name__ = "json_int_index"
    render_bind_cast = True


class _JSONStrIndex(sqltypes.JSON.JSONStrIndexType):
    __visit_name__ = "json_str_index"
    render_bind_cast = True


class _JSONPath(JSONPathType):
    pass


def _space_vector(value: Any) -> Any:
    if isinstance(value, str):
        return [int(v) for v in value.split()]
    return value


class _Int2Vector(INT2VECTOR):
    """int2vector (the catalogs' ``pg_index.indoption``...): the driver returns its text."""

    def result_processor(self, dialect: Any, coltype: Any) -> Processor:
        return _space_vector


class _OidVector(OIDVECTOR):
    """oidvector: the driver returns its text."""

    def result_processor(self, dialect: Any, coltype: Any) -> Processor:
        return _space_vector


# -- ranges: the driver returns their text form and takes a text literal --

_RANGE_ELEMENT = {
    # range and multirange OIDs -> element kind
    3904: "int",
    3926: "int",
    4451: "int",
    4536: "int",
    3906: "numeric",
    4532: "numeric",
    3912: "date",
    4535: "date",
    3908: "timestamp",
    4533: "timestamp",
    3910: "timestamptz",
    4534: "timestamptz",
}

_TZ_HOURS = re.compile(r"([+-]\d\d)$")
_FRACTION = re.compile(r"\.(\d{1,6})(?=[+-]|$)")


def _load_timestamp(text: str) -> Any:
    if text in ("infinity", "-infinity") or text.endswith(" BC"):
        return text  # no Python value
    text = _TZ_HOURS.sub(r"\1:00", text)
    text = _FRACTION.sub(lambda m: "." + m.group(1).ljust(6, "0"), text)
    return _dt.datetime.fromisoformat(text)


def _load_date(text: str) -> Any:
    if text in ("infinity", "-infinity") or text.endswith(" BC"):
        return text
    return _dt.date.fromisoformat(text)


_ELEMENT_LOADERS: dict[str, Callable[[str], Any]] = {
    "int": int,
    "numeric": decimal.Decimal,
    "date": _load_date,
    "timestamp": _load_timestamp,
    "timestamptz": _load_timestamp,
}


def _range_bound(text: str, start: int) -> tuple[Optional[str], int]:
    """One bound of a range's text from ``start``: (its text or None if absent, the index
    after it)."""
    if text[start] == '"':
        out = []
        i = start + 1
        while i < len(text):
            c = text[i]
            if c == "\\":
                out.append(text[i + 1])
                i += 2
            elif c == '"':
                if text[i + 1 : i + 2] == '"':
                    out.append('"')
                    i += 2
                else:
                    return "".join(out), i + 1
            else:
                out.append(c)
                i += 1
        raise ValueError("unterminated quoted range bound: %r" % text)
    i = start
    while i < len(text) and text[i] not in ",)]":
        i += 1
    return (text[start:i] or None), i


def _parse_range(
    text: str, start: int, load: Callable[[str], Any]
) -> tuple[ranges.Range[Any], int]:
    """The range whose text starts at ``start`` and the index after it."""
    if text.startswith("empty", start):
        return ranges.Range(empty=True), start + 5
    lower_bound = text[start]
    lower, i = _range_bound(text, start + 1)
    if text[i] != ",":
        raise ValueError("malformed range: %r" % text)
    upper, i = _range_bound(text, i + 1)
    upper_bound = text[i]
    bounds = cast("Any", lower_bound + upper_bound)
    return (
        ranges.Range(
            None if lower is None else load(lower),
            None if upper is None else load(upper),
            bounds=bounds,
        ),
        i + 1,
    )


def _range_loader(coltype: Any) -> Callable[[str], Any]:
    return _ELEMENT_LOADERS.get(_RANGE_ELEMENT.get(coltype, ""), str)


def _range_text_of(value: Any) -> str:
    if isinstance(value, _dt.datetime):
        return value.isoformat(" ")
    if isinstance(value, (_dt.date, _dt.time)):
        return value.isoformat()
    return str(value)


def _range_literal(value: ranges.Range[Any]) -> str:
    if value.empty:
        return "empty"
    parts = []
    for bound in (value.lower, value.upper):
        if bound is None:
            parts.append("")
        else:
            text = _range_text_of(bound)
            parts.append('"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"')
    bounds = value.bounds or "[)"
    return "%s%s,%s%s" % (bounds[0], parts[0], parts[1], bounds[1])


class _Range(ranges.AbstractSingleRangeImpl):  # type: ignore[type-arg]
    render_bind_cast = True

    def bind_processor(self, dialect: Any) -> Processor:
        def process(value: Any) -> Any:
            if isinstance(value, ranges.Range):
                return _range_literal(value)
            return value

        return process

    def result_processor(self, dialect: Any, coltype: Any) -> Processor:
        load = _range_loader(coltype)

        def process(value: Any) -> Any:
            if not isinstance(value, str):
                return value
            r, _ = _parse_range(value, 0, load)
            return r

        return process


class _MultiRange(ranges.AbstractMultiRangeImpl):  # type: ignore[type-arg]
    render_bind_cast = True

    def bind_processor(self, dialect: Any) -> Processor:
        def process(value: Any) -> Any:
            if value is None or isinstance(value, str):
                return value
            return "{%s}" % ",".join(
                _range_literal(r) if isinstance(r, ranges.Range) else str(r) for r in value
            )

        return process

    def result_processor(self, dialect: Any, coltype: Any) -> Processor:
        load = _range_loader(coltype)

        def process(value: Any) -> Any:
            if not isinstance(value, str):
                return value
            out: list[ranges.Range[Any]] = []
            i = 1  # after "{"
            while i < len(value) and value[i] != "}":
                if value[i] == ",":
                    i += 1
                    continue
                r, i = _parse_range(value, i, load)
                out.append(r)
            return ranges.MultiRange(out)

        return process


_COLSPECS: dict[Any, Any] = {
    sqltypes.String: _String,
    sqltypes.Integer: _Integer,
    sqltypes.SmallInteger: _SmallInteger,
    sqltypes.BigInteger: _BigInteger,
    sqltypes.Boolean: _Boolean,
    sqltypes.Numeric: _Numeric,
    sqltypes.Float: _Float,
    sqltypes.Date: _Date,
    sqltypes.DateTime: _DateTime,
    sqltypes.Time: _Time,
    sqltypes.LargeBinary: _LargeBinary,
    sqltypes.Interval: _Interval,
    INTERVAL: _Interval,
    sqltypes.ARRAY: _ARRAY,
    sqltypes.JSON: _JSON,
    JSON: _JSON,
    JSONB: _JSONB,
    sqltypes.JSON.JSONPathType: _JSONPath,
    sqltypes.JSON.JSONIntIndexType: _JSONIntIndex,
    sqltypes.JSON.JSONStrIndexType: _JSONStrIndex,
    INT2VECTOR: _Int2Vector,
    OIDVECTOR: _OidVector,
    ranges.AbstractSingleRange: _Range,
    ranges.AbstractMultiRange: _MultiRange,
}


# -- execution --


# DDL, which may change what an already prepared statement returns (CREATE too: rolling its
# transaction back drops what it made).
_DDL = re.compile(r"\s*(?:CREATE|ALTER|DROP)\b", re.IGNORECASE)
_GENERATION_KEY = "wasmpg_ddl_generation"


class WasmpgExecutionContext(PGExecutionContext):
    def pre_exec(self) -> None:
        """Keeps the driver's prepared statements in step with the schema.

        A cached statement whose result columns were changed by DDL (a table dropped and made
        again with other types) fails inside a transaction ("cached plan must not change result
        type"; outside one the driver re-prepares it by itself). So, as SQLAlchemy's asyncpg
        dialect does, DDL run through this dialect starts a new generation, and a connection
        that prepared statements in an older one first forgets them (``DEALLOCATE ALL``, which
        the driver's cache follows)."""
        dialect = cast("WasmpgDialect", self.dialect)
        if self.isddl or _DDL.match(self.statement or ""):
            dialect._ddl_generation += 1
            return
        try:
            info = self._dbapi_connection.info
        except NotImplementedError:  # the first connection's initialize(): nothing cached yet
            return
        generation = dialect._ddl_generation
        if info.setdefault(_GENERATION_KEY, generation) == generation:
            return
        conn = cast("Any", self._dbapi_connection)
        if conn.transaction_status == "failed":
            return  # the statement fails anyway; next time
        try:
            dialect._run_outside_transaction(conn, "DEALLOCATE ALL")
        except wasmpg.Error:
            return  # the statement itself will report what is wrong with the connection
        info[_GENERATION_KEY] = generation

    def create_server_side_cursor(self) -> DBAPICursor:
        """A named cursor (DECLARE/FETCH); WITH HOLD in autocommit mode, where no transaction
        would keep it."""
        ident = "c_%s_%s" % (hex(id(self))[2:], hex(_server_side_id())[2:])
        conn = cast("Any", self._dbapi_connection)
        return cast("DBAPICursor", conn.cursor(ident, withhold=bool(conn.autocommit)))


def _log_notice(diag: wasmpg.Diagnostic) -> None:
    logger.info("%s: %s", diag.severity, diag.message_primary)


class WasmpgDialect(PGDialect):
    """``postgresql+wasmpg://``: SQLAlchemy's PostgreSQL dialect on the wasmpg driver."""

    driver = "wasmpg"
    supports_statement_cache = True
    supports_server_side_cursors = True
    default_paramstyle = "pyformat"
    supports_sane_rowcount = True
    supports_sane_multi_rowcount = True
    use_insertmanyvalues = True
    execution_ctx_cls = WasmpgExecutionContext
    colspecs = util.update_copy(PGDialect.colspecs, _COLSPECS)
    # Bumped by DDL (see `WasmpgExecutionContext.pre_exec`).
    _ddl_generation = 0

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)  # type: ignore[no-untyped-call]
        if self._json_deserializer is not None:
            # Per-dialect type map: selected JSON columns come back as text for the
            # deserializer (the driver's own JSON parsing is process-wide).
            self.colspecs = util.update_copy(
                self.colspecs, {sqltypes.JSON: _JSONAsText, JSON: _JSONAsText, JSONB: _JSONBAsText}
            )

    @classmethod
    def import_dbapi(cls) -> DBAPIModule:
        return cast("DBAPIModule", wasmpg)

    @classmethod
    def get_async_dialect_cls(cls, url: URL) -> type[WasmpgAsyncDialect]:
        return WasmpgAsyncDialect

    @classmethod
    def load_provisioning(cls) -> None:
        """For SQLAlchemy's test suite: PostgreSQL's provisioning hooks (the default looks
        for a ``provision`` module beside the dialect's)."""
        try:
            importlib.import_module("sqlalchemy.dialects.postgresql.provision")
        except ImportError:  # pragma: no cover - sqlalchemy.testing missing
            pass

    # -- connecting --

    def create_connect_args(self, url: URL) -> ConnectArgsType:
        """The URL as `wasmpg.connect` keyword arguments (no DSN: every part is a keyword)."""
        opts: dict[str, Any] = url.translate_connect_args(username="user", database="dbname")
        hosts, ports = self._split_multihost_from_url(url)
        for key, value in url.query.items():
            if key in ("host", "port"):
                continue
            if key in _LIST_OPTIONS:
                items = [value] if isinstance(value, str) else list(value)
                opts[key] = [p.strip() for item in items for p in item.split(",") if p.strip()]
                continue
            if not isinstance(value, str):
                raise exc.ArgumentError("the URL option %r is given more than once" % key)
            parse = _NUMBER_OPTIONS.get(key)
            if parse is not None:
                try:
                    opts[key] = parse(value)
                except ValueError:
                    raise exc.ArgumentError(
                        "the URL option %r needs a number, not %r" % (key, value)
                    ) from None
            else:
                opts[key] = value
        if hosts:
            opts["host"] = ",".join(h or "" for h in hosts)
            if ports and any(p is not None for p in ports):
                opts["port"] = ",".join("" if p is None else str(p) for p in ports)
            elif "port" in opts:
                opts["port"] = str(opts["port"])
        elif "port" in opts:
            opts["port"] = int(opts["port"])
        return ([], opts)

    def on_connect(self) -> Optional[Callable[[Any], None]]:
        def connect(conn: Any) -> None:
            conn.add_notice_handler(_log_notice)

        return connect

    def initialize(self, connection: Connection) -> None:
        super().initialize(connection)  # type: ignore[no-untyped-call]
        if not self.insert_returning:  # a very old server
            self.insert_executemany_returning = False

    def _get_server_version_info(self, connection: Connection) -> Any:
        """From the ``server_version`` the server reported at startup (no query)."""
        dbapi_conn = cast("Any", connection.connection.dbapi_connection)
        number = int(getattr(dbapi_conn, "server_version", 0) or 0)
        if number <= 0:
            return super()._get_server_version_info(connection)  # type: ignore[no-untyped-call]
        major = number // 10000
        if major >= 10:
            return (major, number % 10000)
        return (major, (number // 100) % 100, number % 100)

    def _set_backslash_escapes(self, connection: Connection) -> None:
        """From the ``standard_conforming_strings`` the server reports (no query)."""
        dbapi_conn = cast("Any", connection.connection.dbapi_connection)
        value = dbapi_conn.get_parameter_status("standard_conforming_strings")
        if value is None:
            super()._set_backslash_escapes(connection)  # type: ignore[no-untyped-call]
        else:
            self._backslash_escapes = value == "off"

    # -- disconnects and pings --

    def is_disconnect(
        self,
        e: DBAPIModule.Error,
        connection: Union[PoolProxiedConnection, DBAPIConnection, None],
        cursor: Optional[DBAPICursor],
    ) -> bool:
        if not isinstance(e, wasmpg.Error):
            return False
        if connection is not None and getattr(connection, "closed", False):
            return True
        if e.kind in _DISCONNECT_KINDS:
            return True
        code = e.sqlstate
        if code is not None and (code.startswith("08") or code in _DISCONNECT_SQLSTATES):
            return True
        return isinstance(e, wasmpg.InterfaceError) and "connection is closed" in str(e)

    def do_ping(self, dbapi_connection: DBAPIConnection) -> bool:
        """An empty query (one round trip), outside any transaction."""
        self._run_outside_transaction(dbapi_connection, ";")
        return True

    def _run_outside_transaction(self, dbapi_connection: Any, sql: str) -> list[Any]:
        """Runs a statement without opening a transaction (autocommit for its duration when
        the connection is idle); returns its rows."""
        conn = dbapi_connection
        toggle = not conn.autocommit and conn.transaction_status == "idle"
        if toggle:
            conn.autocommit = True
        try:
            cur = conn.cursor()
            try:
                cur.execute(sql)
                return list(cur.fetchall()) if cur.description is not None else []
            finally:
                cur.close()
        finally:
            if toggle and not conn.closed:
                conn.autocommit = False

    # -- execution --

    def do_executemany(
        self,
        cursor: DBAPICursor,
        statement: str,
        parameters: Any,
        context: Optional[ExecutionContext] = None,
    ) -> None:
        """The driver's executemany: every parameter set in one round trip (one implicit
        transaction); its rowcount is the total."""
        cursor.executemany(statement, parameters)

    # -- isolation levels and session characteristics --

    def get_isolation_level_values(self, dbapi_connection: DBAPIConnection) -> list[IsolationLevel]:
        return cast("list[IsolationLevel]", ["AUTOCOMMIT", *_ISOLATION_LEVELS])

    def detect_autocommit_setting(self, dbapi_connection: DBAPIConnection) -> bool:
        return bool(cast("Any", dbapi_connection).autocommit)

    def set_isolation_level(self, dbapi_connection: DBAPIConnection, level: IsolationLevel) -> None:
        conn = cast("Any", dbapi_connection)
        name = str(level).replace("_", " ").upper()
        if name == "AUTOCOMMIT":
            conn.autocommit = True
            return
        if name not in _ISOLATION_LEVELS:
            raise exc.ArgumentError("unknown isolation level %r" % (level,))
        conn.autocommit = False
        self._run_outside_transaction(
            conn, "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL " + name
        )

    def get_isolation_level(self, dbapi_connection: DBAPIConnection) -> IsolationLevel:
        rows = self._run_outside_transaction(dbapi_connection, "SHOW transaction_isolation")
        return cast("IsolationLevel", str(rows[0][0]).upper())

    def _session_flag(self, dbapi_connection: Any, name: str) -> bool:
        rows = self._run_outside_transaction(dbapi_connection, "SHOW " + name)
        return bool(rows[0][0] == "on")

    def set_readonly(self, connection: Any, value: bool) -> None:
        self._run_outside_transaction(
            connection,
            "SET SESSION CHARACTERISTICS AS TRANSACTION "
            + ("READ ONLY" if value else "READ WRITE"),
        )

    def get_readonly(self, connection: Any) -> bool:
        return self._session_flag(connection, "transaction_read_only")

    def set_deferrable(self, connection: Any, value: bool) -> None:
        self._run_outside_transaction(
            connection,
            "SET SESSION CHARACTERISTICS AS TRANSACTION "
            + ("DEFERRABLE" if value else "NOT DEFERRABLE"),
        )

    def get_deferrable(self, connection: Any) -> bool:
        return self._session_flag(connection, "transaction_deferrable")

    # -- two-phase commit: COMMIT/ROLLBACK PREPARED cannot run inside a transaction --

    def _finish_prepared(self, connection: Connection, verb: str, xid: Any, recover: bool) -> None:
        dbapi_conn = cast("Any", connection.connection.dbapi_connection)
        if recover or dbapi_conn.transaction_status != "idle":
            dbapi_conn.rollback()
        self._run_outside_transaction(
            dbapi_conn, "%s PREPARED '%s'" % (verb, str(xid).replace("'", "''"))
        )

    def do_commit_twophase(
        self, connection: Connection, xid: Any, is_prepared: bool = True, recover: bool = False
    ) -> None:
        if is_prepared:
            self._finish_prepared(connection, "COMMIT", xid, recover)
        else:
            self.do_commit(connection.connection)  # type: ignore[no-untyped-call]

    def do_rollback_twophase(
        self, connection: Connection, xid: Any, is_prepared: bool = True, recover: bool = False
    ) -> None:
        if is_prepared:
            self._finish_prepared(connection, "ROLLBACK", xid, recover)
        else:
            self.do_rollback(connection.connection)  # type: ignore[no-untyped-call]


# -- asyncio: the async driver adapted to PEP 249 with SQLAlchemy's greenlet bridge --


class AsyncAdapt_wasmpg_cursor:
    """A client-side cursor: execute() reads the whole result (the driver has it in memory
    anyway), so the fetch methods need no awaiting."""

    server_side = False
    __slots__ = ("_adapt_connection", "_cursor", "_rows", "await_")

    def __init__(self, adapt_connection: AsyncAdapt_wasmpg_connection) -> None:
        self._adapt_connection = adapt_connection
        self.await_ = adapt_connection.await_
        self._cursor: Any = adapt_connection._driver.cursor()
        self._rows: deque[Any] = deque()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return int(self._cursor.rowcount)

    @property
    def arraysize(self) -> int:
        return int(self._cursor.arraysize)

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    @property
    def lastrowid(self) -> Any:
        return self._cursor.lastrowid

    async def _execute(self, operation: str, parameters: Any) -> None:
        await self._cursor.execute(operation, parameters)
        self._rows = deque(await self._cursor.fetchall()) if self._cursor.description else deque()

    def execute(self, operation: str, parameters: Any = None) -> None:
        self.await_(self._execute(operation, parameters))

    def executemany(self, operation: str, seq_of_parameters: Any) -> None:
        self._rows = deque()
        self.await_(self._cursor.executemany(operation, seq_of_parameters))

    def setinputsizes(self, *inputsizes: Any) -> None:
        pass

    def close(self) -> None:
        self._rows.clear()

    async def _async_soft_close(self) -> None:
        """SQLAlchemy's asyncio extension calls this before leaving the greenlet: the rows
        are all here already."""

    def fetchone(self) -> Any:
        return self._rows.popleft() if self._rows else None

    def fetchmany(self, size: Optional[int] = None) -> list[Any]:
        if size is None:
            size = self.arraysize
        rows = self._rows
        return [rows.popleft() for _ in range(min(size, len(rows)))]

    def fetchall(self) -> list[Any]:
        out = list(self._rows)
        self._rows.clear()
        return out

    def __iter__(self) -> Iterator[Any]:
        while self._rows:
            yield self._rows.popleft()


class AsyncAdapt_wasmpg_ss_cursor:
    """A server-side cursor (DECLARE/FETCH): every fetch awaits a FETCH."""

    server_side = True
    __slots__ = ("_cursor", "await_")

    def __init__(self, adapt_connection: AsyncAdapt_wasmpg_connection, cursor: Any) -> None:
        self.await_ = adapt_connection.await_
        self._cursor = cursor

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return int(self._cursor.rowcount)

    @property
    def arraysize(self) -> int:
        return int(self._cursor.arraysize)

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    @property
    def lastrowid(self) -> Any:
        return None

    def execute(self, operation: str, parameters: Any = None) -> None:
        self.await_(self._cursor.execute(operation, parameters))

    def executemany(self, operation: str, seq_of_parameters: Any) -> None:
        self.await_(self._cursor.executemany(operation, seq_of_parameters))

    def setinputsizes(self, *inputsizes: Any) -> None:
        pass

    def close(self) -> None:
        self.await_(self._cursor.close())

    async def _async_soft_close(self) -> None:
        pass

    def fetchone(self) -> Any:
        return self.await_(self._cursor.fetchone())

    def fetchmany(self, size: Optional[int] = None) -> Any:
        return self.await_(self._cursor.fetchmany(size))

    def fetchall(self) -> Any:
        return self.await_(self._cursor.fetchall())

    def __iter__(self) -> Iterator[Any]:
        while True:
            rows = self.fetchmany(self._cursor.itersize)
            if not rows:
                return
            yield from rows


class AsyncAdapt_wasmpg_connection(AdaptedConnection):
    """`wasmpg.AsyncConnection` with PEP 249's synchronous methods, each awaiting the driver
    through SQLAlchemy's greenlet bridge (``await_only``)."""

    __slots__ = ()
    await_ = staticmethod(await_only)

    def __init__(self, connection: wasmpg.AsyncConnection) -> None:
        self._connection = cast("Any", connection)

    @property
    def _driver(self) -> wasmpg.AsyncConnection:
        return cast("wasmpg.AsyncConnection", self._connection)

    def cursor(
        self, name: Optional[str] = None, *, withhold: bool = False
    ) -> Union[AsyncAdapt_wasmpg_cursor, AsyncAdapt_wasmpg_ss_cursor]:
        if name is not None:
            return AsyncAdapt_wasmpg_ss_cursor(self, self._driver.cursor(name, withhold=withhold))
        return AsyncAdapt_wasmpg_cursor(self)

    def commit(self) -> None:
        self.await_(self._driver.commit())

    def rollback(self) -> None:
        self.await_(self._driver.rollback())

    def close(self) -> None:
        self.await_(self._driver.close())

    def terminate(self) -> None:
        self._driver.terminate()

    @property
    def autocommit(self) -> bool:
        return self._driver.autocommit

    @autocommit.setter
    def autocommit(self, value: bool) -> None:
        self._driver.autocommit = value  # waits for nothing

    @property
    def closed(self) -> bool:
        return self._driver.closed

    @property
    def transaction_status(self) -> str:
        return self._driver.transaction_status

    @property
    def server_version(self) -> int:
        return self._driver.server_version

    @property
    def parameters(self) -> dict[str, str]:
        return self._driver.parameters

    @property
    def backend_pid(self) -> Optional[int]:
        return self._driver.backend_pid

    def get_parameter_status(self, name: str) -> Optional[str]:
        return self._driver.get_parameter_status(name)

    def add_notice_handler(self, handler: Callable[[wasmpg.Diagnostic], None]) -> None:
        self._driver.add_notice_handler(handler)


class _AsyncDBAPI(types.ModuleType):
    """The DB-API module of the async dialect: wasmpg's names, with a ``connect`` that opens an
    `wasmpg.AsyncConnection` (or calls ``create_async_engine``'s ``async_creator``) and
    adapts it."""

    def __init__(self) -> None:
        super().__init__("wasmpg_sqlalchemy_async_dbapi")
        for name, value in vars(wasmpg).items():
            if not name.startswith("__") and name != "connect":
                setattr(self, name, value)
        self.__version__ = wasmpg.__version__

    def connect(self, *args: Any, **kwargs: Any) -> AsyncAdapt_wasmpg_connection:
        creator = kwargs.pop("async_creator_fn", None) or wasmpg.AsyncConnection.connect
        return AsyncAdapt_wasmpg_connection(await_only(creator(*args, **kwargs)))


class WasmpgAsyncDialect(WasmpgDialect):
    """``postgresql+wasmpg_async://``: the same dialect on `wasmpg.AsyncConnection`, for
    ``create_async_engine``."""

    driver = "wasmpg_async"
    is_async = True
    has_terminate = True
    supports_statement_cache = True

    @classmethod
    def import_dbapi(cls) -> DBAPIModule:
        return cast("DBAPIModule", _AsyncDBAPI())

    @classmethod
    def get_pool_class(cls, url: URL) -> type[Pool]:
        return pool.AsyncAdaptedQueuePool

    def get_driver_connection(self, connection: DBAPIConnection) -> Any:
        return cast("AsyncAdapt_wasmpg_connection", connection)._driver

    def do_terminate(self, dbapi_connection: DBAPIConnection) -> None:
        cast("AsyncAdapt_wasmpg_connection", dbapi_connection).terminate()


dialect = WasmpgDialect
dialect_async = WasmpgAsyncDialect
