"""Cursors (PEP 249).

``conn.cursor()`` is a client-side cursor: ``execute`` reads the whole result before it
returns, so ``rowcount`` is known at once (psycopg's default). Rows stay in the compact batch
strings the guest produced and are converted to tuples one batch at a time as they are fetched.

``conn.cursor(name="...")`` is a streaming cursor, the counterpart of psycopg's server-side
cursors: ``execute`` returns as soon as the first rows (or the end) arrive, and ``fetch*`` read
more from the socket only when the rows already received are used up. The server then waits on
TCP backpressure, so memory stays bounded whatever the result's size. ``rowcount`` is -1 until
the last row has been read. The result streams on the connection itself (no DECLARE/FETCH): any
other statement on the connection, ``commit`` and ``rollback`` first read and discard what is
left of it, and a later fetch on the streaming cursor then raises ProgrammingError.

Results of several statements (``execute("select 1; select 2")``, without parameters) are
reached with ``nextset()``, as in psycopg 3; ``executemany`` discards row results.

COPY goes through ``cursor.copy()`` (`wasmpg._copy`); ``execute`` of a COPY FROM STDIN or TO
STDOUT raises NotSupportedError, as psycopg does (FROM STDIN is aborted, TO STDOUT's data is
dropped; the connection stays usable).
"""

from __future__ import annotations

import re
from collections import deque, namedtuple
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Callable, Generic, Optional, TypeVar

from . import _abi as A
from . import _copy, _sql, types
from ._abi import unescape_data
from ._literal import literal
from ._session import Sink, Steps, drive
from .errors import DataError, Error, InterfaceError, NotSupportedError, ProgrammingError
from .types import AdaptersMap, oids

if TYPE_CHECKING:  # pragma: no cover
    from ._abi import ColumnInfo
    from ._session import Session
    from .connection import BaseConnection, Connection  # noqa: F401 - in a string

Row = tuple[Any, ...]

# The connection class a cursor belongs to (sync or async).
C = TypeVar("C", bound="BaseConnection")

__all__ = ["BaseCursor", "Cursor", "ClientCursor", "ClientBinding", "Column"]

_NUL = "\x00"
_FS = "\x1f"
_RS = "\x1e"
_ESC = re.compile("[\x00\x1b\x1d\x1e\x1f]")


class Column(
    namedtuple("Column", "name type_code display_size internal_size precision scale null_ok")
):
    """One entry of ``cursor.description`` (a 7-item sequence, PEP 249). ``type_code`` is the
    type OID; ``table_oid`` and ``table_column`` say where the column comes from (0 if
    computed)."""

    table_oid: int = 0
    table_column: int = 0


def _describe(col: ColumnInfo) -> Column:
    name, oid, typmod, table_oid, column_id, size = col
    display = precision = scale = None
    if oid in (oids.VARCHAR, oids.BPCHAR) and typmod >= 4:
        display = typmod - 4
    elif oid == oids.NUMERIC and typmod >= 4:
        precision = ((typmod - 4) >> 16) & 0xFFFF
        scale = (typmod - 4) & 0xFFFF
    c = Column(name, oid, display, size, precision, scale, None)
    c.table_oid = table_oid
    c.table_column = column_id
    return c


# -- rows: one generated batch converter per result shape --


class _Shape:
    """What a result's columns imply, computed once per distinct RowDescription: the
    description, the careful loaders, and generated converters for whole batches and for a
    batch of one row."""

    __slots__ = ("description", "loaders", "fast_loaders", "convert", "_one", "_convert_no_nulls")

    def __init__(self, columns: list[ColumnInfo], adapters: AdaptersMap) -> None:
        self.description = tuple(_describe(c) for c in columns)
        self.loaders = tuple(adapters.loader_for(c[1]) for c in columns)
        self.fast_loaders = tuple(adapters.fast_loader_for(c[1]) for c in columns)
        self.convert = _batch_converter(self.fast_loaders)
        self._one: Optional[Callable[[str], Row]] = None
        self._convert_no_nulls: Optional[Callable[[list[str]], list[Row]]] = None

    def one(self) -> Callable[[str], Row]:
        """The converter of a batch's only row, made when first needed."""
        one = self._one
        if one is None:
            one = self._one = _row_converter(self.fast_loaders)
        return one

    def convert_no_nulls(self) -> Callable[[list[str]], list[Row]]:
        """The converter of batches without any NULL (no test per value), made when first
        needed."""
        convert = self._convert_no_nulls
        if convert is None:
            convert = self._convert_no_nulls = _batch_converter(self.fast_loaders, nulls=False)
        return convert


