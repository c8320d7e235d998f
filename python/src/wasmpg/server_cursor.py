"""Server-side cursors: ``conn.cursor(name)`` is ``DECLARE name CURSOR FOR query`` on the server,
read with ``FETCH`` (psycopg's named cursors; psycopg 3's ``ServerCursor``).

The result stays on the server and is read in pieces: ``fetchone()`` fetches one row,
``fetchmany(n)`` n, ``fetchall()`` the rest, iteration ``itersize`` (100) at a time;
``scroll()`` moves the cursor (``MOVE``; backwards needs ``scrollable=True``). Because the
cursor lives on the server, other statements may run on the connection between fetches (Django's
``iterator()``, SQLAlchemy's ``yield_per``). Without ``withhold`` the cursor exists until the
transaction ends, so it needs one: in autocommit mode use ``withhold=True`` (the server then
keeps the rest of the result after the commit) or ``conn.transaction()``. ``close()`` closes it
on the server.

Parameters are bound server-side into the DECLARE. For a result read once from start to end
without a transaction, ``cursor().stream()`` reads it from the socket as it is used instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any, Optional

from .cursor import (
    BaseCursor,
    C,
    Request,
    Row,
    _Collector,
    _execute_request,
    request_steps,
    request_text,
)
from .errors import InterfaceError, NotSupportedError, ProgrammingError

if TYPE_CHECKING:  # pragma: no cover
    from .connection import Connection  # noqa: F401 - in a string
    from .connection_async import AsyncConnection  # noqa: F401 - in a string

__all__ = ["ServerCursor", "AsyncServerCursor"]


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class _ServerCursorBase(BaseCursor[C]):
    """What the sync and async server cursors share: the statements, the rows fetched ahead
    for iteration, the position."""

    def __init__(
        self,
        connection: C,
        name: str,
        *,
        scrollable: Optional[bool] = None,
        withhold: bool = False,
    ) -> None:
        super().__init__(connection, name)
        self.itersize = 100
        self.scrollable = scrollable
        self.withhold = withhold
        self._ident = quote_ident(name)
        self._declared = False
        self._ahead: list[Row] = []  # fetched by iteration, not yet returned
        self._pos = 0  # rows returned to the user

    def _declare(self, query: str, params: Any) -> Request:
        if not isinstance(query, str):
            raise ProgrammingError("the query must be a str, got %s" % type(query).__name__)
        scroll = {None: "", True: " SCROLL", False: " NO SCROLL"}[self.scrollable]
        hold = " WITH HOLD" if self.withhold else ""
        ident = self._ident
        if params is not None:
            ident = ident.replace("%", "%%")  # the placeholder scanner reads the whole text
        sql = "DECLARE %s%s CURSOR%s FOR %s" % (ident, scroll, hold, query)
        return _execute_request(sql, params, self._map())

    def _fetch_sql(self, count: Optional[int]) -> str:
        return "FETCH FORWARD %s FROM %s" % ("ALL" if count is None else count, self._ident)

    def _move_sql(self, value: int, mode: str) -> tuple[str, int]:
        """scroll()'s MOVE and the position after it. Always MOVE ABSOLUTE: the server's own
        position differs from the user's by the rows fetched ahead for iteration, and by one
        once a FETCH reached the end (the cursor is then after the last row)."""
        if mode not in ("relative", "absolute"):
            raise ProgrammingError("scroll mode must be 'relative' or 'absolute'")
        if not isinstance(value, int) or isinstance(value, bool):
            raise ProgrammingError("scroll value must be an integer, got %r" % (value,))
        target = value if mode == "absolute" else self._pos + value
        if target < 0:
            raise IndexError("scroll target before the first row")
        return "MOVE ABSOLUTE %d FROM %s" % (target, self._ident), target

    def _rows_of(self, sink: _Collector) -> list[Row]:
        if sink.error is not None:
            raise sink.error
        if not sink.results:
            return []
        res = sink.results[0]
        if res.description is not None:
            self.description = res.description
        rows: list[Row] = []
        while res.batches:
            rows.extend(res.convert(res.batches.popleft()))
        return rows

    def _returned(self, rows: list[Row]) -> list[Row]:
        self._pos += len(rows)
        self.rownumber = self._pos
        self.rowcount = self._pos
        return rows

    def _take_ahead(self, size: Optional[int]) -> list[Row]:
        ahead = self._ahead
        if size is None or size >= len(ahead):
            self._ahead = []
            return ahead
        out, self._ahead = ahead[:size], ahead[size:]
        return out

    def _check_declared(self) -> None:
        if self.closed or self._conn is None:
            raise InterfaceError("the cursor is closed")
        if not self._declared:
            raise ProgrammingError("no results to fetch: execute() a query first")

    def _close_sql(self) -> Optional[str]:
        """CLOSE, if the server still has the cursor."""
        conn = self._conn
        if not self._declared or conn is None or conn.closed:
            return None
        status = conn._session.tx_status
        if status == "in-transaction" or (status == "idle" and self.withhold):
            return "CLOSE " + self._ident
        return None  # gone with its transaction (or unusable until the rollback)

    def _reset_server(self) -> None:
        self._reset()
        self._ahead = []
        self._pos = 0
        self._declared = False


class ServerCursor(_ServerCursorBase["Connection"]):
    """A server-side cursor (see the module's comment). Create it with
    ``conn.cursor(name, scrollable=None, withhold=False)``."""

    def _command(self, sql: str) -> _Collector:
        """Runs one statement of the cursor's own (FETCH, MOVE, CLOSE); the lock is held."""
        conn = self.connection
        conn._end_stream()
        sink = _Collector(self._map())
        session = conn._session
        session.simple_query(sql, sink)
        return sink

    def execute(self, query: str, params: Any = None) -> ServerCursor:
        """Declares the cursor for the query (closing the one declared before, if any)."""
        conn = self._check()
        request = self._declare(query, params)
        with conn._lock:
            self._close_locked()
            self._reset_server()
            self.query = query
            conn._before_statement(self)
            sink = _Collector(self._map())
            session = conn._session
            session.request(request_text(request), sink)
            if sink.error is not None:
                raise sink.error
            self._declared = True
            self.statusmessage = sink.results[-1].tag if sink.results else None
            self._rows_of(self._command(self._fetch_sql(0)))  # the description
            self.rownumber = 0
        return self

    def executemany(self, query: str, params_seq: Any) -> ServerCursor:
        raise NotSupportedError("executemany() is not supported on a server-side cursor")

    def _fetch(self, size: Optional[int]) -> list[Row]:
        self._check_declared()
        with self.connection._lock:
            out = self._take_ahead(size)
            want = None if size is None else size - len(out)
            if want is None or want > 0:
                out.extend(self._rows_of(self._command(self._fetch_sql(want))))
            return self._returned(out)

    def fetchone(self) -> Optional[Row]:
        """The next row (one FETCH), or None at the end."""
        rows = self._fetch(1)
        return rows[0] if rows else None

    def fetchmany(self, size: Optional[int] = None) -> list[Row]:
        """Up to ``size`` rows (default ``arraysize``), in one FETCH."""
        return self._fetch(self._fetch_size(size))

    def fetchall(self) -> list[Row]:
        """Every remaining row (FETCH ALL)."""
        return self._fetch(None)

    def __iter__(self) -> Iterator[Row]:
        return self

    def __next__(self) -> Row:
        self._check_declared()
        if not self._ahead:
            with self.connection._lock:
                self._ahead = self._rows_of(self._command(self._fetch_sql(self.itersize)))
        if not self._ahead:
            raise StopIteration
        return self._returned(self._take_ahead(1))[0]

    def scroll(self, value: int, mode: str = "relative") -> None:
        """Moves the cursor (MOVE): ``relative`` to the current position, ``absolute`` to
        the start (``scroll(0, "absolute")`` rewinds). Backwards needs ``scrollable=True``."""
        self._check_declared()
        sql, pos = self._move_sql(value, mode)
        with self.connection._lock:
            sink = self._command(sql)
            if sink.error is not None:
                raise sink.error
            self._ahead = []
            self._pos = pos
            self.rownumber = pos

    def _close_locked(self) -> None:
        sql = self._close_sql()
        self._declared = False
        if sql is not None:
            sink = self._command(sql)
            if sink.error is not None:
                raise sink.error

    def close(self) -> None:
        """Closes the cursor on the server (if it still exists there) and here."""
        if self.closed:
            return
        conn = self._conn
        try:
            if conn is not None and not conn.closed:
                with conn._lock:
                    self._close_locked()
        finally:
            self._closed_state()

    def __enter__(self) -> ServerCursor:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.close()


class AsyncServerCursor(_ServerCursorBase["AsyncConnection"]):
    """`ServerCursor` for asyncio: ``await execute()``, ``await fetch*()``, ``async for``,
    ``await scroll()``, ``await close()``."""

    async def _command(self, sql: str) -> _Collector:
        conn = self.connection
        await conn._end_stream()
        sink = _Collector(self._map())
        await conn._run(conn._session.simple_query_steps(sql, sink))
        return sink

    async def execute(self, query: str, params: Any = None) -> AsyncServerCursor:
        """Declares the cursor for the query (see `ServerCursor.execute`)."""
        conn = self._check()
        request = self._declare(query, params)
        async with conn._lock:
            await self._close_locked()
            self._reset_server()
            self.query = query
            await conn._before_statement()
            sink = _Collector(self._map())
            await conn._run(request_steps(conn._session, request, sink, False))
            if sink.error is not None:
                raise sink.error
            self._declared = True
            self.statusmessage = sink.results[-1].tag if sink.results else None
            self._rows_of(await self._command(self._fetch_sql(0)))
            self.rownumber = 0
        return self

    async def executemany(self, query: str, params_seq: Any) -> AsyncServerCursor:
        raise NotSupportedError("executemany() is not supported on a server-side cursor")

    async def _fetch(self, size: Optional[int]) -> list[Row]:
        self._check_declared()
        async with self.connection._lock:
            out = self._take_ahead(size)
            want = None if size is None else size - len(out)
            if want is None or want > 0:
                out.extend(self._rows_of(await self._command(self._fetch_sql(want))))
            return self._returned(out)

    async def fetchone(self) -> Optional[Row]:
        rows = await self._fetch(1)
        return rows[0] if rows else None

    async def fetchmany(self, size: Optional[int] = None) -> list[Row]:
        return await self._fetch(self._fetch_size(size))

    async def fetchall(self) -> list[Row]:
        return await self._fetch(None)

    def __aiter__(self) -> AsyncIterator[Row]:
        return self

    async def __anext__(self) -> Row:
        self._check_declared()
        if not self._ahead:
            async with self.connection._lock:
                self._ahead = self._rows_of(await self._command(self._fetch_sql(self.itersize)))
        if not self._ahead:
            raise StopAsyncIteration
        return self._returned(self._take_ahead(1))[0]

    async def scroll(self, value: int, mode: str = "relative") -> None:  # type: ignore[override]
        """Moves the cursor (see `ServerCursor.scroll`)."""
        self._check_declared()
        sql, pos = self._move_sql(value, mode)
        async with self.connection._lock:
            sink = await self._command(sql)
            if sink.error is not None:
                raise sink.error
            self._ahead = []
            self._pos = pos
            self.rownumber = pos

    async def _close_locked(self) -> None:
        sql = self._close_sql()
        self._declared = False
        if sql is not None:
            sink = await self._command(sql)
            if sink.error is not None:
                raise sink.error

    async def close(self) -> None:
        """Closes the cursor on the server (if it still exists there) and here."""
        if self.closed:
            return
        conn = self._conn
        try:
            if conn is not None and not conn.closed:
                async with conn._lock:
                    await self._close_locked()
        finally:
            self._closed_state()

    async def __aenter__(self) -> AsyncServerCursor:
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        await self.close()
