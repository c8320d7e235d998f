"""psycopg2's ``cursor`` on a wasmpg connection: psycopg2's client-side interpolation
(``mogrify``), results held client-side with psycopg2's typecasting, named cursors as
``DECLARE``/``FETCH`` on the server, and the COPY methods on top of wasmpg's ``cursor.copy()``.

Every statement goes to wasmpg fully merged, through the simple query protocol (as psycopg2's
``PQexec``): a query of several statements leaves the cursor on the last result, as in
psycopg2.
"""

from __future__ import annotations

import datetime as _dt
import io
import re
from collections import namedtuple
from collections.abc import Iterator, Mapping
from typing import Any, Optional

from ..cursor import Cursor as _WCursor
from ..errors import Error, InterfaceError, NotSupportedError, ProgrammingError
from ..types import oids
from . import _typecast
from ._adapt import quote_param

__all__ = ["cursor", "Column", "format_query"]


class Column(
    namedtuple("Column", "name type_code display_size internal_size precision scale null_ok")
):
    """One item of ``cursor.description`` (psycopg2 2.8's ``Column``: a 7-item sequence with
    attributes, plus ``table_oid`` and ``table_column``)."""

    table_oid: Optional[int] = None
    table_column: Optional[int] = None


def _column(col: Any) -> Column:
    """A wasmpg column as psycopg2 describes it: ``internal_size`` is the size on the server,
    or the type modifier of a variable-size type (varchar's length, numeric's precision);
    ``display_size`` is always None."""
    oid = col.type_code
    size = col.internal_size
    precision = scale = None
    if oid == oids.NUMERIC:
        if col.precision is None:
            precision = scale = 0xFFFF
            isize = -1
        else:
            precision, scale = col.precision, col.scale
            isize = precision
    elif size is None or size == -1:
        isize = col.display_size if col.display_size is not None else -1
    else:
        isize = size
    c = Column(col.name, oid, None, isize, precision, scale, None)
    c.table_oid = getattr(col, "table_oid", None) or None
    c.table_column = getattr(col, "table_column", None) or None
    return c


# wasmpg's description (one tuple per result shape, kept by wasmpg while the shape is in use)
# -> (that tuple, psycopg2's description, the type OIDs). Holding the tuple keeps its id unique.
_described: dict[int, tuple[Any, tuple[Column, ...], list[int]]] = {}


def _describe(desc: Any) -> tuple[Any, tuple[Column, ...], list[int]]:
    hit = _described.get(id(desc))
    if hit is None or hit[0] is not desc:
        hit = (desc, tuple(_column(c) for c in desc), [c.type_code for c in desc])
        if len(_described) >= 1024:
            _described.clear()
        _described[id(desc)] = hit
    return hit


def _as_text(query: Any, conn: Any) -> str:
    if isinstance(query, str):
        return query
    if isinstance(query, (bytes, bytearray)):
        return bytes(query).decode(conn._codec)
    as_string = getattr(query, "as_string", None)
    if as_string is not None:
        text = as_string(conn)
        return text if isinstance(text, str) else bytes(text).decode(conn._codec)
    raise TypeError("argument 1 must be a string or unicode object: got %s" % type(query).__name__)