_shapes: dict[tuple[int, tuple[ColumnInfo, ...]], _Shape] = {}
# The last shape made or found, by the identity of its column list and the adapters' version
# (unique per registration state): a statement run again gets the same list from `_abi`'s
# cache, which is never modified, and the reference held here keeps its identity unique.
_last_shape: tuple[Any, int, Optional[_Shape]] = (None, 0, None)


def _shape(columns: list[ColumnInfo], adapters: AdaptersMap) -> _Shape:
    global _last_shape
    last_columns, last_version, last = _last_shape
    if columns is last_columns and adapters.version == last_version and last is not None:
        return last
    key = (adapters.version, tuple(columns))
    shape = _shapes.get(key)
    if shape is None:
        shape = _Shape(columns, adapters)
        if len(_shapes) >= 1024:
            _shapes.clear()
        _shapes[key] = shape
    _last_shape = (columns, adapters.version, shape)
    return shape


def _row_exprs(loaders: tuple[Any, ...], nulls: bool, env: dict[str, Any]) -> tuple[str, str]:
    """The generated converters' common part: the unpacking targets of a row's fields
    (``v0, v1, _``: the text after the last terminator is empty) and the row tuple's
    expressions, with the loaders put in ``env``."""
    exprs = []
    for i, loader in enumerate(loaders):
        if loader is None:
            exprs.append("None if v%d == %r else v%d" % (i, _NUL, i) if nulls else "v%d" % i)
        else:
            env["L%d" % i] = loader
            if nulls:
                exprs.append("None if v%d == %r else L%d(v%d)" % (i, _NUL, i, i))
            else:
                exprs.append("L%d(v%d)" % (i, i))
    targets = "".join("v%d, " % i for i in range(len(loaders))) + "_"
    return targets, "(%s)" % "".join(e + ", " for e in exprs)


def _compile(src: str, env: dict[str, Any], name: str) -> Any:
    exec(compile(src, "<wasmpg row converter>", "exec"), env)  # noqa: S102 - built from constants
    return env[name]


def _batch_converter(
    loaders: tuple[Any, ...], nulls: bool = True
) -> Callable[[list[str]], list[Row]]:
    """``convert(rows) -> [tuple]`` for the rows of one batch (each row's fields end with
    U+001F; NULL is U+0000). Generated code: one comprehension, no call per row. With
    ``nulls`` False, for batches known to hold no NULL, the values are not tested for it."""
    env: dict[str, Any] = {}
    targets, row = _row_exprs(loaders, nulls, env)
    src = "def convert(rows):\n    return [%s for r in rows for %s in [r.split(%r)]]\n" % (
        row,
        targets,
        _FS,
    )
    convert: Callable[[list[str]], list[Row]] = _compile(src, env, "convert")
    return convert


def _row_converter(loaders: tuple[Any, ...]) -> Callable[[str], Row]:
    """``one(row) -> tuple`` for one row (its fields, without the row separator): a batch of
    one row, the most common (a fetch by key), without a comprehension's call and list."""
    env: dict[str, Any] = {}
    targets, row = _row_exprs(loaders, True, env)
    src = "def one(r):\n    %s = r.split(%r)\n    return %s\n" % (targets, _FS, row)
    one: Callable[[str], Row] = _compile(src, env, "one")
    return one


