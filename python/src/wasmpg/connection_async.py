"""asyncio connections and cursors: `AsyncConnection` and `AsyncCursor`.

They run the very same session steps as the sync `Connection` and `Cursor` (`_session`): the
asyncio driver (`_aio.adrive`) performs each socket operation with an awaited, non-blocking
call, so the event loop never blocks on the network. Calls into the guest stay synchronous:
they never wait for I/O and last microseconds (bounded by ``cpu_limit``). Timeouts
(``connect_timeout``, ``read_timeout``) are asyncio timeouts.

The shape is psycopg 3's async API::

    conn = await wasmpg.AsyncConnection.connect("host=... dbname=...")
    async with conn:                            # commits (or rolls back) and closes
        async with conn.cursor() as cur:
            await cur.execute("select %s::int", (1,))
            row = await cur.fetchone()
            async for row in cur: ...
        async with conn.transaction(): ...

A task cancelled while a statement runs (``asyncio.wait_for``, ``task.cancel()``) sends the
server a cancel request and reads the statement's end before ``CancelledError`` propagates: the
connection stays usable (or, if the server does not answer in time, is closed); see `_aio`.
Each method holds the connection's ``asyncio.Lock``: tasks sharing a connection take turns.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any, Callable, Optional, overload

from . import errors
from ._aio import AsyncChannel, acancel, adrive
from ._conninfo import make_conninfo
from ._copy import _AsyncCopyStart
from ._runtime import runtime
from ._session import Session, Sink, Steps, T
from ._tpc import RECOVER_SQL, Xid, recovered
from .connection import BaseConnection, Notify, session_options
from .cursor import (
    BaseCursor,
    ClientBinding,
    Row,
    _copy_refused,
    _proc_call,
    request_steps,
)
from .errors import InterfaceError
from .server_cursor import AsyncServerCursor

__all__ = ["AsyncConnection", "AsyncCursor", "AsyncClientCursor"]


class AsyncConnection(BaseConnection):
    """A connection for asyncio (psycopg 3's ``AsyncConnection``). Open it with
    ``await AsyncConnection.connect(...)``, which takes `wasmpg.connect`'s arguments;
    ``password_callback`` may also be a coroutine function.

    Transactions work as in the sync connection (``BEGIN`` before the first statement unless
    ``autocommit``; ``await commit()``, ``await rollback()``, ``async with transaction()``).
    As an async context manager the connection commits on success, rolls back on an
    exception, and is closed (psycopg 3's behaviour; the sync `Connection` stays open, as
    psycopg2's does)."""

    def __init__(self, session: Session, autocommit: bool = False) -> None:
        super().__init__(session, autocommit)
        self._lock = asyncio.Lock()
        self._io: AsyncChannel = session._io

    @classmethod
    async def connect(
        cls,
        dsn: Optional[str] = None,
        *,
        allow: Optional[Sequence[str]] = None,
        allow_files: Optional[Sequence[str]] = None,
        autocommit: bool = False,
        read_timeout: Optional[float] = None,
        statement_cache: int = 256,
        max_message_size: int = 64 << 20,
        memory_limit: int = 256 << 20,
        cpu_limit: float = 5.0,
        password_callback: Optional[Callable[[dict[str, Any]], Any]] = None,
        cursor_factory: Optional[Callable[..., Any]] = None,
        **kwargs: Any,
    ) -> AsyncConnection:
        """Opens a connection: the arguments are `wasmpg.connect`'s (the same policies,
        limits and errors)."""
        options = session_options(
            allow=allow,
            allow_files=allow_files,
            read_timeout=read_timeout,
            statement_cache=statement_cache,
            max_message_size=max_message_size,
            memory_limit=memory_limit,
            cpu_limit=cpu_limit,
            password_callback=password_callback,
        )
        conninfo = make_conninfo(dsn, **kwargs)
        # The first connection of the process loads (or compiles) the component: off the loop.
        await asyncio.get_running_loop().run_in_executor(None, runtime)
        io = AsyncChannel()
        session = Session(conninfo, io=io, **options)
        await adrive(session.start_steps(), io)
        conn = cls(session, autocommit=autocommit)
        conn.cursor_factory = cursor_factory
        return conn

    # -- running steps --

    async def _run(self, steps: Steps[T]) -> T:
        """Runs a request's steps; a cancellation while the server works on it cancels the
        statement server-side (`_aio.adrive`)."""
        return await adrive(steps, self._io, self._session)

    async def _control(self, sql: str) -> None:
        sink = Sink()
        await self._run(self._session.simple_query_steps(sql, sink))
        if sink.error is not None:
            raise sink.error

    async def _end_stream(self) -> None:
        cur = self._streaming
        if cur is not None:
            self._streaming = None
            await self._run(self._session.drain_steps())
            cur._discarded = True

    async def _before_statement(self) -> None:
        """Drains a streamed result and opens the transaction if needed."""
        self._check()
        await self._end_stream()
        if not self._autocommit and self._session.tx_status == "idle":
            await self._control("BEGIN")

    # -- the API --

    @overload
    def cursor(
        self, name: None = None, *, cursor_factory: Optional[Callable[..., Any]] = None
    ) -> AsyncCursor: ...

    @overload
    def cursor(
        self,
        name: str,
        *,
        scrollable: Optional[bool] = None,
        withhold: bool = False,
    ) -> AsyncServerCursor: ...

    def cursor(
        self,
        name: Optional[str] = None,
        *,
        cursor_factory: Optional[Callable[..., Any]] = None,
        scrollable: Optional[bool] = None,
        withhold: bool = False,
    ) -> Any:
        """A cursor; with ``name`` a server-side cursor (`AsyncServerCursor`). See
        `Connection.cursor`."""
        self._cursor_name(name)
        if name is not None:
            return AsyncServerCursor(self, name, scrollable=scrollable, withhold=withhold)
        factory = cursor_factory or self.cursor_factory or AsyncCursor
        return factory(self, name)

    async def execute(self, query: str, params: Any = None) -> AsyncCursor:
        """A new cursor's ``execute`` (psycopg 3's shortcut): returns the cursor."""
        cur = self.cursor()
        return await cur.execute(query, params)

    # -- two-phase commit (see the sync Connection's tpc_* methods)

    async def tpc_begin(self, xid: Any) -> None:
        """Begins a two-phase transaction (see `Connection.tpc_begin`)."""
        async with self._lock:
            checked = self._tpc_begin_check(xid)
            await self._end_stream()
            await self._control("BEGIN")
            self._tpc = (checked, False)

    async def tpc_prepare(self) -> None:
        """PREPARE TRANSACTION (see `Connection.tpc_prepare`)."""
        async with self._lock:
            sql = self._tpc_prepare_sql()
            await self._end_stream()
            assert self._tpc is not None
            xid = self._tpc[0]
            try:
                await self._control(sql)
            except errors.Error:
                self._tpc = None
                raise
            self._tpc = (xid, True)

    async def tpc_commit(self, xid: Any = None) -> None:
        """Commits the two-phase transaction, or a recovered one (see `Connection`)."""
        await self._tpc_end(xid, commit=True)

    async def tpc_rollback(self, xid: Any = None) -> None:
        """Rolls the two-phase transaction back, or a recovered one."""
        await self._tpc_end(xid, commit=False)

    async def _tpc_end(self, xid: Any, commit: bool) -> None:
        async with self._lock:
            sql, own = self._tpc_end_sql(xid, commit)
            await self._end_stream()
            try:
                await self._control(sql)
            finally:
                if own:
                    self._tpc = None

    async def tpc_recover(self) -> list[Xid]:
        """The prepared transactions of this database (see `Connection.tpc_recover`)."""
        async with self._lock:
            self._check()
            idle = self._session.tx_status == "idle"
            await self._end_stream()
        cur = await self.execute(RECOVER_SQL)
        rows = await cur.fetchall()
        if idle and self._session.tx_status != "idle":
            async with self._lock:
                await self._control("ROLLBACK")
        return recovered(rows)

    async def commit(self) -> None:
        """Commits the current transaction (nothing to do outside one)."""
        async with self._lock:
            self._check()
            self._no_tx_block("commit")
            self._no_tpc("commit")
            await self._end_stream()
            if self._session.tx_status != "idle":
                await self._control("COMMIT")

    async def rollback(self) -> None:
        """Rolls the current transaction back (nothing to do outside one)."""
        async with self._lock:
            self._check()
            self._no_tx_block("rollback")
            self._no_tpc("rollback")
            await self._end_stream()
            if self._session.tx_status != "idle":
                await self._control("ROLLBACK")

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """A block run in a transaction, a savepoint inside one (see the sync
        `Connection.transaction`)::

            async with conn.transaction():
                await cur.execute(...)
        """
        async with self._lock:
            self._check()
            await self._end_stream()
            statement = self._tx_enter()
            try:
                await self._control(statement)
            except BaseException:
                self._tx_stack.pop()
                raise
        ok = False
        try:
            yield
            ok = True
        finally:
            async with self._lock:
                closing, lost = self._tx_exit(failed=not ok)
                if closing is not None:
                    await self._end_stream()
                    if ok:
                        await self._control(closing)
                    else:
                        try:
                            await self._control(closing)
                        except errors.Error:
                            pass  # the block's own exception matters more
        if lost:
            raise self._lost_work()

    async def cancel(self, timeout: float = 10.0) -> None:
        """Asks the server to cancel the statement running on this connection (from another
        task); that statement then raises QueryCanceledError. Does not take the connection's
        lock."""
        if self.closed:
            raise InterfaceError("the connection is closed")
        await self._cancel_now(timeout)

    async def _cancel_now(self, timeout: float) -> None:
        await acancel(self._session.cancel_token(), self._session.policy, timeout)

    async def notifications(
        self, *, timeout: Optional[float] = None, stop_after: Optional[int] = None
    ) -> AsyncIterator[Notify]:
        """Yields LISTEN/NOTIFY notifications as ``Notify(pid, channel, payload)``: first
        those already received, then those the server sends while the connection waits, idle
        (``async for n in conn.notifications(): ...``). Ends after ``timeout`` seconds in all
        (None: no limit), or once ``stop_after`` were yielded. The server ending the session
        raises its error."""
        if stop_after is not None and stop_after <= 0:
            return
        deadline = None if timeout is None else time.monotonic() + timeout
        yielded = 0
        while True:
            async with self._lock:
                self._check()
                queued = self._session.notifies
                if not queued:
                    await self._end_stream()
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        return
                    await adrive(self._session.poll_idle_steps(left), self._io)
                    if not queued:
                        continue
                pid, channel, payload = queued.pop(0)
            yield Notify(pid, channel, payload)
            yielded += 1
            if stop_after is not None and yielded >= stop_after:
                return

    async def close(self) -> None:
        """Closes the connection; an open transaction is rolled back by the server. Closing
        twice is allowed. Does not wait for a statement running in another task."""
        self.terminate()

    def terminate(self) -> None:
        """`close()` without awaiting (asyncpg's name): for code that runs outside the event
        loop, such as a garbage collection hook. Sends Terminate if the socket takes it at
        once, and closes the socket and the guest instance."""
        if self._closed:
            return
        self._closed = True
        self._streaming = None
        self._session.terminate()

    async def __aenter__(self) -> AsyncConnection:
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            if not self.closed:
                if exc_type is None:
                    await self.commit()
                else:
                    try:
                        await self.rollback()
                    except errors.Error:
                        pass  # the original exception matters more
        finally:
            await self.close()


class AsyncCursor(BaseCursor[AsyncConnection]):
    """A cursor for asyncio: the sync `Cursor`'s behaviour with awaited methods. Create it with
    ``AsyncConnection.cursor()``; ``async for row in cur`` iterates the rows."""

    async def execute(self, query: str, params: Any = None) -> AsyncCursor:
        """Executes one query (see `Cursor.execute`)."""
        conn = self._check()
        request = self._request(query, params)
        async with conn._lock:
            sink = self._start(self._sent(query, request))
            await conn._before_statement()
            session = conn._session
            await conn._run(request_steps(session, request, sink, self._stream))
            if sink.copied:
                await conn._run(session.drain_steps())
                raise _copy_refused()
            self._after_execute(sink)
        return self

    async def executemany(self, query: str, params_seq: Any) -> AsyncCursor:
        """Executes the query once per parameter set, in one round trip (see
        `Cursor.executemany`)."""
        conn = self._check()
        request = self._many_request(query, params_seq)
        async with conn._lock:
            sink = self._start(query)
            if request is None:
                self.rowcount = 0
                return self
            await conn._before_statement()
            session = conn._session
            await conn._run(request_steps(session, request, sink, False))
            if sink.copied:
                await conn._run(session.drain_steps())
                raise _copy_refused()
            self._after_many(sink)
        return self

    def copy(self, statement: str, params: Any = None) -> _AsyncCopyStart:
        """Runs ``COPY ... FROM STDIN`` or ``COPY ... TO STDOUT`` (see `Cursor.copy`)::

        async with cur.copy("COPY t (a, b) FROM STDIN") as copy:
            await copy.write_row((1, "x"))
        async with cur.copy("COPY t TO STDOUT") as copy:
            async for row in copy.rows():
                ...
        """
        return _AsyncCopyStart(self, statement, params)

    async def callproc(self, procname: str, params: Sequence[Any] = ()) -> Sequence[Any]:
        """Calls a function as ``SELECT * FROM procname(params...)``; returns ``params``."""
        await self.execute(_proc_call(procname, params), list(params))
        return params

    async def nextset(self) -> Optional[bool]:
        """Moves to the next result set of a multi-statement query: True, or None."""
        conn = self._check()
        async with conn._lock:
            while not self._next_set():
                if not await self._pump():
                    return None
            return True

    async def stream(self, query: str, params: Any = None) -> AsyncIterator[Row]:
        """Executes the query and yields its rows as they arrive (see `Cursor.stream`)::

        async for row in cur.stream("select ..."): ...
        """
        self._stream = True
        try:
            await self.execute(query, params)
        finally:
            self._stream = False
        while True:
            rows = await self.fetchmany(self.itersize)
            if not rows:
                return
            for row in rows:
                yield row

    # -- fetching --

    async def _pump(self) -> bool:
        if not self._pump_needed():
            return False
        sink = self._sink
        assert sink is not None
        conn = self.connection
        await conn._run(conn._session.resume_steps(sink))
        self._pumped()
        return True

    async def _fill(self) -> bool:
        while True:
            ready = self._fill_now()
            if ready is not None:
                return ready
            if not await self._pump():
                return self._ended()

    async def _ready(self) -> bool:
        """Like `_fill`: what was received is converted without the lock (no await happens
        in between, so no other task runs meanwhile); the lock is taken only to read more."""
        ready = self._fill_now()
        if ready is None:
            async with self.connection._lock:
                ready = await self._fill()
        return ready

    async def fetchone(self) -> Optional[Row]:
        """The next row, or None at the end."""
        self._fetch_check()
        if not await self._ready():
            return None
        return self._take_one()

    async def fetchmany(self, size: Optional[int] = None) -> list[Row]:
        """Up to ``size`` rows (default ``arraysize``); an empty list at the end."""
        self._fetch_check()
        want = self._fetch_size(size)
        out: list[Row] = []
        while len(out) < want and await self._ready():
            self._take(out, want - len(out))
        self._set_rownumber()
        return out

    async def fetchall(self) -> list[Row]:
        """Every remaining row."""
        self._fetch_check()
        out: list[Row] = []
        while await self._ready():
            self._take(out, None)
        if self._res is not None:
            self.rownumber = self._res.fetched
        return out

    def __aiter__(self) -> AsyncCursor:
        return self

    async def __anext__(self) -> Row:
        row = await self.fetchone()
        if row is None:
            raise StopAsyncIteration
        return row

    async def close(self) -> None:
        """Closes the cursor; a streaming cursor discards the rest of its result."""
        if self.closed:
            return
        conn = self._conn
        if conn is not None and conn._streaming is self and not conn.closed:
            async with conn._lock:
                try:
                    await conn._run(conn._session.drain_steps())
                finally:
                    conn._streaming = None
        self._closed_state()

    async def __aenter__(self) -> AsyncCursor:
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        await self.close()


class AsyncClientCursor(ClientBinding, AsyncCursor):
    """An `AsyncCursor` with client-side binding (see `cursor.ClientBinding`)."""