def format_query(query: Any, vars: Any, conn: Any) -> str:
    """psycopg2's merge of a query and its parameters: with ``vars`` None the query is
    untouched; else each ``%s`` / ``%(name)s`` (anywhere, quotes included) is replaced by the
    parameter's quoted form and ``%%`` by ``%``."""
    text = query if type(query) is str else _as_text(query, conn)
    if vars is None or "%" not in text:
        return text
    cls = type(vars)
    if (cls is tuple or cls is list) and "%(" not in text and "%%" not in text:
        # The common case: only %s placeholders, one per parameter (anything else, errors
        # included, takes the general loop below).
        parts = text.split("%s")
        n = len(parts) - 1
        if n and n == len(vars) and text.count("%") == n:
            merged = [""] * (2 * n + 1)
            merged[0::2] = parts
            merged[1::2] = [quote_param(v, conn) for v in vars]
            return "".join(merged)
    out: list[str] = []
    pos = 0
    index = 0
    kind = 0  # 1: named, 2: positional
    named: dict[str, str] = {}
    found = False
    n = len(text)
    i = text.find("%")
    while i >= 0:
        out.append(text[pos:i])
        nxt = text[i + 1 : i + 2]
        if nxt == "%":
            out.append("%")
            pos = i + 2
            found = True
        elif nxt == "(":
            if kind == 2:
                raise ProgrammingError("argument formats can't be mixed")
            kind = 1
            end = text.find(")", i + 2)
            if end < 0:
                raise ProgrammingError("incomplete placeholder: '%(' without ')'")
            key = text[i + 2 : end]
            spec = text[end + 1 : end + 2]
            if spec != "s":
                if not spec:
                    raise ValueError("incomplete format")
                raise ValueError(
                    "unsupported format character '%s' (0x%x) at index %d"
                    % (spec, ord(spec), end + 1)
                )
            if key not in named:
                named[key] = quote_param(vars[key], conn)
            out.append(named[key])
            pos = end + 2
            found = True
        else:
            if kind == 1:
                raise ProgrammingError("argument formats can't be mixed")
            kind = 2
            if isinstance(vars, Mapping):
                raise TypeError("format requires a mapping")
            value = vars[index]
            if nxt != "s":
                if not nxt:
                    raise ValueError("incomplete format")
                raise ValueError(
                    "unsupported format character '%s' (0x%x) at index %d" % (nxt, ord(nxt), i + 1)
                )
            out.append(quote_param(value, conn))
            index += 1
            pos = i + 2
            found = True
        i = text.find("%", pos) if pos < n else -1
    if not found:
        return text
    if kind == 2 and index < len(vars):
        raise TypeError("not all arguments converted during string formatting")
    out.append(text[pos:])
    return "".join(out)


_COPY_IN = re.compile(r"\bFROM\s+STDIN\b", re.IGNORECASE)