class _Result:
    """One result set: its columns, the batches not yet converted, the current rows."""

    __slots__ = (
        "columns",
        "description",
        "shape",
        "batches",
        "rows",
        "pos",
        "tag",
        "count",
        "done",
        "fetched",
    )

    def __init__(
        self, columns: Optional[list[ColumnInfo]], adapters: AdaptersMap = types.adapters
    ) -> None:
        self.columns = columns
        self.shape: Optional[_Shape] = None
        self.description: Optional[tuple[Column, ...]] = None
        if columns is not None:
            self.shape = _shape(columns, adapters)
            self.description = self.shape.description
        self.batches: deque[tuple[int, bool, str]] = deque()
        self.rows: list[Row] = []
        self.pos = 0
        self.tag: Optional[str] = None
        self.count: Optional[int] = None
        self.done = False
        self.fetched = 0

    def convert(self, batch: tuple[int, bool, str]) -> list[Row]:
        count, escaped, data = batch
        shape = self.shape
        assert shape is not None
        if count == 1 and not escaped:
            try:
                return [(shape._one or shape.one())(data[:-1])]
            except (ValueError, ArithmeticError, TypeError, KeyError):
                pass  # the careful path below
        rows = data.split(_RS)
        rows.pop()  # the text after the last row separator is empty
        if not escaped and count != 1:
            # An unescaped batch holds U+0000 only as the NULL marker.
            if _NUL in data:
                convert = shape.convert
            else:
                convert = shape._convert_no_nulls or shape.convert_no_nulls()
            try:
                return convert(rows)
            except (ValueError, ArithmeticError, TypeError, KeyError):
                pass  # a value the fast loaders do not take: the careful path below
        try:
            return self._careful(rows, escaped, shape.loaders)
        except Error:
            raise
        except (ValueError, TypeError, ArithmeticError, LookupError) as e:
            raise DataError("cannot convert a value of the result: %s" % e) from None

    @staticmethod
    def _careful(rows: list[str], escaped: bool, loaders: tuple[Any, ...]) -> list[Row]:
        out = []
        for r in rows:
            fields = r.split(_FS)
            if len(fields) != len(loaders) + 1:
                raise DataError(
                    "a result row has %d fields, not %d" % (len(fields) - 1, len(loaders))
                )
            row: list[Any] = []
            for value, loader in zip(fields, loaders):
                if value == _NUL:
                    row.append(None)
                    continue
                if escaped and "\x1b" in value:
                    value = unescape_data(value)
                row.append(value if loader is None else loader(value))
            out.append(tuple(row))
        return out


class _Collector(Sink):
    """The sink of a cursor's request: result sets in order."""

    def __init__(self, adapters: AdaptersMap = types.adapters) -> None:
        self.adapters = adapters
        self.results: list[_Result] = []
        # The result whose columns came last while it has not completed: rows and the
        # completion that follow are its.
        self.current: Optional[_Result] = None
        self.error: Optional[Error] = None
        self.pending = 0  # batches received and not yet taken by the cursor

    def _open(self) -> _Result:
        """A new result without columns: for rows or a completion when no current result
        awaits them (a statement without a row description)."""
        r = _Result(None)
        self.results.append(r)
        return r

    def columns(self, cols: list[ColumnInfo]) -> None:
        r = self.current = _Result(cols, self.adapters)
        self.results.append(r)

    def rows(self, batch: tuple[int, bool, str]) -> None:
        r = self.current
        if r is None or r.done:
            r = self._open()
        r.batches.append(batch)
        self.pending += 1

    def complete(self, tag: str, rows: Optional[int]) -> None:
        r = self.current
        if r is None or r.done:
            r = self._open()
        r.tag = tag
        r.count = rows
        r.done = True
        self.current = None

    def empty(self) -> None:
        self._open().done = True

    def has_rows(self) -> bool:
        return self.pending > 0


def _merge_oid(a: Optional[int], b: int, column: int) -> int:
    """The type declared for a parameter column whose rows have types a and b."""
    if a is None or a == b:
        return b
    rank = {oids.INT4: 0, oids.INT8: 1, oids.NUMERIC: 2}
    if a in rank and b in rank:
        return a if rank[a] > rank[b] else b
    numeric = {oids.INT4, oids.INT8, oids.NUMERIC, oids.FLOAT8}
    if a in numeric and b in numeric:
        return oids.NUMERIC
    # The guest rewrites only bytea, interval and array values; others pass unchanged, so
    # their column can be declared unknown and left to the server.
    special = (oids.BYTEA, oids.INTERVAL)
    if a in special or b in special or a in oids.ARRAY_ELEMENT or b in oids.ARRAY_ELEMENT:
        raise ProgrammingError(
            "parameter $%d has values of different types (oids %d and %d) across rows"
            % (column + 1, a, b)
        )
    return 0


