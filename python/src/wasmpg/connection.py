"""Connections (PEP 249)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any, Callable, NamedTuple, Optional, overload

from . import errors, types
from ._session import Session, Sink
from ._tpc import RECOVER_SQL, Xid, recovered
from .cursor import BaseCursor, Cursor
from .errors import Diagnostic, InterfaceError, InternalError, ProgrammingError
from .server_cursor import ServerCursor
from .types import AdaptersMap


def session_options(
    *,
    allow: Optional[Sequence[str]],
    allow_files: Optional[Sequence[str]],
    read_timeout: Optional[float],
    statement_cache: int,
    max_message_size: int,
    memory_limit: int,
    cpu_limit: float,
    password_callback: Optional[Callable[[dict[str, Any]], Any]],
) -> dict[str, Any]:
    """Checks `wasmpg.connect`'s options (and `AsyncConnection.connect`'s): the keyword
    arguments of `Session`, or ProgrammingError naming the bad one."""
    if password_callback is not None and not callable(password_callback):
        raise ProgrammingError("password_callback must be callable")
    if not isinstance(statement_cache, int) or statement_cache < 0:
        raise ProgrammingError("statement_cache must be a non-negative integer")
    if read_timeout is not None and (
        not isinstance(read_timeout, (int, float)) or read_timeout <= 0
    ):
        raise ProgrammingError("read_timeout must be a positive number of seconds")
    for name, value in (("max_message_size", max_message_size), ("memory_limit", memory_limit)):
        if not isinstance(value, int) or not 0 < value < 2**32:
            raise ProgrammingError("%s must be a positive number of bytes below 4 GiB" % name)
    if (
        not isinstance(cpu_limit, (int, float))
        or isinstance(cpu_limit, bool)
        or not 0 < cpu_limit <= 3600
    ):
        raise ProgrammingError("cpu_limit must be a positive number of seconds, at most 3600")
    return {
        "allow": allow,
        "allow_files": allow_files,
        "read_timeout": read_timeout,
        "statement_cache": statement_cache,
        "max_message_size": max_message_size,
        "memory_limit": memory_limit,
        "cpu_limit": cpu_limit,
        "password_callback": password_callback,
    }


class Notify(NamedTuple):
    """A LISTEN/NOTIFY notification (psycopg's name and fields)."""

    pid: int
    channel: str
    payload: str


__all__ = ["BaseConnection", "Connection", "Notify", "session_options"]


class BaseConnection:
    """What the sync `Connection` and `wasmpg.AsyncConnection` share: the session's state and
    the server's parameters (nothing here waits for the server).
    """

    # PEP 249 optional extension: the exceptions as connection attributes.
    Warning = errors.Warning
    Error = errors.Error
    InterfaceError = errors.InterfaceError
    DatabaseError = errors.DatabaseError
    DataError = errors.DataError
    OperationalError = errors.OperationalError
    IntegrityError = errors.IntegrityError
    InternalError = errors.InternalError
    ProgrammingError = errors.ProgrammingError
    NotSupportedError = errors.NotSupportedError

    def __init__(self, session: Session, autocommit: bool = False) -> None:
        self._session = session
        self._autocommit = bool(autocommit)
        self._closed = False
        self._streaming: Optional[BaseCursor[Any]] = None
        # The transaction() blocks open, innermost last: None for one that sent BEGIN, else
        # its savepoint's name.
        self._tx_stack: list[Optional[str]] = []
        # The class cursor() makes (psycopg 3's attribute; ClientCursor for client-side
        # binding); None: the default cursor.
        self.cursor_factory: Optional[Callable[..., Any]] = None
        self._adapters: Optional[AdaptersMap] = None
        # The two-phase transaction in progress (tpc_begin) and whether it is prepared.
        self._tpc: Optional[tuple[Xid, bool]] = None

    # -- state --

    @property
    def closed(self) -> bool:
        """True once the connection is closed (by ``close()`` or because it was lost)."""
        return self._closed or self._session.closed

    @property
    def autocommit(self) -> bool:
        """False (default): statements run inside a transaction that ``commit()`` ends."""
        return self._autocommit

    @autocommit.setter
    def autocommit(self, value: bool) -> None:
        # No lock: the setter waits for nothing, and a change inside a transaction is refused.
        self._check()
        if bool(value) != self._autocommit and self._session.tx_status != "idle":
            raise ProgrammingError(
                "autocommit cannot be changed inside a transaction: commit or roll back first"
            )
        self._autocommit = bool(value)

    @property
    def transaction_status(self) -> str:
        """``idle``, ``in-transaction`` or ``failed`` (from the last ReadyForQuery)."""
        return self._session.tx_status

    @property
    def notices(self) -> list[str]:
        """The last 50 notices from the server, as psycopg2 formats them
        (``"NOTICE:  text\\n"``)."""
        return self._session.notices

    @property
    def notifies(self) -> list[tuple[int, str, str]]:
        """LISTEN/NOTIFY notifications received: (backend pid, channel, payload)."""
        return self._session.notifies

    def add_notice_handler(self, handler: Callable[[Diagnostic], None]) -> None:
        """Calls ``handler(diag)`` for every notice the server sends."""
        self._session.notice_handlers.append(handler)

    @property
    def parameters(self) -> dict[str, str]:
        """The server's reported parameters (server_version, TimeZone, ...)."""
        return dict(self._session.parameters)

    def get_parameter_status(self, name: str) -> Optional[str]:
        return self._session.parameters.get(name)

    @property
    def server_version(self) -> int:
        """``server_version`` as an integer, e.g. 150018 for 15.18."""
        text = self._session.parameters.get("server_version", "0")
        digits = text.split()[0].split(".")
        try:
            major = int("".join(c for c in digits[0] if c.isdigit()) or 0)
            minor = int("".join(c for c in digits[1] if c.isdigit()) or 0) if len(digits) > 1 else 0
        except ValueError:
            return 0
        return major * 10000 + minor if major >= 10 else major * 10000 + minor * 100

    @property
    def backend_pid(self) -> Optional[int]:
        return self._session.backend_pid

    def __del__(self) -> None:
        # Only the socket is closed here (the server ends the backend on EOF): during garbage
        # collection the wasmtime objects may already be gone, so nothing calls into the guest.
        try:
            if not getattr(self, "_closed", True):
                self._closed = True
                self._session.abandon()
        except (errors.Error, OSError, AttributeError):
            pass

    def __repr__(self) -> str:
        return "<wasmpg.%s %s>" % (type(self).__name__, "closed" if self.closed else "open")

    def _check(self) -> None:
        if self._closed or self._session.closed:  # `closed`, without the property's call
            raise InterfaceError("the connection is closed")

    def _cursor_name(self, name: Optional[str]) -> None:
        self._check()
        if name is not None and not isinstance(name, str):
            raise ProgrammingError("the cursor name must be a string")

    def _tx_enter(self) -> str:
        """transaction()'s opening statement: BEGIN outside a transaction, else a SAVEPOINT."""
        self._check()
        if self._session.tx_status == "idle":
            self._tx_stack.append(None)
            return "BEGIN"
        name = "wasmpg_savepoint_%d" % (len(self._tx_stack) + 1)
        self._tx_stack.append(name)
        return "SAVEPOINT " + name

    def _tx_exit(self, failed: bool) -> tuple[Optional[str], bool]:
        """transaction()'s closing statement (None when the connection is gone) and whether
        the block's work is lost although it raised nothing: COMMIT or, if a statement of the
        transaction failed, ROLLBACK for the outermost block; RELEASE, or ROLLBACK TO and
        RELEASE, for a savepoint."""
        name = self._tx_stack.pop() if self._tx_stack else None
        if self.closed:
            return None, False
        if name is None:
            if failed:
                return "ROLLBACK", False
            if self._session.tx_status == "failed":
                return "ROLLBACK", True
            return "COMMIT", False
        if failed:
            return "ROLLBACK TO SAVEPOINT %s; RELEASE SAVEPOINT %s" % (name, name), False
        return "RELEASE SAVEPOINT " + name, False

    @property
    def adapters(self) -> AdaptersMap:
        """This connection's adapters (psycopg 3's ``conn.adapters``): a copy of the
        process-wide `wasmpg.adapters`, made on first use; its cursors start from it::

            conn.adapters.register_loader(oid, loader)
            conn.adapters.register_dumper(cls, dumper)
        """
        if self._adapters is None:
            self._adapters = AdaptersMap(types.adapters)
        return self._adapters

    def xid(self, format_id: Optional[int], gtrid: str, bqual: Optional[str]) -> Xid:
        """A transaction id for ``tpc_begin`` (PEP 249)."""
        return Xid(format_id, gtrid, bqual)

    def _tpc_begin_check(self, given: Any) -> Xid:
        self._check()
        if isinstance(given, Xid):
            xid = given
        elif isinstance(given, str):
            xid = Xid(None, given, None)
        else:
            raise ProgrammingError("tpc_begin needs a transaction id from xid()")
        if self._tpc is not None:
            raise ProgrammingError("a two-phase transaction is already in progress")
        if self._session.tx_status != "idle":
            raise ProgrammingError("tpc_begin must be called outside a transaction")
        if self._autocommit:
            raise ProgrammingError("tpc_begin cannot be used in autocommit mode")
        return xid

    def _tpc_prepare_sql(self) -> str:
        self._check()
        if self._tpc is None:
            raise ProgrammingError("tpc_prepare outside a two-phase transaction (tpc_begin)")
        xid, prepared = self._tpc
        if prepared:
            raise ProgrammingError("the two-phase transaction is already prepared")
        return "PREPARE TRANSACTION " + xid.literal()

    def _tpc_end_sql(self, xid: Any, commit: bool) -> tuple[str, bool]:
        """tpc_commit/tpc_rollback's statement, and whether it ends this connection's own
        two-phase transaction (else it recovers one by its id)."""
        self._check()
        word = "COMMIT" if commit else "ROLLBACK"
        if xid is not None:
            if self._tpc is not None or self._session.tx_status != "idle":
                raise ProgrammingError(
                    "tpc_%s(xid) recovers a prepared transaction: call it outside a transaction"
                    % word.lower()
                )
            if not isinstance(xid, Xid):
                xid = Xid.from_gid(xid) if isinstance(xid, str) else None
                if xid is None:
                    raise ProgrammingError("the transaction id must come from xid() or be a str")
            return "%s PREPARED %s" % (word, xid.literal()), False
        if self._tpc is None:
            raise ProgrammingError("tpc_%s outside a two-phase transaction" % word.lower())
        own, prepared = self._tpc
        if prepared:
            return "%s PREPARED %s" % (word, own.literal()), True
        return word, True  # one phase: the transaction was never prepared

    def _no_tpc(self, what: str) -> None:
        if self._tpc is not None:
            raise ProgrammingError(
                "%s() inside a two-phase transaction: use tpc_%s()" % (what, what)
            )

    def _no_tx_block(self, what: str) -> None:
        if self._tx_stack:
            raise ProgrammingError(
                "%s() inside a transaction() block: the block commits or rolls back at its end"
                % what
            )

    def _lost_work(self) -> errors.Error:
        return InternalError(
            "the transaction was rolled back at the end of its transaction() block: a statement "
            "in it failed (and its error was caught), so nothing of the block was committed"
        )


class Connection(BaseConnection):
    """A connection to one PostgreSQL server, through one sandboxed guest instance.

    Transactions work as in psycopg2: with ``autocommit`` False (the default) the driver sends
    ``BEGIN`` before the first statement of a transaction; ``commit()`` and ``rollback()`` end
    it. ``with conn.transaction():`` wraps a block in a transaction (a savepoint inside one),
    committed at its end or rolled back on an exception (psycopg 3's). As a context manager
    the connection commits on success and rolls back on an exception, and stays open. Every
    method is serialised by a per-connection lock (threadsafety 2), but a connection runs one
    statement at a time.
    """

    def __init__(self, session: Session, autocommit: bool = False) -> None:
        super().__init__(session, autocommit)
        self._lock = threading.RLock()

    @property
    def autocommit(self) -> bool:
        """False (default): statements run inside a transaction that ``commit()`` ends."""
        return self._autocommit

    @autocommit.setter
    def autocommit(self, value: bool) -> None:
        with self._lock:
            BaseConnection.autocommit.fset(self, value)  # type: ignore[attr-defined]

    def notifications(
        self, *, timeout: Optional[float] = None, stop_after: Optional[int] = None
    ) -> Iterator[Notify]:
        """Yields LISTEN/NOTIFY notifications as ``Notify(pid, channel, payload)`` (psycopg
        3.2's ``notifies()``, named so as not to clash with the ``notifies`` list): first those
        already received (taken from ``notifies``), then those the server sends while the
        connection waits, idle. Ends after ``timeout`` seconds in all (None: no limit), or once
        ``stop_after`` were yielded. The server ending the session while it waits raises its
        error (OperationalError, SQLSTATE 57P01 for a terminated backend)."""
        if stop_after is not None and stop_after <= 0:
            return
        deadline = None if timeout is None else time.monotonic() + timeout
        yielded = 0
        while True:
            with self._lock:
                self._check()
                queued = self._session.notifies
                if not queued:
                    self._end_stream()
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        return
                    self._session.poll_idle(left)
                    if not queued:
                        continue
                pid, channel, payload = queued.pop(0)
            yield Notify(pid, channel, payload)
            yielded += 1
            if stop_after is not None and yielded >= stop_after:
                return

    # -- PEP 249 --

    @overload
    def cursor(
        self, name: None = None, *, cursor_factory: Optional[Callable[..., Any]] = None
    ) -> Cursor: ...

    @overload
    def cursor(
        self,
        name: str,
        *,
        scrollable: Optional[bool] = None,
        withhold: bool = False,
    ) -> ServerCursor: ...

    def cursor(
        self,
        name: Optional[str] = None,
        *,
        cursor_factory: Optional[Callable[..., Any]] = None,
        scrollable: Optional[bool] = None,
        withhold: bool = False,
    ) -> Any:
        """A cursor; with ``name`` a server-side cursor (`wasmpg.ServerCursor`: DECLARE and
        FETCH; ``scrollable``, ``withhold`` as in psycopg). ``cursor_factory`` (else the
        connection's ``cursor_factory``) is the class of an unnamed cursor, e.g.
        `wasmpg.ClientCursor`."""
        self._cursor_name(name)
        if name is not None:
            return ServerCursor(self, name, scrollable=scrollable, withhold=withhold)
        factory = cursor_factory or self.cursor_factory or Cursor
        return factory(self, name)

    def execute(self, query: str, params: Any = None) -> Cursor:
        """A new cursor's ``execute`` (psycopg 3's shortcut): returns the cursor."""
        return self.cursor().execute(query, params)

    def _control(self, sql: str) -> None:
        sink = Sink()
        self._session.simple_query(sql, sink)
        if sink.error is not None:
            raise sink.error

    def _end_stream(self) -> None:
        cur = self._streaming
        if cur is not None:
            self._streaming = None
            self._session.drain()
            cur._discarded = True

    def _before_statement(self, cursor: BaseCursor[Any]) -> None:
        """Drains a streamed result and opens the transaction if needed."""
        self._check()
        if self._streaming is not None:
            self._end_stream()
        if not self._autocommit and self._session.tx_status == "idle":
            self._control("BEGIN")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """A block run in a transaction (psycopg 3's ``transaction()``)::

            with conn.transaction():
                cur.execute(...)

        Outside a transaction the block starts one (``BEGIN``, in autocommit mode too) and
        commits it at its end; inside one (an open transaction, or another block) it is a
        savepoint, released at its end. An exception rolls the block back (to its savepoint)
        and propagates. If a statement failed inside the block and its error was caught, the
        block cannot commit: it is rolled back and raises InternalError. commit() and
        rollback() inside a block raise ProgrammingError."""
        with self._lock:
            self._check()
            self._end_stream()
            statement = self._tx_enter()
            try:
                self._control(statement)
            except BaseException:
                self._tx_stack.pop()
                raise
        ok = False
        try:
            yield
            ok = True
        finally:
            with self._lock:
                closing, lost = self._tx_exit(failed=not ok)
                if closing is not None:
                    self._end_stream()
                    if ok:
                        self._control(closing)
                    else:
                        try:
                            self._control(closing)
                        except errors.Error:
                            pass  # the block's own exception matters more
        if lost:
            raise self._lost_work()

    # -- two-phase commit (PEP 249's TPC extension; the server needs max_prepared_transactions)

    def tpc_begin(self, xid: Any) -> None:
        """Begins a two-phase transaction with this id (from ``xid()``); not in autocommit
        mode, and outside a transaction."""
        with self._lock:
            xid = self._tpc_begin_check(xid)
            self._end_stream()
            self._control("BEGIN")
            self._tpc = (xid, False)

    def tpc_prepare(self) -> None:
        """PREPARE TRANSACTION: the transaction survives this session (and a server
        restart) until tpc_commit or tpc_rollback, here or from another connection."""
        with self._lock:
            sql = self._tpc_prepare_sql()
            self._end_stream()
            xid = self._tpc[0] if self._tpc else None
            try:
                self._control(sql)
            except errors.Error:
                self._tpc = None  # the server rolled the transaction back
                raise
            assert xid is not None
            self._tpc = (xid, True)

    def tpc_commit(self, xid: Any = None) -> None:
        """Commits the two-phase transaction (one phase if it was not prepared); with ``xid``,
        a prepared transaction found by ``tpc_recover()``."""
        self._tpc_end(xid, commit=True)

    def tpc_rollback(self, xid: Any = None) -> None:
        """Rolls the two-phase transaction back; with ``xid``, a recovered one."""
        self._tpc_end(xid, commit=False)

    def _tpc_end(self, xid: Any, commit: bool) -> None:
        with self._lock:
            sql, own = self._tpc_end_sql(xid, commit)
            self._end_stream()
            try:
                self._control(sql)
            finally:
                if own:
                    self._tpc = None

    def tpc_recover(self) -> list[Xid]:
        """The transactions prepared in this database and not yet ended, as Xid objects
        (with ``prepared``, ``owner``, ``database``). The connection's transaction state is
        left as it was."""
        with self._lock:
            self._check()
            idle = self._session.tx_status == "idle"
            rows = self.cursor().execute(RECOVER_SQL).fetchall()
            if idle and self._session.tx_status != "idle":
                self._control("ROLLBACK")
        return recovered(rows)

    def commit(self) -> None:
        """Commits the current transaction (nothing to do outside one)."""
        with self._lock:
            self._check()
            self._no_tx_block("commit")
            self._no_tpc("commit")
            self._end_stream()
            if self._session.tx_status != "idle":
                self._control("COMMIT")

    def rollback(self) -> None:
        """Rolls the current transaction back (nothing to do outside one)."""
        with self._lock:
            self._check()
            self._no_tx_block("rollback")
            self._no_tpc("rollback")
            self._end_stream()
            if self._session.tx_status != "idle":
                self._control("ROLLBACK")

    def cancel(self) -> None:
        """Asks the server to cancel the statement running on this connection (from another
        thread); that statement then raises QueryCanceledError. Does not take the
        connection's lock."""
        if self.closed:
            raise InterfaceError("the connection is closed")
        self._session.cancel()

    def close(self) -> None:
        """Closes the connection; an open transaction is rolled back by the server. Closing
        twice is allowed."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._streaming = None
            self._session.terminate()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self.closed:
            return
        if exc_type is None:
            self.commit()
        else:
            try:
                self.rollback()
            except errors.Error:
                pass  # the original exception matters more
