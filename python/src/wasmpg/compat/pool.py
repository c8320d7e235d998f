"""psycopg2's ``pool`` module: ``SimpleConnectionPool`` (one thread) and
``ThreadedConnectionPool`` (a lock around every call), keeping ``minconn`` idle connections
and opening at most ``maxconn``."""

from __future__ import annotations

import threading
from typing import Any, Optional

from .. import errors
from ._connection import TRANSACTION_STATUS_IDLE, TRANSACTION_STATUS_UNKNOWN, connect

__all__ = ["PoolError", "AbstractConnectionPool", "SimpleConnectionPool", "ThreadedConnectionPool"]


class PoolError(errors.Error):
    """The pool is exhausted or closed, or a connection that is not the pool's came back."""


class AbstractConnectionPool:
    """The pool's logic; ``args``/``kwargs`` are `connect()`'s."""

    def __init__(self, minconn: int, maxconn: int, *args: Any, **kwargs: Any) -> None:
        self.minconn = int(minconn)
        self.maxconn = int(maxconn)
        self.closed = False
        self._args = args
        self._kwargs = kwargs
        self._pool: list[Any] = []
        self._used: dict[Any, Any] = {}
        self._rused: dict[int, Any] = {}  # id(conn) -> key
        self._keys = 0
        for _ in range(self.minconn):
            self._connect()

    def _connect(self, key: Any = None) -> Any:
        conn = connect(*self._args, **self._kwargs)
        if key is not None:
            self._used[key] = conn
            self._rused[id(conn)] = key
        else:
            self._pool.append(conn)
        return conn

    def _getkey(self) -> int:
        self._keys += 1
        return self._keys

    def _getconn(self, key: Any = None) -> Any:
        if self.closed:
            raise PoolError("connection pool is closed")
        if key is None:
            key = self._getkey()
        if key in self._used:
            return self._used[key]
        if self._pool:
            conn = self._pool.pop()
            self._used[key] = conn
            self._rused[id(conn)] = key
            return conn
        if len(self._used) == self.maxconn:
            raise PoolError("connection pool exhausted")
        return self._connect(key)

    def _putconn(self, conn: Any, key: Any = None, close: bool = False) -> None:
        if self.closed:
            raise PoolError("connection pool is closed")
        if key is None:
            key = self._rused.get(id(conn))
            if key is None:
                raise PoolError("trying to put unkeyed connection")
        if len(self._pool) < self.minconn and not close:
            if not conn.closed:
                status = conn.info.transaction_status
                if status == TRANSACTION_STATUS_UNKNOWN:
                    conn.close()
                elif status != TRANSACTION_STATUS_IDLE:
                    conn.rollback()
                    self._pool.append(conn)
                else:
                    self._pool.append(conn)
        else:
            conn.close()
        if not self.closed or key in self._used:
            self._used.pop(key, None)
            self._rused.pop(id(conn), None)

    def _closeall(self) -> None:
        if self.closed:
            raise PoolError("connection pool is closed")
        for conn in self._pool + list(self._used.values()):
            try:
                conn.close()
            except errors.Error:
                pass
        self.closed = True


class SimpleConnectionPool(AbstractConnectionPool):
    """A pool for a single-threaded program."""

    def getconn(self, key: Any = None) -> Any:
        return self._getconn(key)

    def putconn(self, conn: Any, key: Any = None, close: bool = False) -> None:
        self._putconn(conn, key, close)

    def closeall(self) -> None:
        self._closeall()


class ThreadedConnectionPool(AbstractConnectionPool):
    """A pool shared by threads."""

    def __init__(self, minconn: int, maxconn: int, *args: Any, **kwargs: Any) -> None:
        super().__init__(minconn, maxconn, *args, **kwargs)
        self._lock = threading.Lock()

    def getconn(self, key: Any = None) -> Any:
        with self._lock:
            return self._getconn(key)

    def putconn(self, conn: Optional[Any] = None, key: Any = None, close: bool = False) -> None:
        with self._lock:
            self._putconn(conn, key, close)

    def closeall(self) -> None:
        with self._lock:
            self._closeall()