class cursor:
    """psycopg2's cursor (``psycopg2.extensions.cursor``; subclassable, a ``cursor_factory``).

    Unnamed: ``execute`` merges the parameters client-side and reads the whole result, kept
    client-side (``scroll`` moves within it). Named (``conn.cursor("name")``): ``execute``
    DECLAREs a server-side cursor and the fetch methods FETCH from it (iteration ``itersize``
    rows at a time)."""

    def __init__(self, conn: Any, name: Optional[str] = None) -> None:
        if not hasattr(conn, "_w"):
            raise TypeError("the first argument must be a psycopg2 connection")
        if conn.closed:
            raise InterfaceError("connection already closed")
        self._conn = conn
        self.name = name
        self.scrollable: Optional[bool] = None
        self.withhold = False
        self.arraysize = 1
        self.itersize = 2000
        self.tzinfo_factory: Any = _dt.timezone
        self.row_factory: Any = None
        self.string_types: dict[int, Any] = _typecast.Casters()
        self.binary_types: dict[int, Any] = {}
        self._w: Optional[_WCursor] = None
        self._closed = False
        self._declared = False
        self._query: Optional[str] = None
        self.description: Optional[tuple[Column, ...]] = None
        self.rowcount = -1
        self.rownumber = 0
        self.statusmessage: Optional[str] = None
        self.lastrowid: Optional[int] = None
        self._rows: Optional[list[Any]] = None
        self._plan: _typecast.Plan = []
        self._ahead: list[Any] = []  # a named cursor's rows fetched by iteration
        self._ahead_pos = 0

    # -- attributes --

    @property
    def connection(self) -> Any:
        return self._conn

    @property
    def closed(self) -> bool:
        return self._closed or bool(self._conn.closed)

    @property
    def query(self) -> Optional[bytes]:
        """The last statement sent, as bytes (psycopg2's ``cursor.query``)."""
        return None if self._query is None else self._query.encode(self._conn._codec)

    @property
    def pgresult_ptr(self) -> None:
        return None

    def setinputsizes(self, sizes: Any) -> None:
        pass

    def setoutputsize(self, size: Any, column: Any = None) -> None:
        pass

    # -- execution --

    def _check(self) -> None:
        if self._closed:
            raise InterfaceError("cursor already closed")
        if self._conn.closed:
            raise InterfaceError("connection already closed")

    def _wcur(self) -> _WCursor:
        w = self._w
        if w is None or w.closed:
            w = self._w = self._conn._w.cursor()
        return w

    def mogrify(self, query: Any, vars: Any = None) -> bytes:
        """The query with the parameters merged in, as bytes, as ``execute`` would send it."""
        self._check()
        return format_query(query, vars, self._conn).encode(self._conn._codec)

    def _clear(self) -> None:
        self.description = None
        self.rowcount = -1
        self.rownumber = 0
        self.statusmessage = None
        self.lastrowid = None
        self._rows = None
        self._plan = []

    def _failed(self, e: Error) -> None:
        try:
            e.cursor = self  # type: ignore[attr-defined]
        except AttributeError:
            pass
        self._conn._after_statement()

    def _run(self, sql: str) -> _WCursor:
        """Sends one merged statement (BEGIN first if a transaction must start)."""
        conn = self._conn
        self._query = sql
        conn._begin_if_needed()
        w = self._wcur()
        try:
            w.execute(sql)
        except NotSupportedError:
            if re.search(r"^\s*COPY\b", sql, re.IGNORECASE):
                raise ProgrammingError(
                    "can't execute COPY: use the copy_from(), copy_to() or copy_expert() method"
                ) from None
            raise
        except Error as e:
            self._clear()
            self._failed(e)
            raise
        return w

    def execute(self, query: Any, vars: Any = None) -> None:
        """Executes a query, its ``%s`` / ``%(name)s`` placeholders merged client-side."""
        self._check()
        sql = format_query(query, vars, self._conn)
        if self.name is not None:
            self._declare(sql)
            return
        if not sql:
            raise ProgrammingError("can't execute an empty query")
        self._clear()
        w = self._run(sql)
        self._take_results(w, ";" in sql)
        self._conn._after_statement()

    def _take_results(self, w: _WCursor, several: bool) -> None:
        desc = w.description
        rows = w.fetchall() if desc is not None else None
        count, status = w.rowcount, w.statusmessage
        if several:
            while w.nextset():
                desc = w.description
                rows = w.fetchall() if desc is not None else None
                count, status = w.rowcount, w.statusmessage
        self._set_result(desc, rows, count, status)

    def _set_result(
        self, desc: Any, rows: Optional[list[Any]], count: int, status: Optional[str]
    ) -> None:
        self.statusmessage = status
        self.rownumber = 0
        if desc is None:
            self.description = None
            self._rows = None
            self._plan = []
        else:
            self._rows = rows if rows is not None else []
            self._take_description(desc)
        self.rowcount = count

    def _take_description(self, desc: Any) -> None:
        """psycopg2's description and the column plan for wasmpg's ``desc``: both made once
        per result shape (the plan per connection, see `_typecast.plan_for`)."""
        shape, self.description, type_codes = _describe(desc)
        self._plan = _typecast.plan_for(self, shape, type_codes)

    def executemany(self, query: Any, vars_list: Any) -> None:
        """Executes the query once per parameter set; ``rowcount`` is the total."""
        self._check()
        if self.name is not None:
            raise ProgrammingError("can't call .executemany() on named cursors")
        total = 0
        counted = True
        for params in vars_list:
            self.execute(query, params)
            if self.rowcount < 0:
                counted = False
            else:
                total += self.rowcount
        self._rows = None
        self.description = None
        self.rowcount = total if counted else -1

    def callproc(self, procname: str, parameters: Any = None) -> Any:
        """Calls a function: ``SELECT * FROM procname(...)``; a mapping passes named
        arguments (``name := value``). Returns the parameters."""
        self._check()
        if self.name is not None:
            raise ProgrammingError("can't call .callproc() on named cursors")
        if parameters is None:
            args = ""
        elif isinstance(parameters, Mapping):
            from ._dsn import quote_ident

            args = ", ".join(
                "%s := %s" % (quote_ident(k), quote_param(v, self._conn))
                for k, v in parameters.items()
            )
        else:
            args = ", ".join(quote_param(v, self._conn) for v in parameters)
        sql = "SELECT * FROM %s(%s)" % (procname, args)
        self._clear()
        w = self._run(sql)
        self._take_results(w, False)
        self._conn._after_statement()
        return parameters

    def nextset(self) -> None:
        raise NotSupportedError("not supported by PostgreSQL")

    def cast(self, oid: int, s: Optional[str]) -> Any:
        """The text ``s`` cast as a value of type ``oid`` in this cursor's scope."""
        return _typecast.cast_value(self, oid, s)

    # -- rows --

    def _make(self, row: tuple[Any, ...]) -> Any:
        """A finished row (typecasts applied) as returned: through ``row_factory``."""
        factory = self.row_factory
        if factory is None:
            return row
        out = factory(self)
        for i, v in enumerate(row):
            out[i] = v
        return out

    def _deliver(self, rows: list[Any]) -> list[Any]:
        """The rows of one fetch (a list of its own) as returned: typecasts finished, column
        by column over the whole fetch, then `_make` (skipped when it would do nothing)."""
        if self._plan:
            rows = _typecast.finish_rows(self, self._plan, rows)
        if self.row_factory is None and type(self)._make is cursor._make:
            return rows
        make = self._make
        return [make(r) for r in rows]

    def _plain(self) -> bool:
        return not self._plan and self.row_factory is None and type(self)._make is cursor._make

    def _buffered(self) -> list[Any]:
        rows = self._rows
        if rows is None:
            raise ProgrammingError("no results to fetch")
        return rows

    def fetchone(self) -> Any:
        """The next row, or None."""
        self._check()
        if self.name is not None:
            rows = self._fetch_named("FETCH FORWARD 1 FROM %s")
            return self._deliver(rows)[0] if rows else None
        rows = self._buffered()
        n = self.rownumber
        if n >= len(rows):
            return None
        self.rownumber = n + 1
        if self._plain():
            return rows[n]
        return self._deliver(rows[n : n + 1])[0]

    def fetchmany(self, size: Optional[int] = None) -> list[Any]:
        """Up to ``size`` rows (default ``arraysize``)."""
        self._check()
        if size is None:
            size = self.arraysize
        if self.name is not None:
            return self._deliver(self._fetch_named("FETCH FORWARD %d FROM %%s" % size))
        rows = self._buffered()
        start = self.rownumber
        chunk = rows[start : start + size]
        self.rownumber = start + len(chunk)
        return self._deliver(chunk)

    def fetchall(self) -> list[Any]:
        """Every remaining row."""
        self._check()
        if self.name is not None:
            return self._deliver(self._fetch_named("FETCH FORWARD ALL FROM %s"))
        rows = self._buffered()
        start = self.rownumber
        self.rownumber = len(rows)
        return self._deliver(rows[start:])

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        """The next row (a named cursor fetches ``itersize`` rows at a time)."""
        if self.name is None:
            row = self.fetchone()
            if row is None:
                raise StopIteration
            return row
        self._check()
        ahead = self._ahead
        if self._ahead_pos >= len(ahead):
            ahead = self._ahead = self._fetch_named("FETCH FORWARD %d FROM %%s" % self.itersize)
            self._ahead_pos = 0
            if not ahead:
                raise StopIteration
        row = ahead[self._ahead_pos]
        self._ahead_pos += 1
        return self._deliver([row])[0]

    def scroll(self, value: int, mode: str = "relative") -> None:
        """Moves within the result (a named cursor: ``MOVE`` on the server)."""
        self._check()
        if mode not in ("relative", "absolute"):
            raise ProgrammingError("scroll mode must be 'relative' or 'absolute'")
        if self.name is not None:
            if not self._declared:
                raise ProgrammingError("scroll() on a named cursor that was not executed")
            ident = self._ident()
            if mode == "absolute":
                self._named_statement("MOVE ABSOLUTE %d FROM %s" % (value, ident))
            else:
                self._named_statement("MOVE %d FROM %s" % (value, ident))
            return
        rows = self._buffered()
        target = value if mode == "absolute" else self.rownumber + value
        if target < 0 or target >= len(rows):
            raise IndexError("scroll destination out of bounds")
        self.rownumber = target

    # -- named cursors --

    def _ident(self) -> str:
        assert self.name is not None
        return '"' + self.name.replace('"', '""') + '"'

    def _declare(self, sql: str) -> None:
        if self._declared:
            raise ProgrammingError("can't call .execute() on named cursors more than once")
        scroll = {None: "", True: "SCROLL ", False: "NO SCROLL "}[self.scrollable]
        hold = "WITH HOLD " if self.withhold else "WITHOUT HOLD "
        statement = "DECLARE %s %sCURSOR %sFOR %s" % (self._ident(), scroll, hold, sql)
        self._clear()
        self._run(statement)
        self._declared = True
        self._conn._after_statement()

    def _named_statement(self, sql: str) -> _WCursor:
        w = self._run(sql)
        self._conn._after_statement()
        return w

    def _fetch_named(self, template: str) -> list[Any]:
        if not self._declared:
            raise ProgrammingError("no results to fetch")
        w = self._named_statement(template % self._ident())
        desc = w.description
        rows = w.fetchall() if desc is not None else []
        if desc is not None:
            self._take_description(desc)
        self.rowcount = len(rows)
        self.rownumber += len(rows)
        self.statusmessage = w.statusmessage
        return rows

    # -- COPY --

    def copy_expert(self, sql: Any, file: Any, size: int = 8192) -> None:
        """Runs a ``COPY ... FROM STDIN`` (reading ``file``) or ``COPY ... TO STDOUT``
        (writing to ``file``)."""
        self._check()
        statement = _as_text(sql, self._conn)
        if not statement:
            raise ProgrammingError("empty query")
        conn = self._conn
        self._clear()
        self._query = statement
        conn._begin_if_needed()
        w = self._wcur()
        try:
            with w.copy(statement) as copy:
                if copy.direction == "in":
                    read = getattr(file, "read", None)
                    if read is None:
                        raise TypeError("the file must have a read() method for COPY FROM")
                    while True:
                        data = read(size)
                        if not data:
                            break
                        copy.write(data)
                else:
                    write = getattr(file, "write", None)
                    if write is None:
                        raise TypeError("the file must have a write() method for COPY TO")
                    text = isinstance(file, io.TextIOBase)
                    for chunk in copy:
                        write(chunk.decode(conn._codec) if text else chunk)
        except Error as e:
            self._failed(e)
            raise
        self.rowcount = w.rowcount
        self.statusmessage = w.statusmessage
        conn._after_statement()

    def copy_from(
        self,
        file: Any,
        table: str,
        sep: str = "\t",
        null: str = "\\N",
        size: int = 8192,
        columns: Any = None,
    ) -> None:
        """``COPY table [(columns)] FROM STDIN`` with the data of ``file``."""
        cols = " (%s)" % ",".join(columns) if columns else ""
        sql = "COPY %s%s FROM stdin WITH DELIMITER AS %s NULL AS %s" % (
            table,
            cols,
            quote_param(sep, self._conn),
            quote_param(null, self._conn),
        )
        self.copy_expert(sql, file, size)

    def copy_to(
        self, file: Any, table: str, sep: str = "\t", null: str = "\\N", columns: Any = None
    ) -> None:
        """``COPY table [(columns)] TO STDOUT``, written to ``file``."""
        cols = " (%s)" % ",".join(columns) if columns else ""
        sql = "COPY %s%s TO stdout WITH DELIMITER AS %s NULL AS %s" % (
            table,
            cols,
            quote_param(sep, self._conn),
            quote_param(null, self._conn),
        )
        self.copy_expert(sql, file)

    # -- lifecycle --

    def close(self) -> None:
        """Closes the cursor (a named one is CLOSEd on the server while it exists)."""
        if self._closed:
            return
        conn = self._conn
        if self.name is not None and self._declared and not conn.closed:
            status = conn._w.transaction_status
            if status == "in-transaction" or (status == "idle" and self.withhold):
                try:
                    conn._w.execute("CLOSE %s" % self._ident())
                except Error:
                    pass
        self._closed = True
        self._rows = None
        w = self._w
        self._w = None
        if w is not None:
            w.close()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return "<cursor object at 0x%x; closed: %d>" % (id(self), int(self.closed))
