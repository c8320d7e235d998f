"""AsyncConnectionPool against the real server: filling to min_size, the max_size bound, waiting
in line and timing out, health checks, cleaning returned connections, commit/rollback of
``connection()`` blocks, closing, resizing, statistics, callbacks, max_idle and max_lifetime,
and reconnection backoff. The pool's backends are counted in ``pg_stat_activity`` by their
``application_name`` (unique per test). Each test runs its own event loop (``asyncio.run``)."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from typing import Any, Callable

import pytest

import wasmpg
from wasmpg import AsyncConnection
from wasmpg.errors import InterfaceError, OperationalError, ProgrammingError
from wasmpg.pool import AsyncConnectionPool, PoolClosed, PoolTimeout, TooManyRequests


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def app_name() -> str:
    return "pooltest_" + uuid.uuid4().hex[:10]


def make_pool(cluster: Any, app: str, **kwargs: Any) -> AsyncConnectionPool:
    conn_kwargs = {"application_name": app, **kwargs.pop("kwargs", {})}
    return AsyncConnectionPool(cluster.dsn(), kwargs=conn_kwargs, **kwargs)


async def monitor(cluster: Any) -> AsyncConnection:
    return await AsyncConnection.connect(cluster.dsn(), autocommit=True)


async def fetch_one(conn: AsyncConnection, sql: str, params: Any = None) -> Any:
    cur = await conn.execute(sql, params)
    row = await cur.fetchone()
    assert row is not None
    return row[0]


async def backends(mon: AsyncConnection, app: str, active: bool = False) -> int:
    sql = "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
    if active:
        sql += " AND state = 'active'"
    return int(await fetch_one(mon, sql, (app,)))


async def backend_pids(mon: AsyncConnection, app: str) -> set[int]:
    cur = await mon.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s", (app,))
    return {row[0] for row in await cur.fetchall()}


async def eventually(probe: Callable[[], Any], timeout: float = 5.0) -> bool:
    """Polls the (async) probe until it is true or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        if await probe():
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on (connections are refused)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port


def test_arguments_are_checked():  # type: ignore[no-untyped-def]
    bad: list[dict[str, Any]] = [
        {"min_size": -1},
        {"min_size": 2, "max_size": 1},
        {"min_size": 0, "max_size": 0},
        {"min_size": 1.5},
        {"min_size": True},
        {"max_size": "3"},
        {"timeout": -1},
        {"timeout": float("nan")},
        {"max_idle": 0},
        {"max_lifetime": -5},
        {"reconnect_timeout": -1},
        {"max_waiting": -1},
        {"check": "select 1"},
        {"configure": 42},
        {"reset": object()},
        {"reconnect_failed": 1},
        {"name": 7},
        {"kwargs": ["application_name"]},
    ]
    for kwargs in bad:
        with pytest.raises(ProgrammingError):
            AsyncConnectionPool("host=localhost", **kwargs)
    with pytest.raises(ProgrammingError):
        AsyncConnectionPool(b"host=localhost")  # type: ignore[arg-type]
    pool = AsyncConnectionPool("host=localhost", min_size=2)
    assert (pool.min_size, pool.max_size, pool.closed) == (2, 2, True)
    assert pool.name.startswith("pool-")
    assert AsyncConnectionPool(name="x", min_size=0, max_size=1).name == "x"
    # Opening needs a running loop.
    with pytest.raises(InterfaceError, match="event loop"):
        AsyncConnectionPool("host=localhost", min_size=0, max_size=1, open=True)
    for cls in (PoolTimeout, PoolClosed, TooManyRequests):
        assert issubclass(cls, OperationalError)

    async def main() -> None:
        with pytest.raises(PoolClosed, match="not open"):
            await pool.getconn()
        with pytest.raises(PoolClosed, match="not open"):
            await pool.wait()
        with pytest.raises(ProgrammingError):
            await pool.resize(3, 1)

    run(main())