def adapt_rows(
    rows: Sequence[Sequence[Any]], adapters: AdaptersMap = types.adapters
) -> tuple[list[int], str]:
    """Parameter rows -> (declared type per column, the row-batch string), each value adapted
    by ``adapters``. Written for its cost (execute's one row runs it every round trip): the
    adapters' resolved dumpers are looked up here, not through `AdaptersMap.dump`, and a
    field is escaped inline."""
    if not rows:
        return [], ""
    resolved = adapters._resolved
    width = len(rows[0])
    declared: list[Any] = [None] * width
    parts = []
    for values in rows:
        if len(values) != width:
            raise ProgrammingError("every parameter row must have the same number of values")
        i = 0
        for value in values:
            fn = resolved.get(type(value))
            oid, text = adapters.dump(value) if fn is None else fn(value)
            if text is None:
                parts.append("\x00\x1f")  # NULL
            else:
                current = declared[i]
                if current != oid:
                    declared[i] = oid if current is None else _merge_oid(current, oid, i)
                # Letters and digits only (most numbers, names): nothing to escape, without
                # the search.
                if not text.isalnum() and _ESC.search(text):
                    text = A.escape(text)
                parts.append(text + _FS)
            i += 1
        parts.append(_RS)
    if None in declared:  # a column of NULLs only: its type is left to the server
        declared = [0 if t is None else t for t in declared]
    return declared, "".join(parts)


def _copy_refused() -> NotSupportedError:
    """A COPY ran through execute(): its FROM STDIN was aborted (the session's loop sends
    CopyFail), its TO STDOUT data dropped; the caller reads the rest of the request first."""
    return NotSupportedError("COPY cannot be used with execute(); use cursor.copy()")


# A request, prepared before any I/O: (sql, None) for the simple query protocol, or
# (sql, (declared types, parameter rows)) for the extended one.
Request = tuple[str, Optional[tuple[list[int], str]]]


def _execute_request(query: str, params: Any, adapters: AdaptersMap = types.adapters) -> Request:
    if not isinstance(query, str):
        raise ProgrammingError("the query must be a str, got %s" % type(query).__name__)
    if params is None:
        return (query, None)
    sql, spec = _sql.convert(query)
    kind = type(params)
    if (kind is tuple or kind is list) and len(params) == spec:
        values = params  # `_sql.bind`'s common case, without its call
    else:
        values = _sql.bind(spec, params)
    if values:
        return (sql, adapt_rows([values], adapters))
    return (sql, ([], ""))


def _parameter_sets(params_seq: Any) -> Any:
    """executemany()'s parameter sets, checked to be an iterable (of sets, not a string)."""
    if isinstance(params_seq, (str, bytes)) or not hasattr(params_seq, "__iter__"):
        raise ProgrammingError(
            "executemany needs a sequence (or iterable) of parameter sets, not %s"
            % type(params_seq).__name__
        )
    return params_seq


def _executemany_request(
    query: str, params_seq: Any, adapters: AdaptersMap = types.adapters
) -> Optional[Request]:
    """The request of an executemany; None when there is no parameter set."""
    if not isinstance(query, str):
        raise ProgrammingError("the query must be a str, got %s" % type(query).__name__)
    sql, spec = _sql.convert(query)
    rows = [_sql.bind(spec, p) for p in _parameter_sets(params_seq)]
    if not rows:
        return None
    if spec == 0:
        return (sql, ([], _RS * len(rows)))  # zero-column rows: one execution each
    return (sql, adapt_rows(rows, adapters))


def request_text(request: Request) -> str:
    """A prepared request in the guest's request layout (`_abi`)."""
    sql, bound = request
    if bound is None:
        return A.req_simple_query(sql)
    return A.req_query(bound[0], bound[1], sql)


def request_steps(session: Session, request: Request, sink: Sink, stream: bool) -> Steps[None]:
    """The session's steps for a prepared request (the asynchronous driver's)."""
    return session.request_steps(request_text(request), sink, stream)


_PROC_NAME = re.compile(
    r'^(?:[A-Za-z_][\w$]*|"(?:[^"]|"")+")(?:\.(?:[A-Za-z_][\w$]*|"(?:[^"]|"")+"))*$'
)


