"""Pools asyncio connections: `AsyncConnectionPool`, psycopg_pool's pool for `AsyncConnection`.

The names and the behaviour are psycopg_pool's (psycopg 3), a subset::

    async with AsyncConnectionPool("host=... dbname=...", min_size=2, max_size=10,
                                   check=AsyncConnectionPool.check_connection) as pool:
        async with pool.connection() as conn:   # commits at the end, rolls back on an exception
            await conn.execute("insert into t values (%s)", (1,))

* ``open()`` starts ``min_size`` connections in the background; ``open(wait=True)`` and
  ``wait()`` wait until they exist. ``async with`` opens the pool and closes it.
* ``getconn()`` hands out an idle connection (the most recently returned one) or, while fewer
  than ``max_size`` exist, a new one; otherwise the request waits, in line (first come, first
  served), for a connection returned by ``putconn()``, and fails with `PoolTimeout` after
  ``timeout`` seconds.
* A connection handed out is checked first by the ``check`` callback, if one is given
  (`AsyncConnectionPool.check_connection` is the usual one): a failed check discards it and
  the request goes on with another one, or a new one.
* ``putconn()`` puts a connection back: one returned inside a transaction, or with a result
  still unread, is rolled back; then the ``reset`` callback runs. A connection that is closed,
  or that this cleaning fails on, is discarded, and a replacement is opened in the background
  while fewer than ``min_size`` connections exist.
* Connections older than ``max_lifetime`` (less up to 5%, so that they do not all expire at
  once) and, beyond ``min_size``, connections idle for ``max_idle`` seconds are closed (by a
  background task, and when handed out or returned) and replaced up to ``min_size``.
* A connection attempt that fails is retried with exponential backoff (1 s, doubling) for up
  to ``reconnect_timeout`` seconds; then the attempt is given up and ``reconnect_failed(pool)``
  is called.

Everything runs on the event loop the pool was opened in (the pool is not thread-safe, and its
connections are not shared between loops). The maintenance work runs in asyncio tasks the pool
owns; ``close()`` ends them.

Not implemented from psycopg_pool: the sync ``ConnectionPool``, the null pools,
``connection_class``, ``num_workers`` (each background job is its own task), ``drain()`` and
the ``max_size`` growth being one connection at a time (the pool opens as many connections at
once as requests wait, up to ``max_size``).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import math
import random
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Coroutine
from time import monotonic
from typing import Any, Callable, Optional

from .connection_async import AsyncConnection
from .errors import InterfaceError, OperationalError, ProgrammingError

__all__ = ["AsyncConnectionPool", "PoolClosed", "PoolTimeout", "TooManyRequests"]

logger = logging.getLogger("wasmpg.pool")

#: ``configure``, ``check`` and ``reset``: coroutine functions taking the connection.
ConnectionCallback = Callable[[AsyncConnection], Awaitable[None]]
#: ``reconnect_failed``: a function (or coroutine function) taking the pool.
FailedCallback = Callable[["AsyncConnectionPool"], Any]

# The counters of get_stats() (psycopg_pool's names); the measures are added when asked for.
_COUNTERS = (
    "requests_num",
    "requests_queued",
    "requests_wait_ms",
    "requests_errors",
    "usage_ms",
    "returns_bad",
    "connections_num",
    "connections_ms",
    "connections_errors",
    "connections_lost",
)

# Reconnection backoff (psycopg_pool's): the first delay, its jitter, and the growth factor.
_INITIAL_DELAY = 1.0
_DELAY_JITTER = 0.1
_DELAY_BACKOFF = 2.0


class PoolTimeout(OperationalError):
    """No connection could be had from the pool in time."""


class PoolClosed(OperationalError):
    """The pool is closed, or not open yet."""


class TooManyRequests(OperationalError):
    """More requests than ``max_waiting`` are already waiting for a connection."""


class _Entry:
    """A connection of the pool and its times (``time.monotonic()`` values)."""

    __slots__ = ("conn", "expire_at", "idle_since")

    def __init__(self, conn: AsyncConnection, expire_at: float) -> None:
        self.conn = conn
        self.expire_at = expire_at
        self.idle_since = 0.0


def _check_size(min_size: Any, max_size: Any) -> tuple[int, int]:
    if not isinstance(min_size, int) or isinstance(min_size, bool) or min_size < 0:
        raise ProgrammingError("min_size must be a non-negative integer")
    if max_size is None:
        max_size = min_size
    if not isinstance(max_size, int) or isinstance(max_size, bool):
        raise ProgrammingError("max_size must be an integer or None")
    if max_size < min_size:
        raise ProgrammingError("max_size must be greater than or equal to min_size")
    if max_size == 0:
        raise ProgrammingError("max_size must be at least 1 (min_size and max_size are 0)")
    return min_size, max_size


def _check_seconds(name: str, value: Any, zero_ok: bool = False) -> float:
    if (
        not isinstance(value, (int, float))
        or isinstance(value, bool)
        or math.isnan(value)
        or value < 0
        or (value == 0 and not zero_ok)
    ):
        raise ProgrammingError(
            "%s must be a %s number of seconds" % (name, "non-negative" if zero_ok else "positive")
        )
    return float(value)


def _check_callback(name: str, value: Any) -> None:
    if value is not None and not callable(value):
        raise ProgrammingError("%s must be callable or None" % name)


class AsyncConnectionPool:
    """A pool of `AsyncConnection` (psycopg_pool's ``AsyncConnectionPool``).

    ``conninfo`` and ``kwargs`` are what each connection is opened with:
    ``await AsyncConnection.connect(conninfo, **kwargs)`` (`wasmpg.connect`'s arguments: the
    policies, limits, ``autocommit``, libpq keywords).

    ``min_size`` connections are kept open, up to ``max_size`` (default ``min_size``) while
    requests need them. ``timeout``: the default seconds ``getconn()`` waits.
    ``max_waiting``: how many requests may wait at once (0: no limit; beyond it
    `TooManyRequests`). ``max_lifetime``: seconds after which a connection is replaced.
    ``max_idle``: seconds after which an idle connection beyond ``min_size`` is closed.
    ``reconnect_timeout``: how long a failing connection attempt is retried before
    ``reconnect_failed(pool)`` is called.

    ``configure(conn)`` runs on each new connection, ``check(conn)`` on each connection before
    it is handed out, ``reset(conn)`` on each connection returned; all three are coroutine
    functions, and must leave the connection idle (outside a transaction).

    With ``open=True`` the pool opens at once, which needs a running event loop; otherwise
    ``await pool.open()`` or ``async with pool`` opens it. A closed pool cannot be reopened.
    Bad arguments raise ProgrammingError.
    """

    _num_pool = 0

    def __init__(
        self,
        conninfo: str = "",
        *,
        kwargs: Optional[dict[str, Any]] = None,
        min_size: int = 4,
        max_size: Optional[int] = None,
        open: bool = False,  # psycopg_pool's name, shadowing the builtin
        configure: Optional[ConnectionCallback] = None,
        check: Optional[ConnectionCallback] = None,
        reset: Optional[ConnectionCallback] = None,
        name: Optional[str] = None,
        timeout: float = 30.0,
        max_waiting: int = 0,
        max_lifetime: float = 60 * 60.0,
        max_idle: float = 10 * 60.0,
        reconnect_timeout: float = 5 * 60.0,
        reconnect_failed: Optional[FailedCallback] = None,
    ) -> None:
        if not isinstance(conninfo, str):
            raise ProgrammingError("conninfo must be a string")
        if kwargs is not None and not isinstance(kwargs, dict):
            raise ProgrammingError("kwargs must be a dict of connection arguments or None")
        min_size, max_size = _check_size(min_size, max_size)
        if not isinstance(max_waiting, int) or isinstance(max_waiting, bool) or max_waiting < 0:
            raise ProgrammingError("max_waiting must be a non-negative integer")
        for cb_name, cb in (
            ("configure", configure),
            ("check", check),
            ("reset", reset),
            ("reconnect_failed", reconnect_failed),
        ):
            _check_callback(cb_name, cb)
        if name is None:
            AsyncConnectionPool._num_pool += 1
            name = "pool-%d" % AsyncConnectionPool._num_pool
        elif not isinstance(name, str):
            raise ProgrammingError("name must be a string or None")

        self.conninfo = conninfo
        self.kwargs: dict[str, Any] = dict(kwargs or {})
        self.name = name
        self.timeout = _check_seconds("timeout", timeout, zero_ok=True)
        self.max_waiting = max_waiting
        self.max_lifetime = _check_seconds("max_lifetime", max_lifetime)
        self.max_idle = _check_seconds("max_idle", max_idle)
        self.reconnect_timeout = _check_seconds("reconnect_timeout", reconnect_timeout, True)
        self._min_size = min_size
        self._max_size = max_size
        self._configure = configure
        self._check = check
        self._reset = reset
        self._reconnect_failed = reconnect_failed

        # Every connection is in exactly one place: being opened (counted in _connecting),
        # idle (in _idle, the most recently returned last), handed out (in _out), or in
        # between (being checked or cleaned). _nconns counts them all.
        self._nconns = 0
        self._connecting = 0
        self._idle: deque[_Entry] = deque()
        self._out: dict[AsyncConnection, _Entry] = {}
        # The requests waiting for a connection, first come first served.
        self._waiting: deque[asyncio.Future[_Entry]] = deque()
        # wait(): resolved once min_size connections exist.
        self._fill_waiters: list[asyncio.Future[None]] = []
        self._stats = dict.fromkeys(_COUNTERS, 0)

        self._opened = False
        self._closed = True
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._tasks: set[asyncio.Task[None]] = set()
        # Created in the loop at open(): set by close() (ends the backoff sleeps), and to wake
        # the maintenance task when it must run before the time it chose.
        self._closing: Optional[asyncio.Event] = None
        self._wake: Optional[asyncio.Event] = None
        self._maint_due = math.inf

        if open:
            self._open()

    # -- properties --

    @property
    def min_size(self) -> int:
        """The number of connections the pool keeps open."""
        return self._min_size

    @property
    def max_size(self) -> int:
        """The most connections the pool opens."""
        return self._max_size

    @property
    def closed(self) -> bool:
        """True unless the pool is open (before ``open()`` and after ``close()``)."""
        return self._closed

    def __repr__(self) -> str:
        state = "open" if not self._closed else ("closed" if self._opened else "not open")
        return "<wasmpg.pool.AsyncConnectionPool %r %s>" % (self.name, state)

    # -- opening and closing --

    async def open(self, wait: bool = False, timeout: float = 30.0) -> None:
        """Opens the pool: ``min_size`` connections are opened in the background. With
        ``wait``, waits until they exist (see `wait`). Opening an open pool does nothing; a
        closed pool cannot be reopened (PoolClosed)."""
        self._open()
        if wait:
            await self.wait(timeout)

    def _open(self) -> None:
        if not self._closed:
            return
        if self._opened:
            raise PoolClosed("the pool %r was closed: a closed pool cannot be reopened" % self.name)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise InterfaceError(
                "opening the pool needs a running event loop: create it with open=False and "
                "`await pool.open()` (or `async with pool`) inside a coroutine"
            ) from None
        self._loop = loop
        self._closing = asyncio.Event()
        self._wake = asyncio.Event()
        self._closed = False
        self._opened = True
        self._adjust()
        self._spawn(self._maintain(), "maintenance")

    async def wait(self, timeout: float = 30.0) -> None:
        """Waits until ``min_size`` connections exist (opened; idle or in use). After
        ``timeout`` seconds the pool is closed and PoolTimeout raised (psycopg_pool's
        behaviour)."""
        self._check_usable()
        timeout = _check_seconds("timeout", timeout, zero_ok=True)
        if self._filled():
            return
        assert self._loop is not None
        fut: asyncio.Future[None] = self._loop.create_future()
        self._fill_waiters.append(fut)
        try:
            await asyncio.wait((fut,), timeout=timeout)
        finally:
            if fut in self._fill_waiters:
                self._fill_waiters.remove(fut)
        if fut.done() and not fut.cancelled():
            fut.result()  # PoolClosed if the pool was closed meanwhile
            return
        fut.cancel()
        message = (
            "pool %r: %d connections not open after %g seconds (%d open): the pool is closed"
            % (
                self.name,
                self._min_size,
                timeout,
                self._nconns - self._connecting,
            )
        )
        await self.close()
        raise PoolTimeout(message)

    async def close(self, timeout: float = 5.0) -> None:
        """Closes the pool: the idle connections are closed, waiting requests fail with
        PoolClosed, and the background tasks are given ``timeout`` seconds to end (then
        cancelled). Connections in use are closed when they are returned. Closing a closed
        pool does nothing."""
        timeout = _check_seconds("timeout", timeout, zero_ok=True)
        if self._closed:
            return
        self._closed = True
        waiting, self._waiting = self._waiting, deque()
        for fut in waiting:
            if not fut.done():
                fut.set_exception(PoolClosed("the pool %r is closed" % self.name))
        filling, self._fill_waiters = self._fill_waiters, []
        for fill in filling:
            if not fill.done():
                fill.set_exception(PoolClosed("the pool %r is closed" % self.name))
        idle, self._idle = self._idle, deque()
        self._nconns -= len(idle)
        assert self._closing is not None and self._wake is not None
        self._closing.set()
        self._wake.set()
        for entry in idle:
            await self._close_conn(entry.conn)
        # A callback running in one of the pool's tasks may close the pool: not waited for.
        current = asyncio.current_task()
        tasks = {t for t in self._tasks if t is not current}
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout)
            if pending:
                logger.warning(
                    "pool %r: %d background tasks still running after %g seconds: cancelled",
                    self.name,
                    len(pending),
                    timeout,
                )
                for task in pending:
                    task.cancel()

    async def __aenter__(self) -> AsyncConnectionPool:
        """Opens the pool (without waiting for its connections)."""
        await self.open()
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        """Closes the pool."""
        await self.close()

    # -- getting and returning connections --

    @contextlib.asynccontextmanager
    async def connection(self, timeout: Optional[float] = None) -> AsyncIterator[AsyncConnection]:
        """A connection for the block (``async with pool.connection() as conn:``), returned to
        the pool at its end. If the block ends normally inside a transaction, the transaction
        is committed; if it raises, it is rolled back (when the connection is returned)."""
        conn = await self.getconn(timeout)
        t0 = monotonic()
        try:
            yield conn
            if not conn.closed and conn.transaction_status != "idle":
                await conn.commit()
        finally:
            self._stats["usage_ms"] += int(1000.0 * (monotonic() - t0))
            await self.putconn(conn)

    async def getconn(self, timeout: Optional[float] = None) -> AsyncConnection:
        """Takes a connection from the pool; give it back with ``putconn()``. Waits (in line
        with the other requests) while ``max_size`` connections are in use; after ``timeout``
        seconds (default: the pool's ``timeout``) raises PoolTimeout. A closed pool raises
        PoolClosed."""
        self._stats["requests_num"] += 1
        self._check_usable()
        if timeout is None:
            timeout = self.timeout
        else:
            timeout = _check_seconds("timeout", timeout, zero_ok=True)
        deadline = monotonic() + timeout
        while True:
            entry = self._idle.pop() if self._idle else await self._queue(deadline, timeout)
            if not await self._usable(entry, self._check):
                continue
            if self._closed:
                await self._discard(entry)
                raise PoolClosed("the pool %r is closed" % self.name)
            self._out[entry.conn] = entry
            return entry.conn

    async def putconn(self, conn: AsyncConnection) -> None:
        """Gives a connection back to the pool. If it is inside a transaction (or has a result
        still unread) it is rolled back; then ``reset`` runs. A connection that is closed or
        cannot be cleaned is discarded (and replaced). A connection the pool did not hand out
        raises ProgrammingError."""
        entry = self._out.pop(conn, None)
        if entry is None:
            if any(e.conn is conn for e in self._idle):
                raise ProgrammingError(
                    "the connection was already returned to the pool %r" % self.name
                )
            raise ProgrammingError("the connection does not come from the pool %r" % self.name)
        if self._closed:
            await self._discard(entry)
            return
        try:
            ok = await self._clean(conn)
        except BaseException:  # cancelled: the state of the connection is unknown
            await self._discard(entry)
            raise
        if not ok:
            self._stats["returns_bad"] += 1
            await self._discard(entry)
        elif self._closed or entry.expire_at <= monotonic() or self._nconns > self._max_size:
            await self._discard(entry)
        else:
            self._deliver(entry)

    @staticmethod
    async def check_connection(conn: AsyncConnection) -> None:
        """A ``check`` callback: runs an empty query (one round trip, outside a transaction);
        raises if the connection does not work."""
        if conn.autocommit:
            await conn.execute("")
            return
        conn.autocommit = True
        try:
            await conn.execute("")
        finally:
            if not conn.closed:
                conn.autocommit = False

    async def check(self) -> None:
        """Checks every idle connection now (with the ``check`` callback, else
        `check_connection`); broken ones are discarded and replaced."""
        self._check_usable()
        entries, self._idle = deque(self._idle), deque()
        try:
            while entries:
                entry = entries.popleft()
                if await self._usable(entry, self._check or self.check_connection):
                    if self._closed:
                        await self._discard(entry)
                    else:
                        self._deliver(entry)
        finally:  # cancelled: the connections not checked yet go back
            while entries:
                entry = entries.popleft()
                if self._closed:
                    await self._discard(entry)
                else:
                    self._deliver(entry)

    async def resize(self, min_size: int, max_size: Optional[int] = None) -> None:
        """Changes ``min_size`` and ``max_size`` (default: ``min_size``). Growing opens
        connections in the background; shrinking closes idle connections beyond the new
        ``max_size`` now, those in use when they are returned, and those beyond ``min_size``
        after ``max_idle``."""
        min_size, max_size = _check_size(min_size, max_size)
        self._min_size, self._max_size = min_size, max_size
        if self._closed:
            return
        extra: list[_Entry] = []
        while self._nconns > max_size and self._idle:
            extra.append(self._idle.popleft())
            self._nconns -= 1
        self._adjust()
        self._notify_filled()
        self._wake_maintenance()
        for entry in extra:
            await self._close_conn(entry.conn)

    # -- statistics --

    def get_stats(self) -> dict[str, int]:
        """The pool's counters and measures (psycopg_pool's names): ``pool_min``,
        ``pool_max``, ``pool_size`` (connections open, in use or being opened),
        ``pool_available`` (idle), ``requests_waiting``, ``requests_num``,
        ``requests_queued``, ``requests_wait_ms``, ``requests_errors`` (timeouts),
        ``usage_ms``, ``returns_bad``, ``connections_num`` (attempts), ``connections_ms``,
        ``connections_errors`` and ``connections_lost`` (failed checks)."""
        stats = dict(self._stats)
        stats.update(self._measures())
        return stats

    def pop_stats(self) -> dict[str, int]:
        """`get_stats`, then the counters are reset to zero."""
        stats = self.get_stats()
        self._stats = dict.fromkeys(_COUNTERS, 0)
        return stats

    def _measures(self) -> dict[str, int]:
        return {
            "pool_min": self._min_size,
            "pool_max": self._max_size,
            "pool_size": self._nconns,
            "pool_available": len(self._idle),
            "requests_waiting": len(self._waiting),
        }

    # -- internals: requests --

    def _check_usable(self) -> None:
        if self._closed:
            if self._opened:
                raise PoolClosed("the pool %r is closed" % self.name)
            raise PoolClosed(
                "the pool %r is not open yet: `await pool.open()` or `async with pool`" % self.name
            )
        if asyncio.get_running_loop() is not self._loop:
            raise InterfaceError("the pool %r belongs to another event loop" % self.name)

    async def _queue(self, deadline: float, timeout: float) -> _Entry:
        """Waits in line for a connection, until ``deadline``."""
        if self.max_waiting and len(self._waiting) >= self.max_waiting:
            self._stats["requests_errors"] += 1
            raise TooManyRequests(
                "the pool %r has already %d requests waiting" % (self.name, len(self._waiting))
            )
        assert self._loop is not None
        fut: asyncio.Future[_Entry] = self._loop.create_future()
        self._waiting.append(fut)
        self._stats["requests_queued"] += 1
        self._adjust()
        t0 = monotonic()
        try:
            left = deadline - t0
            if left > 0:
                await asyncio.wait((fut,), timeout=left)
        except BaseException:
            self._leave_queue(fut)
            raise
        finally:
            self._stats["requests_wait_ms"] += int(1000.0 * (monotonic() - t0))
        if fut.done() and not fut.cancelled():
            return fut.result()  # or PoolClosed
        self._leave_queue(fut)
        self._stats["requests_errors"] += 1
        raise PoolTimeout(
            "couldn't get a connection from the pool %r after %g seconds" % (self.name, timeout)
        )

    def _leave_queue(self, fut: asyncio.Future[_Entry]) -> None:
        """A request stops waiting (timed out, cancelled): a connection already handed to it
        goes to the next one."""
        if fut.done():
            if not fut.cancelled():
                if fut.exception() is None:
                    self._deliver(fut.result())
            return
        fut.cancel()
        with contextlib.suppress(ValueError):
            self._waiting.remove(fut)

    def _deliver(self, entry: _Entry) -> None:
        """A usable connection: to the first waiting request, else into the idle set."""
        while self._waiting:
            fut = self._waiting.popleft()
            if not fut.done():
                fut.set_result(entry)
                return
        entry.idle_since = monotonic()
        self._idle.append(entry)
        due = entry.expire_at
        if len(self._idle) == 1 and self._nconns > self._min_size:
            due = min(due, entry.idle_since + self.max_idle)
        if due < self._maint_due:
            self._wake_maintenance()

    async def _usable(self, entry: _Entry, check: Optional[ConnectionCallback]) -> bool:
        """Whether a connection taken out of the idle set may be handed out; if not, it is
        discarded."""
        conn = entry.conn
        if conn.closed or conn.transaction_status != "idle" or conn._session.busy():
            self._stats["connections_lost"] += 1
            await self._discard(entry)
            return False
        if entry.expire_at <= monotonic():
            await self._discard(entry)
            return False
        if check is None:
            return True
        try:
            await check(conn)
            if not conn.closed and conn.transaction_status != "idle":
                await conn.rollback()
        except Exception as e:
            logger.warning(
                "pool %r: discarding a connection that failed its check: %s", self.name, e
            )
            self._stats["connections_lost"] += 1
            await self._discard(entry)
            return False
        except BaseException:
            await self._discard(entry)
            raise
        if conn.closed:
            self._stats["connections_lost"] += 1
            await self._discard(entry)
            return False
        return True

    async def _clean(self, conn: AsyncConnection) -> bool:
        """Brings a returned connection back to idle: rollback, then ``reset``. False if the
        connection cannot be used again."""
        if conn.closed:
            return False
        if conn.transaction_status != "idle" or conn._session.busy():
            try:
                await conn.rollback()
            except Exception as e:
                logger.warning(
                    "pool %r: rolling back a returned connection failed: %s", self.name, e
                )
                return False
            if not _idle(conn):
                return False
        if self._reset is not None:
            try:
                await self._reset(conn)
            except Exception as e:
                logger.warning("pool %r: the reset callback failed: %s", self.name, e)
                return False
            if not _idle(conn):
                logger.warning(
                    "pool %r: the reset callback left the connection %s: discarded",
                    self.name,
                    "closed" if conn.closed else conn.transaction_status,
                )
                return False
        return True

    # -- internals: connections --

    def _filled(self) -> bool:
        return self._nconns - self._connecting >= self._min_size

    def _notify_filled(self) -> None:
        if self._fill_waiters and self._filled():
            waiters, self._fill_waiters = self._fill_waiters, []
            for fut in waiters:
                if not fut.done():
                    fut.set_result(None)

    def _adjust(self) -> None:
        """Starts connection attempts: up to ``min_size`` connections, and one more for each
        request waiting that no attempt serves, up to ``max_size``."""
        if self._closed:
            return
        while self._nconns < self._min_size or (
            self._nconns < self._max_size and len(self._waiting) > self._connecting
        ):
            self._nconns += 1
            self._connecting += 1
            if self._nconns > self._min_size:
                self._wake_maintenance()  # max_idle now applies
            self._spawn(self._add_connection(), "connect")

    async def _discard(self, entry: _Entry) -> None:
        """Forgets a connection and closes it; a replacement is started if needed."""
        self._nconns -= 1
        self._adjust()
        await self._close_conn(entry.conn)

    async def _close_conn(self, conn: AsyncConnection) -> None:
        try:
            await conn.close()
        except Exception as e:  # closing is best effort
            logger.debug("pool %r: closing a connection failed: %s", self.name, e)

    async def _add_connection(self) -> None:
        """One connection attempt (counted in ``_nconns`` and ``_connecting`` by `_adjust`),
        retried with backoff; the connection goes to a waiting request or the idle set."""
        conn: Optional[AsyncConnection] = None
        try:
            conn = await self._connect_retrying()
        finally:
            self._connecting -= 1
            if conn is None or self._closed:
                self._nconns -= 1
        if conn is None:
            if not self._closed:
                await self._call_reconnect_failed()
            return
        if self._closed:
            await self._close_conn(conn)
            return
        jitter = 1.0 - 0.05 * random.random()
        entry = _Entry(conn, monotonic() + self.max_lifetime * jitter)
        if self._nconns > self._max_size and not self._waiting:  # resize() shrank the pool
            await self._discard(entry)
            return
        self._deliver(entry)
        self._notify_filled()

    async def _connect_retrying(self) -> Optional[AsyncConnection]:
        """A new connection, or None once the attempts failed for ``reconnect_timeout``
        seconds or the pool was closed."""
        delay = 0.0
        give_up_at = 0.0
        while not self._closed:
            try:
                return await self._connect()
            except Exception as e:
                now = monotonic()
                logger.warning("pool %r: cannot connect: %s", self.name, e)
                if delay == 0.0:
                    give_up_at = now + self.reconnect_timeout
                    delay = _INITIAL_DELAY * (1.0 + _DELAY_JITTER * (2.0 * random.random() - 1.0))
                else:
                    delay *= _DELAY_BACKOFF
                if now >= give_up_at:
                    logger.warning(
                        "pool %r: connection attempts failed for %g seconds: given up",
                        self.name,
                        self.reconnect_timeout,
                    )
                    return None
                await self._sleep(min(delay, give_up_at - now))
        return None

    async def _connect(self) -> AsyncConnection:
        """Opens one connection and runs ``configure`` on it."""
        self._stats["connections_num"] += 1
        t0 = monotonic()
        try:
            conn = await AsyncConnection.connect(self.conninfo, **self.kwargs)
        except Exception:
            self._stats["connections_errors"] += 1
            raise
        self._stats["connections_ms"] += int(1000.0 * (monotonic() - t0))
        if self._configure is not None:
            try:
                await self._configure(conn)
                if not _idle(conn):
                    raise ProgrammingError(
                        "the configure callback left the connection %s: discarded"
                        % ("closed" if conn.closed else conn.transaction_status)
                    )
            except BaseException:
                self._stats["connections_errors"] += 1
                await self._close_conn(conn)
                raise
        return conn

    async def _call_reconnect_failed(self) -> None:
        if self._reconnect_failed is None:
            return
        try:
            result = self._reconnect_failed(self)
            if inspect.isawaitable(result):
                await result
        except Exception:
            logger.exception("pool %r: the reconnect_failed callback failed", self.name)

    # -- internals: background tasks --

    def _spawn(self, coro: Coroutine[Any, Any, None], what: str) -> None:
        assert self._loop is not None
        task = self._loop.create_task(coro, name="%s-%s" % (self.name, what))
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("pool %r: background task failed", self.name, exc_info=task.exception())

    async def _sleep(self, delay: float) -> None:
        """Sleeps ``delay`` seconds, or until the pool is closed."""
        assert self._closing is not None
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._closing.wait(), delay)

    def _wake_maintenance(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def _maintain(self) -> None:
        """The maintenance task: closes the idle connections past ``max_lifetime``, and those
        beyond ``min_size`` idle for ``max_idle``; sleeps until the next one is due (or it is
        woken)."""
        wake = self._wake
        assert wake is not None
        while not self._closed:
            wake.clear()
            try:
                expired = self._expire(monotonic())
            except Exception:  # never lose the task
                logger.exception("pool %r: maintenance failed", self.name)
                expired = []
            for entry in expired:
                await self._close_conn(entry.conn)
            left = self._maint_due - monotonic()
            if left <= 0:
                continue
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(wake.wait(), None if math.isinf(left) else left)

    def _expire(self, now: float) -> list[_Entry]:
        """Takes the connections due for closing out of the idle set (without waiting, so that
        the idle set does not change meanwhile) and sets when the next one is due."""
        drop = [e for e in self._idle if e.expire_at <= now]
        if drop:
            self._idle = deque(e for e in self._idle if e.expire_at > now)
        self._nconns -= len(drop)
        while (
            self._idle
            and self._nconns > self._min_size
            and self._idle[0].idle_since + self.max_idle <= now
        ):
            drop.append(self._idle.popleft())
            self._nconns -= 1
        if drop:
            logger.info("pool %r: closing %d expired or idle connections", self.name, len(drop))
        self._adjust()
        due = min((e.expire_at for e in self._idle), default=math.inf)
        if self._idle and self._nconns > self._min_size:
            due = min(due, self._idle[0].idle_since + self.max_idle)
        self._maint_due = due
        return drop


def _idle(conn: AsyncConnection) -> bool:
    """Whether a connection is open, outside a transaction, with nothing unread."""
    return not conn.closed and conn.transaction_status == "idle" and not conn._session.busy()