def test_open_fills_min_size(cluster):  # type: ignore[no-untyped-def]
    app = app_name()

    async def main() -> None:
        mon = await monitor(cluster)
        pool = make_pool(cluster, app, min_size=3)
        await pool.open(wait=True, timeout=10)
        assert not pool.closed
        assert await backends(mon, app) == 3
        stats = pool.get_stats()
        assert stats["pool_min"] == stats["pool_max"] == 3
        assert stats["pool_size"] == stats["pool_available"] == 3
        assert stats["connections_num"] == 3
        assert stats["connections_errors"] == 0
        assert stats["requests_waiting"] == 0
        await pool.open()  # opening an open pool does nothing
        await pool.close()
        assert pool.closed
        assert await eventually(lambda: _eq(backends(mon, app), 0))

        # async with: opens in the background (open=False), closes at the end.
        app2 = app_name()
        async with make_pool(cluster, app2, min_size=2) as pool2:
            assert not pool2.closed
            assert pool2.get_stats()["pool_size"] == 2  # being opened
            await pool2.wait(timeout=10)
            assert pool2.get_stats()["pool_available"] == 2
            assert await backends(mon, app2) == 2
        assert pool2.closed
        assert await eventually(lambda: _eq(backends(mon, app2), 0))

        # open=True inside a coroutine opens at once.
        app3 = app_name()
        pool3 = make_pool(cluster, app3, min_size=1, open=True)
        await pool3.wait(timeout=10)
        assert await backends(mon, app3) == 1
        await pool3.close()
        await mon.close()

    run(main())


async def _eq(value: Any, expected: Any) -> bool:
    return bool(await value == expected)


def test_max_size_bounds_concurrency(cluster):  # type: ignore[no-untyped-def]
    """10 tasks on a max_size=3 pool, each sleeping 0.2 s in the server: never more than 3
    backends busy at once, so 4 rounds."""
    app = app_name()

    async def main() -> None:
        mon = await monitor(cluster)
        async with make_pool(cluster, app, min_size=1, max_size=3) as pool:
            await pool.wait(timeout=10)

            async def work() -> None:
                async with pool.connection() as conn:
                    await conn.execute("SELECT pg_sleep(0.2)")

            peak = 0
            t0 = time.monotonic()
            tasks = [asyncio.ensure_future(work()) for _ in range(10)]
            while not all(t.done() for t in tasks):
                peak = max(peak, await backends(mon, app, active=True))
                await asyncio.sleep(0.02)
            await asyncio.gather(*tasks)
            elapsed = time.monotonic() - t0
            assert peak == 3
            assert elapsed >= 0.75, elapsed
            assert await backends(mon, app) == 3
            stats = pool.get_stats()
            assert stats["pool_size"] == 3
            assert stats["requests_num"] == 10
            assert stats["requests_queued"] >= 7
            assert stats["requests_errors"] == 0
            assert stats["usage_ms"] >= 10 * 200
        await mon.close()

    run(main())


def test_timeout_when_exhausted(cluster):  # type: ignore[no-untyped-def]
    app = app_name()

    async def main() -> None:
        async with make_pool(cluster, app, min_size=1, max_waiting=1) as pool:
            held = await pool.getconn()
            t0 = time.monotonic()
            with pytest.raises(PoolTimeout, match=r"after 0\.2 seconds"):
                await pool.getconn(timeout=0.2)
            assert 0.18 <= time.monotonic() - t0 < 2.0
            with pytest.raises(PoolTimeout):
                async with pool.connection(timeout=0):
                    pass
            stats = pool.get_stats()
            assert stats["requests_errors"] == 2
            assert stats["requests_waiting"] == 0

            # max_waiting=1: a second waiting request is refused at once.
            waiter = asyncio.ensure_future(pool.getconn(timeout=5))
            await asyncio.sleep(0.05)
            assert pool.get_stats()["requests_waiting"] == 1
            with pytest.raises(TooManyRequests):
                await pool.getconn(timeout=5)

            await pool.putconn(held)
            conn = await waiter
            assert conn is held  # the only connection, handed to the waiting request
            await pool.putconn(conn)
            async with pool.connection(timeout=0.2) as conn:
                assert await fetch_one(conn, "SELECT 1") == 1

    run(main())


def test_waiters_are_served_in_order(cluster):  # type: ignore[no-untyped-def]
    app = app_name()

    async def main() -> None:
        async with make_pool(cluster, app, min_size=1) as pool:
            held = await pool.getconn()
            order: list[int] = []

            async def request(i: int) -> None:
                async with pool.connection(timeout=5):
                    order.append(i)
                    await asyncio.sleep(0.01)

            tasks = []
            for i in range(5):
                tasks.append(asyncio.ensure_future(request(i)))
                await asyncio.sleep(0.01)
            assert pool.get_stats()["requests_waiting"] == 5
            await pool.putconn(held)
            await asyncio.gather(*tasks)
            assert order == [0, 1, 2, 3, 4]

    run(main())


