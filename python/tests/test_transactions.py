"""Transactions (psql is the independent witness of what was committed) and autocommit."""

import pytest

import wasmpg


def count(cluster, table):
    return int(cluster.psql("SELECT count(*) FROM %s" % table))


def test_begin_is_implicit_and_rollback_discards(cluster, conn, table):
    cluster.psql("CREATE TABLE %s (x int)" % table)
    assert conn.transaction_status == "idle"
    cur = conn.cursor()
    cur.execute("INSERT INTO %s VALUES (%%s)" % table, (1,))
    assert conn.transaction_status == "in-transaction"
    assert count(cluster, table) == 0  # not visible before commit
    conn.rollback()
    assert conn.transaction_status == "idle"
    assert count(cluster, table) == 0


def test_commit_persists(cluster, conn, table):
    cluster.psql("CREATE TABLE %s (x int)" % table)
    cur = conn.cursor()
    cur.execute("INSERT INTO %s VALUES (1), (2)" % table)
    assert cur.rowcount == 2
    conn.commit()
    assert count(cluster, table) == 2
    conn.commit()  # nothing to do: fine
    conn.rollback()


def test_one_transaction_spans_statements(conn):
    cur = conn.cursor()
    cur.execute("SELECT txid_current()")
    (a,) = cur.fetchone()
    cur.execute("SELECT txid_current()")
    (b,) = cur.fetchone()
    assert a == b
    conn.commit()
    cur.execute("SELECT txid_current()")
    (c,) = cur.fetchone()
    assert c != a


def test_autocommit(cluster, table):
    c = wasmpg.connect(cluster.dsn(), autocommit=True)
    try:
        assert c.autocommit
        cur = c.cursor()
        cur.execute("CREATE TABLE %s (x int)" % table)
        cur.execute("INSERT INTO %s VALUES (1)" % table)
        assert c.transaction_status == "idle"
        assert count(cluster, table) == 1
        cur.execute("VACUUM %s" % table)  # impossible inside a transaction block
        c.autocommit = False
        cur.execute("INSERT INTO %s VALUES (2)" % table)
        with pytest.raises(wasmpg.ProgrammingError):
            c.autocommit = True  # inside a transaction
        c.autocommit = False  # unchanged: fine
        c.rollback()
        c.autocommit = True
        assert count(cluster, table) == 1
    finally:
        c.close()


def test_context_manager_commits_and_stays_open(cluster, table):
    cluster.psql("CREATE TABLE %s (x int)" % table)
    c = wasmpg.connect(cluster.dsn())
    with c:
        c.cursor().execute("INSERT INTO %s VALUES (1)" % table)
    assert not c.closed
    assert count(cluster, table) == 1
    with pytest.raises(ZeroDivisionError):
        with c:
            c.cursor().execute("INSERT INTO %s VALUES (2)" % table)
            _ = 1 / 0
    assert count(cluster, table) == 1
    assert c.transaction_status == "idle"
    with pytest.raises(wasmpg.DataError):
        with c:
            c.cursor().execute("SELECT 1/0")
    assert c.transaction_status == "idle"
    c.close()


def test_close_rolls_back(cluster, table):
    cluster.psql("CREATE TABLE %s (x int)" % table)
    c = wasmpg.connect(cluster.dsn())
    c.cursor().execute("INSERT INTO %s VALUES (1)" % table)
    c.close()
    assert count(cluster, table) == 0


def test_explicit_transaction_control_in_autocommit(cluster, aconn, table):
    cur = aconn.cursor()
    cur.execute("CREATE TABLE %s (x int)" % table)
    cur.execute("BEGIN")
    cur.execute("INSERT INTO %s VALUES (1)" % table)
    cur.execute("SAVEPOINT s")
    cur.execute("INSERT INTO %s VALUES (2)" % table)
    cur.execute("ROLLBACK TO SAVEPOINT s")
    cur.execute("COMMIT")
    assert cluster.psql("SELECT array_agg(x) FROM %s" % table) == "{1}"


def test_commit_of_failed_transaction_rolls_back(cluster, conn, table):
    cluster.psql("CREATE TABLE %s (x int)" % table)
    cur = conn.cursor()
    cur.execute("INSERT INTO %s VALUES (1)" % table)
    with pytest.raises(wasmpg.DataError):
        cur.execute("SELECT 1/0")
    conn.commit()  # the server answers ROLLBACK, as with psycopg2
    assert count(cluster, table) == 0
    assert conn.transaction_status == "idle"


def test_transaction_blocks(cluster, aconn, conn, table):
    """transaction(): BEGIN and COMMIT outside a transaction (in autocommit mode too), a
    savepoint inside one; an exception rolls its block back and propagates; commit() inside a
    block is refused; a block whose statement failed (error caught) is rolled back and says
    so instead of committing nothing silently."""
    cluster.psql("CREATE TABLE %s (x int PRIMARY KEY)" % table)
    cur = aconn.cursor()
    with aconn.transaction():
        cur.execute("INSERT INTO %s VALUES (1)" % table)
        assert count(cluster, table) == 0  # not committed yet
        with pytest.raises(KeyError):
            with aconn.transaction():
                cur.execute("INSERT INTO %s VALUES (2)" % table)
                raise KeyError("x")
        with aconn.transaction():
            cur.execute("INSERT INTO %s VALUES (3)" % table)
        with pytest.raises(wasmpg.ProgrammingError, match="transaction"):
            aconn.commit()
    assert aconn.transaction_status == "idle"
    assert cluster.psql("SELECT array_agg(x ORDER BY x) FROM %s" % table) == "{1,3}"
    with pytest.raises(wasmpg.InternalError, match="rolled back"):
        with aconn.transaction():
            cur.execute("INSERT INTO %s VALUES (4)" % table)
            with pytest.raises(wasmpg.IntegrityError):
                cur.execute("INSERT INTO %s VALUES (1)" % table)
    assert cluster.psql("SELECT array_agg(x ORDER BY x) FROM %s" % table) == "{1,3}"
    # Without autocommit, inside the transaction the driver opened: a savepoint; the outer
    # transaction is still the user's to commit.
    c2 = conn.cursor()
    c2.execute("INSERT INTO %s VALUES (5)" % table)
    with pytest.raises(ValueError):
        with conn.transaction():
            c2.execute("INSERT INTO %s VALUES (6)" % table)
            raise ValueError
    assert conn.transaction_status == "in-transaction"
    conn.commit()
    assert cluster.psql("SELECT array_agg(x ORDER BY x) FROM %s" % table) == "{1,3,5}"
