"""executemany: every parameter row in one `query` call, one round trip, one implicit
transaction."""

import pytest

import wasmpg


def count_io(conn):
    """Counts socket writes and guest `query` calls of a connection."""
    session = conn._session
    stats = {"send": 0, "query": 0, "recv": 0}
    send, recv, sb_call = session._io.send, session._io.recv, session._sb.call

    def counting_send(data):
        stats["send"] += 1
        return send(data)

    def counting_recv():
        stats["recv"] += 1
        return recv()

    def counting_call(request):
        if request.startswith("q"):  # the extended-query request (docs/abi.md)
            stats["query"] += 1
        return sb_call(request)

    session._io.send = counting_send
    session._io.recv = counting_recv
    session._sb.call = counting_call
    return stats


def test_thousand_rows_one_round_trip(cluster, aconn, table):
    cluster.psql("CREATE TABLE %s (id int PRIMARY KEY, name text, v numeric)" % table)
    cur = aconn.cursor()
    rows = [(i, "name %d" % i, None if i % 10 == 0 else i / 4) for i in range(1000)]
    stats = count_io(aconn)
    cur.executemany("INSERT INTO %s VALUES (%%s, %%s, %%s)" % table, rows)
    assert stats["query"] == 1
    assert stats["send"] == 1
    assert cur.rowcount == 1000
    assert cluster.psql("SELECT count(*), count(v), sum(id) FROM %s" % table) == "1000|900|499500"
    assert cluster.psql("SELECT name, v FROM %s WHERE id = 7" % table) == "name 7|1.75"


def test_named_parameters_and_transaction(cluster, conn, table):
    cluster.psql("CREATE TABLE %s (a int, b text)" % table)
    cur = conn.cursor()
    cur.executemany(
        "INSERT INTO %s (a, b) VALUES (%%(a)s, %%(b)s)" % table,
        [{"a": 1, "b": "x"}, {"a": 2, "b": None, "extra": 0}],
    )
    assert cur.rowcount == 2
    assert cluster.psql("SELECT count(*) FROM %s" % table) == "0"
    conn.commit()
    assert (
        cluster.psql(
            "SELECT string_agg(a || ':' || coalesce(b, '-'), ',' ORDER BY a) FROM %s" % table
        )
        == "1:x,2:-"
    )


def test_failure_rolls_back_every_row(cluster, aconn, table):
    cluster.psql("CREATE TABLE %s (id int PRIMARY KEY)" % table)
    cur = aconn.cursor()
    with pytest.raises(wasmpg.IntegrityError) as e:
        cur.executemany("INSERT INTO %s VALUES (%%s)" % table, [(1,), (2,), (2,), (3,)])
    assert e.value.diag.sqlstate == "23505"
    assert cluster.psql("SELECT count(*) FROM %s" % table) == "0"
    cur.execute("SELECT 1")
    assert cur.fetchone() == (1,)


def test_types_widen_across_rows(aconn):
    cur = aconn.cursor()
    cur.execute("CREATE TEMP TABLE w (v numeric, t text, d date)")
    cur.executemany(
        "INSERT INTO w VALUES (%s, %s, %s)",
        [
            (None, None, None),
            (1, "a", "2024-01-01"),
            (2**40, None, None),
            (10**30, "b", None),
            (1.5, "c", None),
        ],
    )
    cur.execute("SELECT v FROM w ORDER BY v NULLS FIRST")
    assert [r[0] for r in cur.fetchall()] == [None, 1, 1.5, 2**40, 10**30]
    with pytest.raises(wasmpg.ProgrammingError, match="different types"):
        cur.executemany("SELECT %s", [(b"x",), ("y",)])


def test_edge_cases(aconn):
    cur = aconn.cursor()
    cur.executemany("SELECT %s", [])
    assert cur.rowcount == 0
    cur.execute("CREATE TEMP TABLE e (x int DEFAULT 1)")
    cur.executemany("INSERT INTO e DEFAULT VALUES", [(), (), ()])
    assert cur.rowcount == 3
    cur.executemany("SELECT %s", [(1,), (2,)])
    assert cur.description is None
    with pytest.raises(wasmpg.ProgrammingError):
        cur.fetchall()
    with pytest.raises(wasmpg.ProgrammingError):
        cur.executemany("SELECT %s, %s", [(1, 2), (1,)])


def test_large_pipeline(cluster, aconn, table):
    """50,000 rows (a few MB) in one round trip: the host keeps reading while it writes."""
    cluster.psql("CREATE TABLE %s (id int, pad text)" % table)
    cur = aconn.cursor()
    cur.executemany(
        "INSERT INTO %s VALUES (%%s, %%s)" % table, [(i, "p" * 50) for i in range(50000)]
    )
    assert cur.rowcount == 50000
    assert cluster.psql("SELECT count(*) FROM %s" % table) == "50000"