def test_check_replaces_terminated_connection(cluster):  # type: ignore[no-untyped-def]
    """A backend terminated while its connection is idle in the pool: the check finds it, the
    request gets the other connection, and a replacement is opened."""
    app = app_name()

    async def main() -> None:
        mon = await monitor(cluster)
        pool = make_pool(cluster, app, min_size=2, check=AsyncConnectionPool.check_connection)
        async with pool:
            await pool.wait(timeout=10)
            conn = await pool.getconn()
            pid = conn.backend_pid
            await pool.putconn(conn)  # the most recently returned: handed out next
            assert await fetch_one(mon, "SELECT pg_terminate_backend(%s)", (pid,)) is True
            assert await eventually(lambda: _not_in(pid, backend_pids(mon, app)))

            async with pool.connection() as conn2:
                assert conn2.backend_pid != pid
                assert await fetch_one(conn2, "SELECT 41 + 1") == 42
                assert conn2.autocommit is False  # check_connection restored it
            stats = pool.get_stats()
            assert stats["connections_lost"] == 1
            assert await eventually(lambda: _eq(backends(mon, app), 2))
            assert await eventually(lambda: _true(pool.get_stats()["pool_available"] == 2))
            assert pool.get_stats()["connections_num"] == 3

            # pool.check(): the idle connections now, broken ones replaced.
            pids = await backend_pids(mon, app)
            victim = min(pids)
            await fetch_one(mon, "SELECT pg_terminate_backend(%s)", (victim,))
            assert await eventually(lambda: _not_in(victim, backend_pids(mon, app)))
            await pool.check()
            assert pool.get_stats()["connections_lost"] == 2
            await pool.wait(timeout=10)
            assert await eventually(lambda: _eq(backends(mon, app), 2))
            assert victim not in await backend_pids(mon, app)
        await mon.close()

    run(main())


async def _not_in(item: Any, coro: Any) -> bool:
    return item not in await coro


async def _true(value: bool) -> bool:
    return value


def test_returned_connection_is_rolled_back(cluster, table):  # type: ignore[no-untyped-def]
    app = app_name()

    async def main() -> None:
        mon = await monitor(cluster)
        await mon.execute("CREATE TABLE %s (a int)" % table)
        async with make_pool(cluster, app, min_size=1) as pool:
            conn = await pool.getconn()
            await conn.execute("INSERT INTO %s VALUES (1)" % table)
            assert conn.transaction_status == "in-transaction"
            await pool.putconn(conn)
            assert await fetch_one(mon, "SELECT count(*) FROM %s" % table) == 0
            again = await pool.getconn()
            assert again is conn  # the same connection, clean
            assert again.transaction_status == "idle"

            # A failed transaction.
            with pytest.raises(wasmpg.ProgrammingError):
                await again.execute("SELECT * FROM no_such_table")
            assert again.transaction_status == "failed"
            await pool.putconn(again)
            async with pool.connection() as conn:
                assert conn.transaction_status == "idle"
                assert await fetch_one(conn, "SELECT 1") == 1

            # A streamed result left unread (the session is busy).
            conn = await pool.getconn()
            sql = "SELECT g FROM generate_series(1, 100000) g"
            rows = conn.cursor().stream(sql)
            assert await rows.__anext__() == (1,)
            assert conn._session.busy()
            await pool.putconn(conn)
            async with pool.connection() as conn2:
                assert conn2 is conn and not conn2._session.busy()
                assert await fetch_one(conn2, "SELECT 2") == 2
            assert pool.get_stats()["returns_bad"] == 0
        await mon.close()

    run(main())


def test_connection_block_commits_or_rolls_back(cluster, table):  # type: ignore[no-untyped-def]
    app = app_name()

    async def main() -> None:
        mon = await monitor(cluster)
        await mon.execute("CREATE TABLE %s (a int)" % table)
        async with make_pool(cluster, app, min_size=1) as pool:
            async with pool.connection() as conn:
                await conn.execute("INSERT INTO %s VALUES (1)" % table)
            assert await fetch_one(mon, "SELECT count(*) FROM %s" % table) == 1
            with pytest.raises(ZeroDivisionError):
                async with pool.connection() as conn:
                    await conn.execute("INSERT INTO %s VALUES (2)" % table)
                    1 / 0  # noqa: B018
            assert await fetch_one(mon, "SELECT array_agg(a) FROM %s" % table) == [1]
            async with pool.connection() as conn:
                assert conn.transaction_status == "idle"
            assert pool.get_stats()["pool_available"] == 1
        await mon.close()

    run(main())