class BaseCursor(Generic[C]):
    """What the sync `Cursor` and `wasmpg.AsyncCursor` share: the state of the results and
    everything that needs no I/O. The subclasses add the methods that wait for the server."""

    def __init__(self, connection: C, name: Optional[str] = None) -> None:
        self._conn: Optional[C] = connection
        self.name = name
        self.arraysize = 1
        self.itersize = 2000
        self._stream = False  # the request in progress is streamed (stream())
        self._sink: Optional[_Collector] = None
        self._results: list[_Result] = []
        self._index = 0
        self._res: Optional[_Result] = None
        self._discarded = False
        self.description: Optional[tuple[Column, ...]] = None
        self.rowcount = -1
        self.rownumber: Optional[int] = None
        self.statusmessage: Optional[str] = None
        self.query: Optional[str] = None
        self.lastrowid = None
        self.closed = False
        self._adapters: Optional[AdaptersMap] = None

    # -- PEP 249 attributes --

    @property
    def connection(self) -> C:
        if self._conn is None:
            raise InterfaceError("the cursor is closed")
        return self._conn

    def setinputsizes(self, sizes: Any) -> None:
        """Does nothing (PEP 249 allows it): parameter types come from the values."""

    def setoutputsize(self, size: Any, column: Any = None) -> None:
        """Does nothing (PEP 249 allows it)."""

    # -- execution --

    def _check(self) -> C:
        conn = self._conn
        if self.closed or conn is None:
            raise InterfaceError("the cursor is closed")
        if conn._closed or conn._session.closed:  # `conn.closed`, without the property's call
            raise InterfaceError("the connection is closed")
        return conn

    def _reset(self) -> None:
        self._sink = None
        self._results = []
        self._index = 0
        self._res = None
        self._discarded = False
        self.description = None
        self.rowcount = -1
        self.rownumber = None
        self.statusmessage = None

    @property
    def adapters(self) -> AdaptersMap:
        """This cursor's adapters (psycopg 3's): a copy of the connection's, made on first
        use; a registration here changes only this cursor."""
        if self._adapters is None:
            self._adapters = AdaptersMap(self._map())
        return self._adapters

    def _map(self) -> AdaptersMap:
        """The adapters in effect: the cursor's, else the connection's, else the process's."""
        if self._adapters is not None:
            return self._adapters
        conn = self._conn
        if conn is not None and conn._adapters is not None:
            return conn._adapters
        return types.adapters

    def _request(self, query: str, params: Any) -> Request:
        """execute()'s request: parameters bound server-side (`ClientCursor` merges them)."""
        return _execute_request(query, params, self._map())

    def _many_request(self, query: str, params_seq: Any) -> Optional[Request]:
        return _executemany_request(query, params_seq, self._map())

    def _sent(self, query: str, request: Request) -> str:
        """What ``query`` shows after execute(): the query as given (`ClientCursor`: as sent)."""
        return query

    def _start(self, query: str) -> _Collector:
        """Before a request: the state reset, its sink made current."""
        self._reset()
        self.query = query
        sink = _Collector(self._map())
        self._sink = sink
        return sink

    def _after_execute(self, sink: _Collector) -> None:
        """After a request of execute() ran (or, streaming, started)."""
        if self._stream:
            conn = self._conn
            assert conn is not None
            if conn._session.busy():
                conn._streaming = self
        self._results = sink.results
        if sink.error is not None and not self._results_pending():
            self._streaming_done()
            raise sink.error
        self._select(0)

    def _after_many(self, sink: _Collector) -> None:
        if sink.error is not None:
            raise sink.error
        total = 0
        for r in sink.results:
            if r.count is None:
                total = -1
                break
            total += r.count
        self.rowcount = total
        self.statusmessage = sink.results[-1].tag if sink.results else None

    def _results_pending(self) -> bool:
        conn = self._conn
        return conn is not None and conn._streaming is self

    def _streaming_done(self) -> None:
        conn = self._conn
        if conn is not None and conn._streaming is self:
            conn._streaming = None

    def _select(self, index: int) -> None:
        self._index = index
        results = self._results
        res = results[index] if index < len(results) else None
        self._res = res
        if res is None:
            self.description = None
            self.rowcount = -1
            self.rownumber = None
            return
        self.description = res.description
        self.rownumber = 0 if res.description is not None else None
        self._update_count()

    def _update_count(self) -> None:
        res = self._res
        if res is None:
            return
        if res.done:
            self.rowcount = -1 if res.count is None else res.count
            self.statusmessage = res.tag
        else:
            self.rowcount = -1

    def _next_set(self) -> bool:
        """nextset()'s move without I/O: skips the rest of the current result; True if the
        next result set is already here (selected), False if more must be read."""
        res = self._res
        if res is not None and res.batches:
            if self._sink is not None:
                self._sink.pending -= len(res.batches)
            res.batches.clear()
        if res is not None:
            res.rows = []
            res.pos = 0
        if self._index + 1 < len(self._results):
            self._select(self._index + 1)
            return True
        return False

    # -- fetching --

    def _pump_needed(self) -> bool:
        """Streaming: whether the rest of the request must be read (a resume) before more
        rows can come; False when the request is complete."""
        conn = self._conn
        sink = self._sink
        if conn is None or sink is None:
            return False
        if self._discarded or sink.discarded:
            self._discarded = True
            raise ProgrammingError(
                "the rest of this streamed result was discarded: another statement ran on the "
                "connection before it was read to the end"
            )
        if conn._streaming is not self:
            return False
        if conn.closed:
            conn._streaming = None
            raise InterfaceError("the connection is closed")
        return True

    def _pumped(self) -> None:
        """After a resume: the end of a streamed request, and its error."""
        conn = self._conn
        sink = self._sink
        assert conn is not None and sink is not None
        if not conn._session.busy():
            conn._streaming = None
            if sink.error is not None:
                raise sink.error

    def _fill_now(self) -> Optional[bool]:
        """Makes sure the current result has an unread converted row from what was already
        received: True, False at its end, or None when more must be read (`_pump_needed`)."""
        if self._discarded:
            raise ProgrammingError(
                "the rest of this streamed result was discarded: another statement ran on the "
                "connection before it was read to the end"
            )
        res = self._res
        if res is None or res.description is None:
            raise ProgrammingError("no results to fetch: the last statement returned no rows")
        while res.pos >= len(res.rows):
            if res.batches:
                batch = res.batches.popleft()
                sink = self._sink
                if sink is not None:
                    sink.pending -= 1
                res.rows = res.convert(batch)
                res.pos = 0
                continue
            if res.done:
                self._update_count()
                return False
            return None
        return True

    def _ended(self) -> bool:
        """The request is complete while the current result had no end: it has none."""
        res = self._res
        assert res is not None
        res.done = True
        self._update_count()
        return False

    def _fetch_check(self) -> None:
        if self.closed or self._conn is None:
            raise InterfaceError("the cursor is closed")

    def _take_one(self) -> Row:
        res = self._res
        assert res is not None
        row = res.rows[res.pos]
        res.pos += 1
        res.fetched += 1
        self.rownumber = res.fetched
        return row

    def _take(self, out: list[Row], size: Optional[int]) -> None:
        """Moves up to ``size`` (None: all) of the converted rows to ``out``."""
        res = self._res
        assert res is not None
        if size is None:
            out.extend(res.rows[res.pos :] if res.pos else res.rows)
            take = len(res.rows) - res.pos
        else:
            take = min(size, len(res.rows) - res.pos)
            out.extend(res.rows[res.pos : res.pos + take])
        res.pos += take
        res.fetched += take

    def _fetch_size(self, size: Optional[int]) -> int:
        if size is None:
            return self.arraysize
        if not isinstance(size, int) or isinstance(size, bool):
            raise ProgrammingError("fetchmany size must be an integer, got %r" % (size,))
        return size

    def _set_rownumber(self) -> None:
        if self._res is not None and self._res.description is not None:
            self.rownumber = self._res.fetched

    def scroll(self, value: int, mode: str = "relative") -> None:
        """Moves within the rows converted so far (client-side only)."""
        self._fetch_check()
        res = self._res
        if res is None or res.description is None:
            raise ProgrammingError("no results to scroll")
        if mode not in ("relative", "absolute"):
            raise ProgrammingError("scroll mode must be 'relative' or 'absolute'")
        if not isinstance(value, int) or isinstance(value, bool):
            raise ProgrammingError("scroll value must be an integer, got %r" % (value,))
        target = res.fetched + value if mode == "relative" else value
        start = res.fetched - res.pos
        if not start <= target <= start + len(res.rows):
            raise IndexError("scroll target out of the rows held in memory")
        res.pos = target - start
        res.fetched = target
        self.rownumber = target

    def _closed_state(self) -> None:
        self.closed = True
        self._results = []
        self._res = None
        self._sink = None

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        kind = "server-side %r" % self.name if self.name is not None else "client-side"
        return "<wasmpg.%s %s %s>" % (type(self).__name__, kind, state)


