"""The automatic statement cache against DDL and resets, through the DB-API: a cached statement
whose result shape changed, or that the server no longer has, is prepared and sent again outside
a transaction; inside one the error is raised (SQLSTATE 0A000) and the entry dropped. The guest
decides by SQLSTATE and the non-localized routine field, so German server messages change
nothing. Statements that leave the cache are closed on the server."""

from __future__ import annotations

import pytest

import wasmpg


def _prepared(cur, text):  # type: ignore[no-untyped-def]
    # No parameters: the simple query protocol, so this query is not cached itself.
    cur.execute(
        "SELECT count(*) FROM pg_prepared_statements WHERE statement = '%s'"
        % text.replace("'", "''")
    )
    return cur.fetchone()[0]


def _cached_select(cur, table):  # type: ignore[no-untyped-def]
    cur.execute("CREATE TABLE %s (id int, v int); INSERT INTO %s VALUES (1, 10)" % (table, table))
    q = "SELECT * FROM %s WHERE id = %%s" % table
    for _ in range(2):
        cur.execute(q, (1,))
        assert cur.fetchone() == (1, 10)
    server_text = "SELECT * FROM %s WHERE id = $1" % table
    assert _prepared(cur, server_text) == 1
    return q, server_text


def _recreate_as_text(cur, table, q, value):  # type: ignore[no-untyped-def]
    """Re-creates the table with ``v`` as text holding ``value``; the cached ``q`` reads it."""
    cur.execute(
        "DROP TABLE %s; CREATE TABLE %s (id int, v text); INSERT INTO %s VALUES (1, '%s')"
        % (table, table, table, value)
    )
    cur.execute(q, (1,))
    assert cur.fetchone() == (1, value)


def test_re_created_table_and_added_column(aconn, table):  # type: ignore[no-untyped-def]
    cur = aconn.cursor()
    q, text = _cached_select(cur, table)
    _recreate_as_text(cur, table, q, "ten")
    cur.execute("ALTER TABLE %s ADD COLUMN w text DEFAULT 'new'" % table)
    cur.execute(q, (1,))
    assert cur.fetchone() == (1, "ten", "new")
    assert [d[0] for d in cur.description] == ["id", "v", "w"]
    assert _prepared(cur, text) == 1


def test_a_retried_executemany_is_applied_once(aconn, table):  # type: ignore[no-untyped-def]
    cur = aconn.cursor()
    cur.execute("CREATE TABLE %s (id int)" % table)
    q = "INSERT INTO %s VALUES (%%s) RETURNING *" % table
    cur.executemany(q, [(1,), (2,)])
    cur.executemany(q, [(3,), (4,)])
    cur.execute("ALTER TABLE %s ADD COLUMN note text DEFAULT 'x'" % table)
    # The first Bind fails (result type changed), the implicit transaction of the whole batch is
    # rolled back, and the batch is sent again: each row exactly once.
    cur.executemany(q, [(5,), (6,), (7,)])
    cur.execute("SELECT string_agg(id::text || note, ',' ORDER BY id) FROM %s" % table)
    assert cur.fetchone() == ("1x,2x,3x,4x,5x,6x,7x",)


def test_discard_all_resets_the_cache(aconn, table):  # type: ignore[no-untyped-def]
    cur = aconn.cursor()
    q, text = _cached_select(cur, table)
    for reset in ("DISCARD ALL", "DEALLOCATE ALL"):
        cur.execute(reset)
        assert _prepared(cur, text) == 0
        cur.execute(q, (1,))
        assert cur.fetchone() == (1, 10)
        assert _prepared(cur, text) == 1


def test_inside_a_transaction_the_error_is_raised(conn, table):  # type: ignore[no-untyped-def]
    cur = conn.cursor()
    q, text = _cached_select(cur, table)
    conn.commit()
    cur.execute("ALTER TABLE %s ADD COLUMN w int" % table)
    with pytest.raises(wasmpg.Error) as e:
        cur.execute(q, (1,))
    assert e.value.sqlstate == "0A000"
    conn.rollback()
    cur.execute(q, (1,))
    assert cur.fetchone() == (1, 10)
    assert _prepared(cur, text) == 1
    conn.rollback()


def test_german_messages_change_nothing(aconn, table):  # type: ignore[no-untyped-def]
    cur = aconn.cursor()
    try:
        cur.execute("SET lc_messages TO 'de_DE.UTF-8'")
    except wasmpg.Error as e:
        pytest.fail(
            "cannot switch the server's messages to German (%s); generate the locale: "
            "localedef -i de_DE -c -f UTF-8 de_DE.UTF-8" % e
        )
    q, text = _cached_select(cur, table)
    _recreate_as_text(cur, table, q, "zehn")
    assert _prepared(cur, text) == 1
    aconn.autocommit = False
    cur.execute("ALTER TABLE %s ADD COLUMN w int" % table)
    with pytest.raises(wasmpg.Error) as e:
        cur.execute(q, (1,))
    assert e.value.sqlstate == "0A000"
    assert "cached plan must not change result type" not in str(e.value)
    aconn.rollback()
