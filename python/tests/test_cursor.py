"""Cursor behaviour beyond the DB-API suite."""

from datetime import date

import pytest

import wasmpg


def test_the_issue_example(conn):
    cur = conn.cursor()
    cur.execute("select %s::int + 1", (41,))
    assert cur.fetchone()[0] == 42


def test_placeholders_against_the_server(aconn):
    cur = aconn.cursor()
    cur.execute(
        "SELECT %(a)s::int, '%(a)s' AS lit, $q$ %s $q$ AS dollar, \"?column?\" FROM "
        "(SELECT 1) AS \"%s\" -- %s\n WHERE 'x' LIKE 'x%%' /* %(b)s */ AND %(a)s::int = 7",
        {"a": 7},
    )
    assert cur.fetchone() == (7, "%(a)s", " %s ", 1)
    cur.execute("SELECT 100 %% 7, %s", (1,))
    assert cur.fetchone() == (2, 1)
    cur.execute("SELECT 100 % 7")  # no parameters: sent as is
    assert cur.fetchone() == (2,)


def test_values_are_never_interpolated(aconn):
    cur = aconn.cursor()
    evil = "'); DROP TABLE pg_class; --"
    cur.execute("SELECT %s", (evil,))
    assert cur.fetchone() == (evil,)
    cur.execute("SELECT %s::text", ("%s %(x)s",))
    assert cur.fetchone() == ("%s %(x)s",)


def test_fetch_semantics(aconn):
    cur = aconn.cursor()
    with pytest.raises(wasmpg.ProgrammingError):
        cur.fetchone()
    cur.execute("SELECT i FROM generate_series(1, 10) i")
    assert cur.rowcount == 10 and cur.rownumber == 0
    assert cur.fetchone() == (1,)
    assert cur.rownumber == 1
    assert cur.fetchmany() == [(2,)]
    cur.arraysize = 3
    assert cur.fetchmany() == [(3,), (4,), (5,)]
    assert cur.fetchmany(2) == [(6,), (7,)]
    assert list(cur) == [(8,), (9,), (10,)]
    assert cur.fetchone() is None and cur.fetchall() == [] and cur.fetchmany(5) == []
    assert cur.rownumber == 10
    cur.execute("SELECT i FROM generate_series(1, 5) i")
    cur.fetchmany(3)
    cur.scroll(-2)
    assert cur.fetchone() == (2,)
    cur.scroll(0, "absolute")
    assert cur.fetchall() == [(i,) for i in range(1, 6)]
    cur.execute("CREATE TEMP TABLE f (x int)")
    assert cur.description is None and cur.rowcount == -1
    assert cur.statusmessage == "CREATE TABLE"
    with pytest.raises(wasmpg.ProgrammingError):
        cur.fetchall()
    cur.execute("INSERT INTO f SELECT generate_series(1, 4)")
    assert cur.rowcount == 4 and cur.statusmessage == "INSERT 0 4"
    cur.execute("UPDATE f SET x = x + 1 WHERE x > 2")
    assert cur.rowcount == 2
    cur.execute("DELETE FROM f")
    assert cur.rowcount == 4
    cur.execute("")
    assert cur.description is None


def test_multiple_statements_and_nextset(aconn):
    cur = aconn.cursor()
    cur.execute("SELECT 1; CREATE TEMP TABLE n (x int); SELECT 'a', 'b' UNION ALL SELECT 'c', 'd'")
    assert cur.fetchall() == [(1,)]
    assert cur.nextset() is True
    assert cur.description is None and cur.statusmessage == "CREATE TABLE"
    assert cur.nextset() is True
    assert cur.fetchall() == [("a", "b"), ("c", "d")]
    assert cur.rowcount == 2
    assert cur.nextset() is None
    s = aconn.cursor()
    s.execute("SELECT i FROM generate_series(1, 100000) i; SELECT 'second'")
    assert s.fetchone() == (1,)
    assert s.nextset() is True
    assert s.fetchall() == [("second",)]
    assert s.nextset() is None


def test_callproc(aconn):
    cur = aconn.cursor()
    assert cur.callproc("lower", ("FOO",)) == ("FOO",)
    assert cur.fetchall() == [("foo",)]
    cur.callproc("pg_catalog.now")
    assert len(cur.fetchall()) == 1
    with pytest.raises(wasmpg.ProgrammingError):
        cur.callproc("now(); drop table x; --")