def _proc_call(procname: str, params: Sequence[Any]) -> str:
    """callproc's statement: ``SELECT * FROM procname(%s, ...)``."""
    if not isinstance(procname, str) or not _PROC_NAME.match(procname):
        raise ProgrammingError("invalid procedure name %r" % (procname,))
    if isinstance(params, (str, bytes)) or not isinstance(params, Sequence):
        raise ProgrammingError("callproc parameters must be a sequence")
    placeholders = ", ".join(["%s"] * len(params))
    return "SELECT * FROM %s(%s)" % (procname, placeholders)


class Cursor(BaseCursor["Connection"]):
    """A PEP 249 cursor. Create it with ``Connection.cursor()``."""

    def execute(self, query: str, params: Any = None) -> Cursor:
        """Executes one query (without parameters: one or more statements).

        ``params``: a sequence for ``%s`` placeholders or a mapping for ``%(name)s``; the values
        are bound server-side, never interpolated. With ``params`` None the query is sent as
        is (``%`` needs no doubling) through the simple query protocol.
        """
        conn = self._check()
        request = self._request(query, params)
        with conn._lock:
            sink = self._start(self._sent(query, request))
            conn._before_statement(self)
            session = conn._session
            session.request(request_text(request), sink, self._stream)
            if sink.copied:
                drive(session.drain_steps(), session._io)
                raise _copy_refused()
            self._after_execute(sink)
        return self

    def executemany(self, query: str, params_seq: Any) -> Cursor:
        """Executes the query once per parameter set, all in ONE round trip: every execution
        is pipelined before a single Sync, so they form one implicit transaction (in
        autocommit mode too: one failure rolls all of them back). ``rowcount`` is the total;
        results of row-returning statements are discarded."""
        conn = self._check()
        request = self._many_request(query, params_seq)
        with conn._lock:
            sink = self._start(query)
            if request is None:
                self.rowcount = 0
                return self
            conn._before_statement(self)
            session = conn._session
            session.request(request_text(request), sink)
            if sink.copied:
                drive(session.drain_steps(), session._io)
                raise _copy_refused()
            self._after_many(sink)
        return self

    def copy(self, statement: str, params: Any = None) -> _copy.Copy:
        """Runs ``COPY ... FROM STDIN`` or ``COPY ... TO STDOUT`` and returns its
        :class:`~wasmpg.Copy`, a context manager (psycopg 3's ``cursor.copy()``)::

            with cur.copy("COPY t (a, b) FROM STDIN") as copy:
                copy.write_row((1, "x"))
            with cur.copy("COPY t TO STDOUT") as copy:
                for row in copy.rows():
                    ...

        ``params`` fill ``%s`` / ``%(name)s`` placeholders, merged into the statement
        client-side as quoted literals (COPY takes no bound parameters)."""
        return _copy.start(self, statement, params)

    def callproc(self, procname: str, params: Sequence[Any] = ()) -> Sequence[Any]:
        """Calls a function as ``SELECT * FROM procname(params...)``; returns ``params``
        unchanged (PostgreSQL functions have no OUT-parameter binding here)."""
        self.execute(_proc_call(procname, params), list(params))
        return params

    def nextset(self) -> Optional[bool]:
        """Moves to the next result set of a multi-statement query: True, or None when there
        is none. The rest of the current result set is skipped."""
        conn = self._check()
        with conn._lock:
            while not self._next_set():
                if not self._pump():
                    return None
            return True

    def stream(self, query: str, params: Any = None) -> Iterator[Row]:
        """Executes the query and yields its rows as they arrive (psycopg 3's ``stream()``):
        the socket is read only as fast as the rows are used, so memory stays bounded however
        large the result, with no transaction needed (a server-side cursor, ``cursor(name)``,
        needs one). The rows of the first result set are yielded. Any other statement on the
        connection first reads and discards the rest; the generator then raises
        ProgrammingError. ``rowcount`` is known once the last row was yielded."""
        self._stream = True
        try:
            self.execute(query, params)
        finally:
            self._stream = False
        while True:
            rows = self.fetchmany(self.itersize)
            if not rows:
                return
            yield from rows

    # -- fetching --

    def _pump(self) -> bool:
        """Streaming: reads more from the socket. False when the request is complete."""
        if not self._pump_needed():
            return False
        conn = self.connection
        sink = self._sink
        assert sink is not None
        conn._session.resume(sink)
        self._pumped()
        return True

    def _fill(self) -> bool:
        """Makes sure the current result has an unread converted row; False at its end."""
        while True:
            ready = self._fill_now()
            if ready is not None:
                return ready
            if not self._pump():
                return self._ended()

    def fetchone(self) -> Optional[Row]:
        """The next row, or None at the end."""
        conn = self._conn
        if self.closed or conn is None:  # `_fetch_check`, inline
            raise InterfaceError("the cursor is closed")
        with conn._lock:
            res = self._res
            # A converted row at hand (each but the first of a batch) needs no `_fill`.
            if res is None or res.pos >= len(res.rows) or self._discarded:
                if not self._fill():
                    return None
            return self._take_one()

    def fetchmany(self, size: Optional[int] = None) -> list[Row]:
        """Up to ``size`` rows (default ``arraysize``); an empty list at the end."""
        self._fetch_check()
        want = self._fetch_size(size)
        out: list[Row] = []
        with self.connection._lock:
            while len(out) < want and self._fill():
                self._take(out, want - len(out))
            self._set_rownumber()
        return out

    def fetchall(self) -> list[Row]:
        """Every remaining row."""
        self._fetch_check()
        out: list[Row] = []
        with self.connection._lock:
            while self._fill():
                self._take(out, None)
            if self._res is not None:
                self.rownumber = self._res.fetched
        return out

    def __iter__(self) -> Iterator[Row]:
        return self

    def __next__(self) -> Row:
        row = self.fetchone()
        if row is None:
            raise StopIteration
        return row

    # -- lifecycle --

    def close(self) -> None:
        """Closes the cursor; a streaming cursor discards the rest of its result."""
        if self.closed:
            return
        conn = self._conn
        if conn is not None and conn._streaming is self and not conn.closed:
            with conn._lock:
                try:
                    conn._session.drain()
                finally:
                    conn._streaming = None
        self._closed_state()

    def __enter__(self) -> Cursor:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.close()


