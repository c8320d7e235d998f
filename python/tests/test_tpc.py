"""Two-phase commit (PEP 249's TPC extension) against the real server (the test cluster runs
with max_prepared_transactions)."""

from __future__ import annotations

import pytest

import wasmpg


def _count(cluster, table) -> int:  # type: ignore[no-untyped-def]
    return int(cluster.psql("SELECT count(*) FROM %s" % table))


def _prepared(cluster) -> list[str]:  # type: ignore[no-untyped-def]
    out = cluster.psql("SELECT gid FROM pg_prepared_xacts ORDER BY gid")
    return [line for line in out.splitlines() if line]


def test_prepare_then_commit_or_rollback(cluster, conn, table):
    cluster.psql("CREATE TABLE %s (x int)" % table)
    xid = conn.xid(42, "global-1", "branch'1")
    assert tuple(xid) == (42, "global-1", "branch'1") and xid[1] == "global-1"
    conn.tpc_begin(xid)
    cur = conn.cursor()
    cur.execute("INSERT INTO %s VALUES (1)" % table)
    with pytest.raises(wasmpg.ProgrammingError, match="tpc_commit"):
        conn.commit()
    conn.tpc_prepare()
    assert conn.transaction_status == "idle"
    assert _prepared(cluster) == [xid.gid()]
    assert _count(cluster, table) == 0  # prepared, not committed
    conn.tpc_commit()
    assert _count(cluster, table) == 1 and _prepared(cluster) == []
    # Rolled back after preparing.
    conn.tpc_begin(conn.xid(1, "g2", "b"))
    cur.execute("INSERT INTO %s VALUES (2)" % table)
    conn.tpc_prepare()
    conn.tpc_rollback()
    assert _count(cluster, table) == 1 and _prepared(cluster) == []
    # One phase: committed without preparing.
    conn.tpc_begin(conn.xid(1, "g3", "b"))
    cur.execute("INSERT INTO %s VALUES (3)" % table)
    conn.tpc_commit()
    assert _count(cluster, table) == 2


def test_recover_from_another_connection(cluster, table):
    """A prepared transaction outlives its session; another connection finds it with
    tpc_recover() (the same three parts back) and commits or rolls it back by id."""
    cluster.psql("CREATE TABLE %s (x int)" % table)
    first = wasmpg.connect(cluster.dsn())
    first.tpc_begin(first.xid(7, "recover-me", "b1"))
    first.cursor().execute("INSERT INTO %s VALUES (10)" % table)
    first.tpc_prepare()
    first.close()
    cluster.psql("BEGIN; INSERT INTO %s VALUES (20); PREPARE TRANSACTION 'foreign gid'" % table)
    other = wasmpg.connect(cluster.dsn())
    try:
        found = {x.gtrid: x for x in other.tpc_recover()}
        assert other.transaction_status == "idle"  # left as it was
        mine = found["recover-me"]
        assert (mine.format_id, mine.bqual) == (7, "b1")
        assert mine.owner == "postgres" and mine.database == "wasmpg_test"
        assert mine.prepared is not None
        foreign = found["foreign gid"]
        assert foreign.format_id is None and foreign.bqual is None
        other.tpc_commit(mine)
        other.tpc_rollback("foreign gid")
        assert other.tpc_recover() == []
    finally:
        other.close()
    assert cluster.psql("SELECT array_agg(x) FROM %s" % table) == "{10}"


def test_misuse_is_refused(cluster, conn, aconn):
    with pytest.raises(wasmpg.ProgrammingError, match="autocommit"):
        aconn.tpc_begin(aconn.xid(1, "a", "b"))
    conn.cursor().execute("SELECT 1")
    with pytest.raises(wasmpg.ProgrammingError, match="outside a transaction"):
        conn.tpc_begin(conn.xid(1, "a", "b"))
    conn.rollback()
    with pytest.raises(wasmpg.ProgrammingError):
        conn.tpc_prepare()
    with pytest.raises(wasmpg.ProgrammingError):
        conn.tpc_commit()
    with pytest.raises(wasmpg.ProgrammingError):
        conn.xid(1, "x" * 65, "b")
    with pytest.raises(wasmpg.ProgrammingError):
        conn.xid(-1, "a", "b")
    conn.tpc_begin(conn.xid(1, "dup", "b"))
    with pytest.raises(wasmpg.ProgrammingError, match="already"):
        conn.tpc_begin(conn.xid(1, "dup2", "b"))
    conn.tpc_rollback()
    assert conn.transaction_status == "idle"


def test_async_two_phase(cluster, table):
    import asyncio

    cluster.psql("CREATE TABLE %s (x int)" % table)

    async def main() -> None:
        conn = await wasmpg.AsyncConnection.connect(cluster.dsn())
        try:
            await conn.tpc_begin(conn.xid(3, "async", "b"))
            await conn.execute("INSERT INTO %s VALUES (1)" % table)
            await conn.tpc_prepare()
            assert [x.gtrid for x in await conn.tpc_recover()] == ["async"]
            await conn.tpc_commit()
            assert await conn.tpc_recover() == []
        finally:
            await conn.close()

    asyncio.run(main())
    assert cluster.psql("SELECT count(*) FROM %s" % table) == "1"
