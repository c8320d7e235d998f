"""Connections (PEP 249)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any, Callable, NamedTuple, Optional

from . import errors
from ._session import Session, Sink
from .cursor import Cursor
from .errors import Diagnostic, InterfaceError, ProgrammingError


class Notify(NamedTuple):
    """A LISTEN/NOTIFY notification (psycopg's name and fields)."""

    pid: int
    channel: str
    payload: str


__all__ = ["Connection"]


class Connection:
    """A connection to one PostgreSQL server, through one sandboxed guest instance.

    Transactions work as in psycopg2: with ``autocommit`` False (the default) the driver sends
    ``BEGIN`` before the first statement of a transaction; ``commit()`` and ``rollback()`` end
    it. As a context manager the connection commits on success and rolls back on an exception,
    and stays open. Every method is serialised by a per-connection lock (threadsafety 2), but a
    connection runs one statement at a time.
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
        self._lock = threading.RLock()
        self._closed = False
        self._streaming: Optional[Cursor] = None

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
        with self._lock:
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

    # -- PEP 249 --

    def _check(self) -> None:
        if self.closed:
            raise InterfaceError("the connection is closed")

    def cursor(self, name: Optional[str] = None) -> Cursor:
        """A client-side cursor, or with ``name`` a streaming one (bounded memory; see
        :mod:`wasmpg.cursor`)."""
        self._check()
        if name is not None and not isinstance(name, str):
            raise ProgrammingError("the cursor name must be a string")
        return Cursor(self, name)

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

    def _before_statement(self, cursor: Cursor) -> None:
        """Drains a streamed result and opens the transaction if needed."""
        self._check()
        self._end_stream()
        if not self._autocommit and self._session.tx_status == "idle":
            self._control("BEGIN")

    def commit(self) -> None:
        """Commits the current transaction (nothing to do outside one)."""
        with self._lock:
            self._check()
            self._end_stream()
            if self._session.tx_status != "idle":
                self._control("COMMIT")

    def rollback(self) -> None:
        """Rolls the current transaction back (nothing to do outside one)."""
        with self._lock:
            self._check()
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
        return "<wasmpg.Connection %s>" % ("closed" if self.closed else "open")