def test_closed_connection_is_replaced(cluster):  # type: ignore[no-untyped-def]
    app = app_name()

    async def main() -> None:
        mon = await monitor(cluster)
        async with make_pool(cluster, app, min_size=2) as pool:
            await pool.wait(timeout=10)
            conn = await pool.getconn()
            pid = conn.backend_pid
            await conn.close()
            await pool.putconn(conn)
            stats = pool.get_stats()
            assert stats["returns_bad"] == 1
            assert await eventually(lambda: _true(pool.get_stats()["pool_available"] == 2))
            assert pool.get_stats()["connections_num"] == 3
            pids = await backend_pids(mon, app)
            assert len(pids) == 2 and pid not in pids
        await mon.close()

    run(main())


def test_putconn_refuses_foreign_connections(cluster):  # type: ignore[no-untyped-def]
    app = app_name()

    async def main() -> None:
        async with (
            make_pool(cluster, app, min_size=1) as pool,
            make_pool(cluster, app, min_size=1) as other,
        ):
            stranger = await AsyncConnection.connect(cluster.dsn())
            with pytest.raises(ProgrammingError, match="does not come from"):
                await pool.putconn(stranger)
            await stranger.close()
            theirs = await other.getconn()
            with pytest.raises(ProgrammingError, match="does not come from"):
                await pool.putconn(theirs)
            await other.putconn(theirs)
            mine = await pool.getconn()
            await pool.putconn(mine)
            with pytest.raises(ProgrammingError, match="already returned"):
                await pool.putconn(mine)
            assert pool.get_stats()["pool_size"] == 1

    run(main())


def test_close(cluster):  # type: ignore[no-untyped-def]
    app = app_name()

    async def main() -> None:
        mon = await monitor(cluster)
        pool = make_pool(cluster, app, min_size=2)
        await pool.open(wait=True)
        held = await pool.getconn()
        held2 = await pool.getconn()
        waiter = asyncio.ensure_future(pool.getconn(timeout=10))
        await asyncio.sleep(0.05)
        await pool.close()
        with pytest.raises(PoolClosed):
            await waiter
        with pytest.raises(PoolClosed, match="is closed"):
            await pool.getconn()
        with pytest.raises(PoolClosed):
            async with pool.connection():
                pass
        with pytest.raises(PoolClosed):
            await pool.wait()
        # Connections in use work until returned; then they are closed.
        assert await backends(mon, app) == 2
        assert await fetch_one(held, "SELECT 1") == 1
        await pool.putconn(held)
        assert held.closed
        await held2.rollback()
        await pool.putconn(held2)
        assert held2.closed
        assert await eventually(lambda: _eq(backends(mon, app), 0))
        assert pool.get_stats()["pool_size"] == 0
        await pool.close()  # closing twice does nothing
        with pytest.raises(PoolClosed, match="cannot be reopened"):
            await pool.open()
        await mon.close()

    run(main())


def test_resize(cluster):  # type: ignore[no-untyped-def]
    app = app_name()

    async def main() -> None:
        mon = await monitor(cluster)
        async with make_pool(cluster, app, min_size=1) as pool:
            await pool.wait(timeout=10)
            await pool.resize(3, 5)
            assert (pool.min_size, pool.max_size) == (3, 5)
            await pool.wait(timeout=10)
            assert await backends(mon, app) == 3
            stats = pool.get_stats()
            assert (stats["pool_min"], stats["pool_max"], stats["pool_size"]) == (3, 5, 3)
            conns = [await pool.getconn() for _ in range(5)]
            assert await backends(mon, app) == 5
            with pytest.raises(PoolTimeout):
                await pool.getconn(timeout=0.1)
            # Shrinking: the connections beyond max_size are closed as they come back.
            await pool.resize(1, 2)
            for conn in conns:
                await pool.putconn(conn)
            assert sum(c.closed for c in conns) == 3
            stats = pool.get_stats()
            assert (stats["pool_size"], stats["pool_available"]) == (2, 2)
            assert await eventually(lambda: _eq(backends(mon, app), 2))
            # Shrinking below the idle connections closes them now.
            await pool.resize(1)
            assert pool.get_stats()["pool_size"] == 1
            assert await eventually(lambda: _eq(backends(mon, app), 1))
            with pytest.raises(ProgrammingError):
                await pool.resize(-1)
        await mon.close()

    run(main())