class ClientBinding:
    """Client-side binding (psycopg 3's ``ClientCursor``), mixed into `ClientCursor` and
    ``AsyncClientCursor``: parameters are merged into the statement as quoted literals with
    casts (`mogrify`) and the statement goes through the simple query protocol. Use it for SQL
    whose parameter types the server cannot infer (``%s IS NULL``, ``concat(%s, ...)``,
    ``json_build_object(%s, ...)``) and for ``IN %s`` with a tuple (psycopg2's adaptation).
    ``executemany`` sends every statement in one simple query (one round trip, one implicit
    transaction), and ``query`` is the merged text."""

    def mogrify(self, query: str, params: Any = None) -> str:
        """The statement with the parameters merged in, as it would be sent."""
        if params is None:
            if not isinstance(query, str):
                raise ProgrammingError("the query must be a str, got %s" % type(query).__name__)
            return query
        adapters: AdaptersMap = self._map()  # type: ignore[attr-defined]
        return _sql.interpolate(query, params, lambda v: literal(v, adapters.dump))

    def _request(self, query: str, params: Any) -> Request:
        return (self.mogrify(query, params), None)

    def _sent(self, query: str, request: Request) -> str:
        return request[0]

    def _many_request(self, query: str, params_seq: Any) -> Optional[Request]:
        statements = [self.mogrify(query, p) for p in _parameter_sets(params_seq)]
        if not statements:
            return None
        return (";\n".join(statements), None)


class ClientCursor(ClientBinding, Cursor):
    """A `Cursor` with client-side binding (see `ClientBinding`)."""