def test_cursor_context_manager_and_repr(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT 1")
        assert "client-side" in repr(cur)
    assert cur.closed
    with pytest.raises(wasmpg.InterfaceError):
        cur.execute("SELECT 1")
    assert "open" in repr(conn)
    assert conn.cursor("x").name == "x"


def test_statement_cache_can_be_disabled(cluster):
    for size in (0, 2):
        c = wasmpg.connect(cluster.dsn(), statement_cache=size, autocommit=True)
        cur = c.cursor()
        for i in range(5):
            for q in ("SELECT %s::int", "SELECT %s::int + 1", "SELECT %s::int + 2"):
                cur.execute(q, (i,))
                assert cur.fetchone()[0] >= i
        cur.execute("SELECT count(*) FROM pg_prepared_statements")
        assert cur.fetchone() == (size,)
        c.close()
    with pytest.raises(wasmpg.ProgrammingError):
        wasmpg.connect(cluster.dsn(), statement_cache=-1)


def test_listen_notify(aconn):
    cur = aconn.cursor()
    cur.execute("LISTEN chan")
    cur.execute("NOTIFY chan, 'payload'")
    cur.execute("SELECT 1")
    assert aconn.notifies and aconn.notifies[-1][1:] == ("chan", "payload")


def test_cancel_from_another_thread(aconn):
    import threading
    import time

    cur = aconn.cursor()
    errors = []

    def run():
        try:
            cur.execute("SELECT pg_sleep(20)")
        except wasmpg.Error as e:
            errors.append(e)

    t = threading.Thread(target=run)
    start = time.monotonic()
    t.start()
    time.sleep(0.5)
    aconn.cancel()
    t.join(10)
    assert not t.is_alive()
    assert time.monotonic() - start < 10
    assert len(errors) == 1 and isinstance(errors[0], wasmpg.QueryCanceledError)
    assert errors[0].sqlstate == "57014"
    cur.execute("SELECT 1")
    assert cur.fetchone() == (1,)


def test_batches_with_and_without_nulls_of_one_shape(aconn):
    """A batch without any NULL takes a converter that tests no value for NULL; one with
    NULLs (or escaped text) the full one: the same shape, the same values either way."""
    cur = aconn.cursor()
    q = (
        "SELECT n, CASE WHEN n %% %s = 0 THEN NULL ELSE 'v' || n END, "
        "CASE WHEN n %% %s = 0 THEN NULL ELSE '2020-01-01 00:00+00'::timestamptz END "
        "FROM generate_series(1, 300) n ORDER BY n"
    )
    for every in (1000, 7, 1000, 1):
        cur.execute(q, (every, every))
        rows = cur.fetchall()
        assert [r[0] for r in rows] == list(range(1, 301))
        for n, text, ts in rows:
            null = n % every == 0
            assert text == (None if null else "v%d" % n)
            assert (ts is None) == null and (null or ts.year == 2020)
    cur.execute("SELECT n, E'a\\x1fb' || n FROM generate_series(1, 3) n ORDER BY n")
    assert cur.fetchall() == [(n, "a\x1fb%d" % n) for n in (1, 2, 3)]
    cur.execute("SELECT 1, 'x' UNION ALL SELECT NULL, NULL UNION ALL SELECT 2, 'y'")
    assert cur.fetchall() == [(1, "x"), (None, None), (2, "y")]
    # A batch of one row takes a converter of its own: NULLs, a value its fast loader refuses
    # (infinity: the careful path), escaped text, no columns, a bound parameter.
    cur.execute("SELECT NULL::int, 'x', 'infinity'::date, '2020-02-03'::date")
    assert cur.fetchone() == (None, "x", date.max, date(2020, 2, 3))
    assert cur.fetchone() is None
    cur.execute("SELECT E'a\\x1fb', 2")
    assert cur.fetchall() == [("a\x1fb", 2)]
    cur.execute("SELECT")
    assert cur.fetchall() == [()]
    for v in (None, 0, -(2**31), 2**31, 2**63, "x\x1e\x1fy", ""):
        cur.execute("SELECT %s, 1", (v,))
        assert cur.fetchone() == (v, 1)