def test_stats(cluster):  # type: ignore[no-untyped-def]
    app = app_name()

    async def main() -> None:
        async with make_pool(cluster, app, min_size=1, max_size=2, name="stats") as pool:
            assert repr(pool) == "<wasmpg.pool.AsyncConnectionPool 'stats' open>"
            await pool.wait(timeout=10)
            a = await pool.getconn()
            b = await pool.getconn()  # a second connection is opened for it
            stats = pool.get_stats()
            assert stats["pool_min"] == 1 and stats["pool_max"] == 2
            assert stats["pool_size"] == 2 and stats["pool_available"] == 0
            assert stats["requests_num"] == 2 and stats["requests_queued"] == 1
            assert stats["connections_num"] == 2 and stats["connections_errors"] == 0
            await pool.putconn(a)
            assert pool.get_stats()["pool_available"] == 1
            await pool.putconn(b)
            async with pool.connection():
                await asyncio.sleep(0.05)
            stats = pool.pop_stats()
            assert stats["requests_num"] == 3 and stats["usage_ms"] >= 50
            stats = pool.get_stats()
            assert stats["requests_num"] == 0 and stats["usage_ms"] == 0
            assert stats["pool_size"] == 2 and stats["pool_available"] == 2
            expected = {
                "pool_min",
                "pool_max",
                "pool_size",
                "pool_available",
                "requests_waiting",
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
            }
            assert set(stats) == expected
        assert repr(pool) == "<wasmpg.pool.AsyncConnectionPool 'stats' closed>"

    run(main())


def test_configure_and_reset_callbacks(cluster):  # type: ignore[no-untyped-def]
    app = app_name()
    calls: list[str] = []
    fail_reset = [False]

    async def configure(conn: AsyncConnection) -> None:
        calls.append("configure")
        await conn.execute("SET work_mem = '5MB'")
        await conn.commit()

    async def reset(conn: AsyncConnection) -> None:
        calls.append("reset")
        if fail_reset[0]:
            raise RuntimeError("reset failed")
        conn.autocommit = False

    async def main() -> None:
        pool = make_pool(cluster, app, min_size=1, configure=configure, reset=reset)
        async with pool:
            async with pool.connection() as conn:
                assert calls == ["configure"]
                assert await fetch_one(conn, "SHOW work_mem") == "5MB"
                await conn.commit()
                conn.autocommit = True
                pid = conn.backend_pid
            assert calls == ["configure", "reset"]
            async with pool.connection() as conn:
                assert conn.autocommit is False  # reset restored it
                assert conn.backend_pid == pid
            assert calls == ["configure", "reset", "reset"]
            # A reset that fails discards the connection; a new one is configured.
            fail_reset[0] = True
            async with pool.connection():
                pass
            stats = pool.get_stats()
            assert stats["returns_bad"] == 1
            fail_reset[0] = False
            async with pool.connection() as conn:
                assert conn.backend_pid != pid
                assert await fetch_one(conn, "SHOW work_mem") == "5MB"
            assert calls.count("configure") == 2 == pool.get_stats()["connections_num"]

        # A configure leaving a transaction open: the connection is refused, and after
        # reconnect_timeout the attempt is given up.
        failed: list[AsyncConnectionPool] = []

        async def bad_configure(conn: AsyncConnection) -> None:
            await conn.execute("SELECT 1")

        bad = make_pool(
            cluster,
            app,
            min_size=1,
            configure=bad_configure,
            reconnect_timeout=0,
            reconnect_failed=failed.append,
        )
        async with bad:
            with pytest.raises(PoolTimeout):
                await bad.getconn(timeout=0.3)
            assert failed and failed[0] is bad
            assert bad.get_stats()["connections_errors"] >= 1

    run(main())


