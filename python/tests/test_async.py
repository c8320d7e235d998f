"""The asyncio API (AsyncConnection, AsyncCursor) against the real server: queries, transactions,
concurrency, cancellation (server-side and of the task), streaming, notifications, timeouts,
the policy and errors. Each test runs its own event loop (``asyncio.run``)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

import pytest
from conftest import accepted_nothing

import wasmpg
from wasmpg import AsyncConnection


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def connect(cluster: Any, **kwargs: Any) -> AsyncConnection:
    return await AsyncConnection.connect(cluster.dsn(), **kwargs)


def test_queries_and_types(cluster):  # type: ignore[no-untyped-def]
    async def main() -> None:
        conn = await connect(cluster, autocommit=True)
        try:
            cur = conn.cursor()
            await cur.execute("SELECT %s::int + 1, %s, %s::numeric", (41, "x\ty", "1.5"))
            assert await cur.fetchone() == (42, "x\ty", __import__("decimal").Decimal("1.5"))
            assert [d.name for d in cur.description] == ["?column?", "?column?", "numeric"]
            assert await cur.fetchone() is None
            await cur.execute("SELECT g FROM generate_series(1, 10) g")
            assert cur.rowcount == 10
            assert await cur.fetchmany(3) == [(1,), (2,), (3,)]
            assert [r async for r in cur] == [(i,) for i in range(4, 11)]
            await cur.execute("SELECT 1; SELECT 'two', 2")
            assert await cur.fetchall() == [(1,)]
            assert await cur.nextset() is True
            assert await cur.fetchall() == [("two", 2)]
            assert await cur.nextset() is None
            await cur.execute("SELECT %(a)s::text || %(b)s", {"a": "x", "b": "y"})
            assert await cur.fetchall() == [("xy",)]
            cur2 = await conn.execute("SELECT now() > %s", (None,))
            assert await cur2.fetchone() == (None,)
            await cur.callproc("upper", ["abc"])
            assert await cur.fetchone() == ("ABC",)
        finally:
            await conn.close()
        assert conn.closed

    run(main())


def test_executemany_and_large_writes(cluster, table):  # type: ignore[no-untyped-def]
    """executemany in one round trip; 30,000 rows are far more than one socket write, so the
    driver writes while it reads (no deadlock with the server writing back)."""

    async def main() -> None:
        async with await connect(cluster) as conn:
            cur = conn.cursor()
            await cur.execute("CREATE TABLE %s (a int, b text)" % table)
            rows = [(i, "row %d %s" % (i, "x" * 50)) for i in range(30000)]
            await cur.executemany("INSERT INTO %s VALUES (%%s, %%s)" % table, rows)
            assert cur.rowcount == 30000
            await cur.execute("SELECT count(*), sum(a) FROM %s" % table)
            assert await cur.fetchone() == (30000, sum(range(30000)))

    run(main())
    assert cluster.psql("SELECT count(*) FROM %s" % table).strip() == "30000"


def test_transactions_commit_rollback_and_context(cluster, table):  # type: ignore[no-untyped-def]
    async def main() -> None:
        conn = await connect(cluster)
        other = await connect(cluster, autocommit=True)
        try:
            cur = conn.cursor()
            await cur.execute("CREATE TABLE %s (a int)" % table)
            assert conn.transaction_status == "in-transaction"
            await conn.commit()
            await cur.execute("INSERT INTO %s VALUES (1)" % table)
            ocur = other.cursor()
            await ocur.execute("SELECT count(*) FROM %s" % table)
            assert await ocur.fetchone() == (0,)  # not committed yet
            await conn.rollback()
            assert conn.transaction_status == "idle"
            await cur.execute("INSERT INTO %s VALUES (2)" % table)
            await conn.commit()
            await ocur.execute("SELECT array_agg(a) FROM %s" % table)
            assert await ocur.fetchone() == ([2],)
        finally:
            await conn.close()
            await other.close()
        # As a context manager: commits on success, rolls back on an exception, then closes.
        async with await connect(cluster) as c:
            await (c.cursor()).execute("INSERT INTO %s VALUES (3)" % table)
        assert c.closed
        with pytest.raises(ZeroDivisionError):
            async with await connect(cluster) as c:
                await (c.cursor()).execute("INSERT INTO %s VALUES (4)" % table)
                raise ZeroDivisionError
        assert c.closed

    run(main())
    assert cluster.psql("SELECT string_agg(a::text, ',' ORDER BY a) FROM %s" % table).strip() == (
        "2,3"
    )


def test_transaction_blocks(cluster, table):  # type: ignore[no-untyped-def]
    """transaction(): BEGIN/COMMIT outside a transaction (autocommit too), savepoints inside;
    an exception rolls the block back; a caught error cannot be committed."""

    async def main() -> None:
        async with await connect(cluster, autocommit=True) as conn:
            cur = conn.cursor()
            await cur.execute("CREATE TABLE %s (a int PRIMARY KEY)" % table)
            async with conn.transaction():
                await cur.execute("INSERT INTO %s VALUES (1)" % table)
                assert conn.transaction_status == "in-transaction"
                with pytest.raises(ValueError):
                    async with conn.transaction():
                        await cur.execute("INSERT INTO %s VALUES (2)" % table)
                        raise ValueError
                async with conn.transaction():
                    await cur.execute("INSERT INTO %s VALUES (3)" % table)
                with pytest.raises(wasmpg.ProgrammingError, match="transaction\\(\\) block"):
                    await conn.commit()
            assert conn.transaction_status == "idle"
            await cur.execute("SELECT array_agg(a ORDER BY a) FROM %s" % table)
            assert await cur.fetchone() == ([1, 3],)
            # A statement failed inside the block and its error was caught: nothing commits.
            with pytest.raises(wasmpg.InternalError, match="rolled back"):
                async with conn.transaction():
                    await cur.execute("INSERT INTO %s VALUES (5)" % table)
                    with pytest.raises(wasmpg.IntegrityError):
                        await cur.execute("INSERT INTO %s VALUES (1)" % table)
            assert conn.transaction_status == "idle"
            await cur.execute("SELECT array_agg(a ORDER BY a) FROM %s" % table)
            assert await cur.fetchone() == ([1, 3],)

    run(main())


async def _active(observer: AsyncConnection, app: str) -> int:
    cur = await observer.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND state = 'active'",
        (app,),
    )
    row = await cur.fetchone()
    assert row is not None
    return int(row[0])


def test_eight_connections_run_at_once(cluster):  # type: ignore[no-untyped-def]
    """Eight connections on one event loop, each running pg_sleep(0.5): all eight are seen
    active in pg_stat_activity at the same moment, and the whole takes about 0.5 s."""

    async def main() -> None:
        app = "wasmpg_async_concurrency"
        conns = await asyncio.gather(
            *(connect(cluster, autocommit=True, application_name=app) for _ in range(8))
        )
        observer = await connect(cluster, autocommit=True)
        try:
            started = time.monotonic()

            async def sleep(c: AsyncConnection) -> Any:
                cur = await c.execute("SELECT 'done' FROM pg_sleep(0.5)")
                return await cur.fetchone()

            tasks = [asyncio.ensure_future(sleep(c)) for c in conns]
            seen = 0
            while not all(t.done() for t in tasks):
                seen = max(seen, await _active(observer, app))
                await asyncio.sleep(0.02)
            results = [t.result() for t in tasks]
            elapsed = time.monotonic() - started
            assert results == [("done",)] * 8
            assert seen == 8
            assert elapsed < 2.0, elapsed  # one after the other would take 4 s
        finally:
            for c in conns:
                await c.close()
            await observer.close()

    run(main())


def test_the_loop_is_never_blocked(cluster):  # type: ignore[no-untyped-def]
    """While a statement runs, other tasks keep running: a 10 ms ticker ticks throughout."""

    async def main() -> None:
        async with await connect(cluster, autocommit=True) as conn:
            ticks = 0

            async def ticker() -> None:
                nonlocal ticks
                while True:
                    await asyncio.sleep(0.01)
                    ticks += 1

            t = asyncio.ensure_future(ticker())
            cur = await conn.execute("SELECT pg_sleep(0.6)")
            await cur.fetchall()
            t.cancel()
            assert ticks >= 20, ticks

    run(main())


def test_cancel_from_another_task(cluster):  # type: ignore[no-untyped-def]
    async def main() -> None:
        async with await connect(cluster) as conn:
            cur = conn.cursor()

            async def later() -> None:
                await asyncio.sleep(0.5)
                await conn.cancel()

            canceller = asyncio.ensure_future(later())
            started = time.monotonic()
            with pytest.raises(wasmpg.QueryCanceledError) as e:
                await cur.execute("SELECT pg_sleep(30)")
            await canceller
            assert e.value.sqlstate == "57014"
            assert time.monotonic() - started < 10
            await conn.rollback()
            await cur.execute("SELECT 1")
            assert await cur.fetchone() == (1,)

    run(main())


def test_cancelled_task_leaves_the_connection_usable(cluster):  # type: ignore[no-untyped-def]
    """A task cancelled mid-query (wait_for's timeout) cancels the statement server-side and
    reads its end: the backend is idle at once, and the connection runs the next query."""

    async def main() -> None:
        async with await connect(cluster, autocommit=True) as conn:
            cur = conn.cursor()
            await cur.execute("SELECT pg_backend_pid()")
            row = await cur.fetchone()
            assert row is not None
            pid = row[0]
            started = time.monotonic()
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(cur.execute("SELECT pg_sleep(30)"), 0.3)
            assert time.monotonic() - started < 6
            assert not conn.closed
            assert conn.transaction_status == "idle"
            await cur.execute("SELECT 1")
            assert await cur.fetchone() == (1,)
            async with await connect(cluster, autocommit=True) as observer:
                ocur = await observer.execute(
                    "SELECT state, query FROM pg_stat_activity WHERE pid = %s", (pid,)
                )
                state = await ocur.fetchone()
                assert state is not None and state[0] == "idle", state
            # task.cancel() the same way, in a transaction: the transaction is failed, and
            # usable again after a rollback.
            await conn.execute("BEGIN")
            task = asyncio.ensure_future(cur.execute("SELECT pg_sleep(30)"))
            await asyncio.sleep(0.3)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert not conn.closed and conn.transaction_status == "failed"
            await conn.rollback()
            await cur.execute("SELECT 2")
            assert await cur.fetchone() == (2,)

    run(main())


def test_cancelled_while_waiting_for_the_lock(cluster):  # type: ignore[no-untyped-def]
    """Two tasks share a connection: the one waiting for it is cancelled; the one running
    finishes untouched."""

    async def main() -> None:
        async with await connect(cluster, autocommit=True) as conn:
            first = asyncio.ensure_future(conn.execute("SELECT 1 FROM pg_sleep(0.4)"))
            await asyncio.sleep(0.05)
            second = asyncio.ensure_future(conn.execute("SELECT 2"))
            await asyncio.sleep(0.05)
            second.cancel()
            with pytest.raises(asyncio.CancelledError):
                await second
            cur = await first
            assert await cur.fetchone() == (1,)

    run(main())


def test_streaming(cluster):  # type: ignore[no-untyped-def]
    """stream() reads rows as they are used; another statement on the connection discards
    the rest, and the stream then says so."""

    async def main() -> None:
        async with await connect(cluster, autocommit=True) as conn:
            cur = conn.cursor()
            total = 0
            rows = cur.stream("SELECT g, repeat('x', 100) FROM generate_series(1, 200000) g")
            async for _row in rows:
                total += 1
                if total == 50000:
                    break
            assert cur.rowcount == -1
            other = await conn.execute("SELECT 'other'")
            assert await other.fetchone() == ("other",)
            with pytest.raises(wasmpg.ProgrammingError, match="discarded"):
                async for _row in rows:
                    pass
            got = [r async for r in cur.stream("SELECT generate_series(1, 5000)")]
            assert len(got) == 5000 and cur.rowcount == 5000

    run(main())


def test_server_side_cursor(cluster):  # type: ignore[no-untyped-def]
    """A named cursor is DECLAREd on the server: it survives other statements between
    fetches, scrolls, and needs a transaction unless WITH HOLD."""

    async def main() -> None:
        async with await connect(cluster) as conn:
            cur = conn.cursor("srv", scrollable=True)
            await cur.execute("SELECT g FROM generate_series(1, %s) g", (1000,))
            assert [d.name for d in cur.description] == ["g"]
            assert await cur.fetchone() == (1,)
            other = await conn.execute("SELECT 'between'")
            assert await other.fetchone() == ("between",)
            assert await cur.fetchmany(3) == [(2,), (3,), (4,)]
            seen = []
            async for row in cur:
                seen.append(row[0])
                if len(seen) == 150:
                    break
            assert seen == list(range(5, 155))
            await cur.scroll(-150)
            assert await cur.fetchone() == (5,)
            await cur.scroll(0, "absolute")
            assert len(await cur.fetchall()) == 1000
            await cur.close()
            await conn.commit()
        async with await connect(cluster, autocommit=True) as conn:
            with pytest.raises(wasmpg.errors.NoActiveSqlTransaction):
                await conn.cursor("nohold").execute("SELECT 1")
            held = conn.cursor("held", withhold=True)
            await held.execute("SELECT generate_series(1, 3)")
            assert await held.fetchall() == [(1,), (2,), (3,)]
            await held.close()

    run(main())


def test_notifications(cluster):  # type: ignore[no-untyped-def]
    async def main() -> None:
        async with await connect(cluster, autocommit=True) as listener:
            sender = await connect(cluster, autocommit=True)
            try:
                await listener.execute("LISTEN wasmpg_async")

                async def notify_later() -> None:
                    await asyncio.sleep(0.3)
                    await sender.execute("NOTIFY wasmpg_async, 'one'")
                    await sender.execute("NOTIFY wasmpg_async, 'two'")

                t = asyncio.ensure_future(notify_later())
                got = [n.payload async for n in listener.notifications(timeout=10, stop_after=2)]
                await t
                assert got == ["one", "two"]
                started = time.monotonic()
                assert [n async for n in listener.notifications(timeout=0.3)] == []
                assert 0.25 < time.monotonic() - started < 3
                # A cancelled wait leaves the connection as it was.
                agen = listener.notifications()
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(agen.__anext__(), 0.2)
                cur = await listener.execute("SELECT 1")
                assert await cur.fetchone() == (1,)
            finally:
                await sender.close()

    run(main())


def test_read_and_connect_timeouts(cluster):  # type: ignore[no-untyped-def]
    """read_timeout and connect_timeout are asyncio timeouts: typed errors, the loop free."""

    async def main() -> None:
        conn = await connect(cluster, autocommit=True, read_timeout=0.5)
        with pytest.raises(wasmpg.OperationalError) as e:
            await conn.execute("SELECT pg_sleep(10)")
        assert e.value.kind == "timeout"
        assert conn.closed  # the outcome is unknown: the connection is given up
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(4)  # the kernel completes the handshake; nobody ever answers
        try:
            ticks = 0

            async def ticker() -> None:
                nonlocal ticks
                while True:
                    await asyncio.sleep(0.05)
                    ticks += 1

            t = asyncio.ensure_future(ticker())
            started = time.monotonic()
            with pytest.raises(wasmpg.OperationalError) as e:
                await AsyncConnection.connect(
                    host="127.0.0.1",
                    port=s.getsockname()[1],
                    user="u",
                    dbname="d",
                    connect_timeout=1,
                )
            elapsed = time.monotonic() - started
            t.cancel()
            assert e.value.kind == "timeout"
            assert 1.9 < elapsed < 5, elapsed  # libpq's minimum of 2 s
            assert ticks >= 20, ticks
        finally:
            s.close()

    run(main())


def test_policy_denies_before_connecting(listener):  # type: ignore[no-untyped-def]
    port = listener.getsockname()[1]

    async def main() -> None:
        with pytest.raises(wasmpg.OperationalError) as e:
            await AsyncConnection.connect(
                "host=127.0.0.1 port=%d user=u dbname=d" % port, allow=["127.0.0.1:1"]
            )
        assert e.value.kind == "policy-denied"

    run(main())
    assert accepted_nothing(listener)


def test_errors_and_server_termination(cluster, table):  # type: ignore[no-untyped-def]
    async def main() -> None:
        async with await connect(cluster, autocommit=True) as conn:
            cur = conn.cursor()
            await cur.execute("CREATE TABLE %s (a int PRIMARY KEY)" % table)
            await cur.execute("INSERT INTO %s VALUES (1)" % table)
            with pytest.raises(wasmpg.IntegrityError) as e:
                await cur.execute("INSERT INTO %s VALUES (1)" % table)
            assert e.value.sqlstate == "23505"
            with pytest.raises(wasmpg.NotSupportedError, match="COPY"):
                await cur.execute("COPY %s FROM STDIN" % table)
            await cur.execute("SELECT pg_backend_pid()")
            row = await cur.fetchone()
            assert row is not None
            async with await connect(cluster, autocommit=True) as killer:
                await killer.execute("SELECT pg_terminate_backend(%s)", (row[0],))
            with pytest.raises(wasmpg.OperationalError) as e:
                await cur.execute("SELECT 1")
            assert e.value.sqlstate == "57P01"
            assert conn.closed
            with pytest.raises(wasmpg.InterfaceError):
                await cur.execute("SELECT 1")

    run(main())


def test_async_password_callback(cluster, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """password_callback may be a coroutine function with AsyncConnection; the sync connect
    refuses one with a clear error."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("PGPASSWORD", raising=False)
    asked = []

    async def token(info: dict[str, Any]) -> str:
        asked.append(info["user"])
        await asyncio.sleep(0.01)
        return "scram_secret"

    async def main() -> None:
        conn = await AsyncConnection.connect(cluster.dsn("scram_user"), password_callback=token)
        cur = await conn.execute("SELECT current_user")
        assert await cur.fetchone() == ("scram_user",)
        await conn.close()

    run(main())
    assert asked == ["scram_user"]
    with pytest.raises(wasmpg.InterfaceError, match="AsyncConnection"):
        wasmpg.connect(cluster.dsn("scram_user"), password_callback=token)


def test_connections_on_several_loops_and_threads(cluster):  # type: ignore[no-untyped-def]
    """Each thread runs its own event loop with its own connections; sync connections run
    beside them: the runtime and the guest instances are shared safely."""
    errors: list[BaseException] = []

    async def work(n: int) -> None:
        async with await connect(cluster, autocommit=True) as conn:
            for i in range(50):
                cur = await conn.execute("SELECT %s::int * 2", (i + n,))
                assert await cur.fetchone() == ((i + n) * 2,)

    def thread(n: int) -> None:
        try:
            run(work(n))
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=thread, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    sync = wasmpg.connect(cluster.dsn(), autocommit=True)
    cur = sync.cursor()
    for i in range(50):
        cur.execute("SELECT %s::int", (i,))
        assert cur.fetchone() == (i,)
    sync.close()
    for t in threads:
        t.join()
    assert errors == []


def test_copy(cluster, table):  # type: ignore[no-untyped-def]
    """COPY through the async cursor: FROM STDIN with write_row and write (more than one
    buffer), TO STDOUT by rows and by chunks, an exception inside the block aborts the COPY
    and leaves the connection usable."""

    async def main() -> None:
        async with await connect(cluster, autocommit=True) as conn:
            cur = conn.cursor()
            await cur.execute("CREATE TABLE %s (a int, b text)" % table)
            async with cur.copy("COPY %s (a, b) FROM STDIN" % table) as copy:
                for i in range(20000):
                    await copy.write_row((i, "tab\there %d" % i if i % 2 else None))
                await copy.write("20000\tlast\n")
            assert cur.rowcount == 20001
            got = []
            async with cur.copy("COPY (SELECT a, b FROM %s ORDER BY a) TO STDOUT" % table) as c:
                async for row in c.rows():
                    got.append(row)
            assert len(got) == 20001
            assert got[1] == ("1", "tab\there 1") and got[2] == ("2", None)
            assert got[-1] == ("20000", "last")
            data = b""
            async with cur.copy("COPY (SELECT 1, 'x') TO STDOUT WITH (FORMAT csv)") as c:
                async for chunk in c:
                    data += chunk
            assert data == b"1,x\n"
            with pytest.raises(RuntimeError):
                async with cur.copy("COPY %s (a, b) FROM STDIN" % table) as copy:
                    await copy.write_row((1, "never"))
                    raise RuntimeError("stop")
            with pytest.raises(wasmpg.DataError):
                async with cur.copy("COPY %s (a) FROM STDIN" % table) as copy:
                    await copy.write("not a number\n")
            await cur.execute("SELECT count(*) FROM %s" % table)
            assert await cur.fetchone() == (20001,)

    run(main())


def test_a_flooding_server_does_not_starve_the_loop():  # type: ignore[no-untyped-def]
    """A server that sends NoticeResponses without end during startup: its connection ends in
    connect_timeout, and meanwhile the loop's other tasks keep running (data that is always
    there to read must not keep one task from ever yielding)."""
    import struct

    def notice(text: bytes) -> bytes:
        body = b"SNOTICE\x00C00000\x00M" + text + b"\x00\x00"
        return b"N" + struct.pack("!I", len(body) + 4) + body

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    flood = notice(b"x" * 200) * 500

    def serve() -> None:
        conn, _ = s.accept()
        try:
            conn.recv(65536)  # the StartupMessage
            while True:
                conn.sendall(flood)
        except OSError:
            pass
        finally:
            conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()

    async def main() -> None:
        ticks: list[float] = []

        async def ticker() -> None:
            while True:
                await asyncio.sleep(0.01)
                ticks.append(time.monotonic())

        tick_task = asyncio.ensure_future(ticker())
        started = time.monotonic()
        with pytest.raises(wasmpg.OperationalError) as e:
            await AsyncConnection.connect(
                host="127.0.0.1",
                port=s.getsockname()[1],
                user="u",
                dbname="d",
                sslmode="disable",
                connect_timeout=2,
            )
        elapsed = time.monotonic() - started
        tick_task.cancel()
        assert e.value.kind == "timeout", e.value
        assert elapsed < 6, elapsed
        # Starved, the ticker would tick once or twice in the 2 s; fairly served, it ticks
        # throughout, with no long gap.
        ended = started + elapsed
        gaps = [b - a for a, b in zip([started, *ticks], [*ticks, ended])]
        assert len(ticks) >= 10 and max(gaps) < 0.5, (len(ticks), max(gaps, default=None))

    try:
        run(main())
    finally:
        s.close()
