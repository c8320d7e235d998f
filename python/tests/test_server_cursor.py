"""Server-side (named) cursors: DECLARE/FETCH/MOVE/CLOSE against the real server."""

from __future__ import annotations

import pytest

import wasmpg
from wasmpg import errors


def _cursors(conn) -> list[str]:  # type: ignore[no-untyped-def]
    cur = conn.cursor()
    cur.execute("SELECT name FROM pg_cursors ORDER BY name")
    return [r[0] for r in cur.fetchall()]


def test_declare_fetch_and_other_statements_between(conn):
    """The cursor lives on the server: other statements run between its fetches (Django's
    iterator(), SQLAlchemy's yield_per), and each fetch takes only what it asks for."""
    cur = conn.cursor("big")
    assert isinstance(cur, wasmpg.ServerCursor) and cur.name == "big"
    cur.execute("SELECT g, g::text AS t FROM generate_series(1, %s) g", (100000,))
    assert [c.name for c in cur.description] == ["g", "t"]
    assert cur.statusmessage == "DECLARE CURSOR"
    assert "big" in _cursors(conn)
    assert cur.fetchone() == (1, "1")
    other = conn.cursor()
    other.execute("SELECT count(*) FROM pg_class")
    assert other.fetchone()[0] > 0
    assert cur.fetchmany(2) == [(2, "2"), (3, "3")]
    n = 3
    for row in cur:  # itersize (100) rows per FETCH
        n += 1
        assert row[0] == n
        if n == 1000:
            break
    assert cur.rownumber == 1000
    rest = cur.fetchall()
    assert len(rest) == 99000 and rest[-1] == (100000, "100000")
    assert cur.fetchone() is None and cur.fetchall() == []
    cur.close()
    assert "big" not in _cursors(conn)
    conn.rollback()


def test_scroll(conn):
    cur = conn.cursor("s", scrollable=True)
    cur.execute("SELECT generate_series(1, 10)")
    assert next(cur) == (1,)  # iteration fetched ahead: the scroll accounts for it
    cur.scroll(2)
    assert cur.fetchone() == (4,)
    cur.scroll(-3)
    assert cur.fetchone() == (2,)
    cur.scroll(7, "absolute")
    assert cur.fetchall() == [(8,), (9,), (10,)]
    cur.scroll(0, "absolute")
    assert cur.fetchone() == (1,)
    with pytest.raises(wasmpg.ProgrammingError):
        cur.scroll(1, "sideways")
    cur.close()
    # Without SCROLL a backward move is the server's error.
    fwd = conn.cursor("f", scrollable=False)
    fwd.execute("SELECT generate_series(1, 10)")
    fwd.fetchmany(5)
    with pytest.raises(errors.ObjectNotInPrerequisiteState):
        fwd.scroll(-2)
    conn.rollback()


def test_transactions_and_withhold(cluster):
    """Without WITH HOLD a cursor needs a transaction and ends with it; WITH HOLD keeps it
    after the commit (autocommit too), until close()."""
    c = wasmpg.connect(cluster.dsn(), autocommit=True)
    try:
        with pytest.raises(errors.NoActiveSqlTransaction):
            c.cursor("n").execute("SELECT 1")
        held = c.cursor("h", withhold=True)
        held.execute("SELECT generate_series(1, 5)")
        assert held.fetchmany(2) == [(1,), (2,)]
        assert "h" in _cursors(c)
        assert held.fetchall() == [(3,), (4,), (5,)]
        held.close()
        assert "h" not in _cursors(c)
        with c.transaction():
            inner = c.cursor("in_tx")
            inner.execute("SELECT 1")
            assert inner.fetchall() == [(1,)]
        # Gone with its transaction: a fetch is the server's error, close() does nothing.
        with pytest.raises(errors.InvalidCursorName):
            inner.fetchone()
        inner.close()
    finally:
        c.close()
    d = wasmpg.connect(cluster.dsn())
    try:
        cur = d.cursor("implicit")  # the driver's BEGIN comes first
        cur.execute("SELECT 'x'")
        assert cur.fetchone() == ("x",)
        d.commit()
        with pytest.raises(errors.InvalidCursorName):
            cur.fetchone()
        d.rollback()
    finally:
        d.close()


def test_names_errors_and_reexecute(conn):
    cur = conn.cursor('we"ird %s name')
    cur.execute("SELECT %s::int", (7,))
    assert cur.fetchone() == (7,)
    cur.execute("SELECT 8")  # the previous declaration is closed first
    assert cur.fetchall() == [(8,)]
    assert _cursors(conn).count('we"ird %s name') == 1
    with pytest.raises(errors.UndefinedTable):
        conn.cursor("bad").execute("SELECT * FROM no_such_table")
    conn.rollback()
    with pytest.raises(wasmpg.ProgrammingError, match="execute"):
        conn.cursor("never").fetchone()
    with pytest.raises(wasmpg.NotSupportedError):
        conn.cursor("many").executemany("SELECT %s", [(1,)])
    with conn.cursor("ctx") as c2:
        c2.execute("SELECT 1")
    assert c2.closed
    conn.rollback()