def test_max_idle_shrinks_to_min_size(cluster):  # type: ignore[no-untyped-def]
    app = app_name()

    async def main() -> None:
        mon = await monitor(cluster)
        async with make_pool(cluster, app, min_size=1, max_size=3, max_idle=0.3) as pool:
            conns = [await pool.getconn() for _ in range(3)]
            assert await backends(mon, app) == 3
            for conn in conns:
                await pool.putconn(conn)
            assert pool.get_stats()["pool_size"] == 3
            t0 = time.monotonic()
            assert await eventually(lambda: _true(pool.get_stats()["pool_size"] == 1))
            assert time.monotonic() - t0 >= 0.25
            assert await eventually(lambda: _eq(backends(mon, app), 1))
            # The connection kept is the most recently used one.
            assert not conns[-1].closed and conns[0].closed and conns[1].closed
            # min_size connections are never closed for being idle.
            await asyncio.sleep(0.4)
            assert pool.get_stats()["pool_size"] == 1
        await mon.close()

    run(main())


def test_max_lifetime_replaces_connections(cluster):  # type: ignore[no-untyped-def]
    app = app_name()

    async def main() -> None:
        mon = await monitor(cluster)
        async with make_pool(cluster, app, min_size=2, max_lifetime=0.4) as pool:
            await pool.wait(timeout=10)
            first = await backend_pids(mon, app)
            assert len(first) == 2

            async def replaced() -> bool:
                pids = await backend_pids(mon, app)
                return len(pids) == 2 and not pids & first

            assert await eventually(replaced)
            assert pool.get_stats()["connections_num"] >= 4
            # A connection returned after its lifetime is closed instead of kept.
            conn = await pool.getconn()
            await asyncio.sleep(0.45)
            await pool.putconn(conn)
            assert conn.closed
            async with pool.connection() as conn:
                assert await fetch_one(conn, "SELECT 1") == 1
        await mon.close()

    run(main())


def test_reconnect_backoff_and_failure_callback():  # type: ignore[no-untyped-def]
    """Connection attempts to a closed port: retried after about 1 s (no busy loop), given up
    after reconnect_timeout with reconnect_failed called; waiting requests time out."""
    dsn = "host=127.0.0.1 port=%d user=postgres dbname=x" % free_port()

    async def main() -> None:
        given_up: list[float] = []

        async def on_failure(pool: AsyncConnectionPool) -> None:
            given_up.append(time.monotonic())

        pool = AsyncConnectionPool(
            dsn, min_size=1, reconnect_timeout=1.0, reconnect_failed=on_failure
        )
        t0 = time.monotonic()
        await pool.open()
        with pytest.raises(PoolTimeout):
            await pool.getconn(timeout=0.3)
        # The request started no attempt of its own: the first one was still retrying.
        assert pool.get_stats()["connections_errors"] == 1
        assert await eventually(lambda: _true(bool(given_up)), 5.0)
        assert 0.85 <= given_up[0] - t0 < 3.0
        stats = pool.get_stats()
        assert 2 <= stats["connections_errors"] <= 3
        assert stats["connections_num"] == stats["connections_errors"]
        assert stats["pool_size"] == 0
        await asyncio.sleep(0.3)  # given up: no attempt until a request needs one
        assert pool.get_stats()["connections_errors"] == stats["connections_errors"]
        await pool.close()

        # open(wait=True) times out and closes the pool.
        pool = AsyncConnectionPool(dsn, min_size=1)
        with pytest.raises(PoolTimeout, match="not open after"):
            await pool.open(wait=True, timeout=0.2)
        assert pool.closed

    run(main())


def test_cancelled_requests_pass_the_connection_on(cluster):  # type: ignore[no-untyped-def]
    app = app_name()

    async def main() -> None:
        async with make_pool(cluster, app, min_size=1) as pool:
            held = await pool.getconn()
            waiter = asyncio.ensure_future(pool.getconn(timeout=10))
            await asyncio.sleep(0.05)
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter
            assert pool.get_stats()["requests_waiting"] == 0

            # Cancelled after the connection was handed to it, before it ran.
            waiter = asyncio.ensure_future(pool.getconn(timeout=10))
            await asyncio.sleep(0.05)
            await pool.putconn(held)
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter
            stats = pool.get_stats()
            assert (stats["pool_size"], stats["pool_available"]) == (1, 1)
            async with pool.connection(timeout=1) as conn:
                assert conn is held
                assert await fetch_one(conn, "SELECT 1") == 1

    run(main())
