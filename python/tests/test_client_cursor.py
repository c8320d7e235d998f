"""Client-side binding (ClientCursor, AsyncClientCursor): what server-side binding cannot do
(untyped parameters, IN with a tuple), quoting that cannot be broken out of, mogrify, and the
placeholder scanner shared with server-side binding."""

from __future__ import annotations

import asyncio
import datetime
import decimal
import uuid

import pytest

import wasmpg


def test_what_server_side_binding_cannot_infer(aconn):
    cur = aconn.cursor()
    with pytest.raises(wasmpg.Error):
        cur.execute("SELECT concat(%s, %s)", ("a", 1))  # could not determine data type
    cc = aconn.cursor(cursor_factory=wasmpg.ClientCursor)
    cc.execute(
        "SELECT %s IS NULL, concat(%s, %s), json_build_object(%s, %s)::text", (None, "a", 1, "k", 2)
    )
    assert cc.fetchone() == (True, "a1", '{"k" : 2}')
    cc.execute("SELECT x FROM generate_series(1, 5) x WHERE x IN %s ORDER BY x", ((2, 4, 9),))
    assert cc.fetchall() == [(2,), (4,)]
    cc.execute("SELECT %(a)s::int + %(a)s::int, %(b)s", {"a": 20, "b": "b"})
    assert cc.fetchone() == (40, "b")
    with pytest.raises(wasmpg.ProgrammingError, match="empty tuple"):
        cc.execute("SELECT 1 WHERE 1 IN %s", ((),))


def test_values_round_trip_through_literals(aconn):
    """Every adapted type survives being merged into the text: the server reads back exactly
    the value (hostile strings included: quotes, backslashes, comments, $n, %)."""
    values = [
        "it's a \\ backslash ' \" -- not a comment /* nor this */ $1 %s %%",
        -5,
        2**40,
        decimal.Decimal("-1.50"),
        1.25,
        True,
        b"\x00\x01'\\",
        datetime.date(2020, 2, 29),
        datetime.datetime(2020, 1, 1, 12, 30, 45, 123456, tzinfo=datetime.timezone.utc),
        datetime.timedelta(days=-1, seconds=5),
        uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
        [1, None, 3],
        ["a'b", "c\\d"],
        wasmpg.Json({"a": [1, "x'y"]}),
    ]
    cc = wasmpg.ClientCursor(aconn)
    cc.execute("SELECT " + ", ".join(["%s"] * len(values)), values)
    row = cc.fetchone()
    assert list(row[:-1]) == values[:-1]
    assert row[-1] == {"a": [1, "x'y"]}
    assert "-- not a comment" in cc.query  # the merged statement, as sent


def test_mogrify_and_placeholders_in_strings(aconn):
    cc = aconn.cursor(cursor_factory=wasmpg.ClientCursor)
    assert cc.mogrify("SELECT %s, '%s', \"%s\", 1-%s -- %s\n", (1, -2)) == (
        "SELECT  '1'::int4, '%s', \"%s\", 1- '-2'::int4 -- %s\n"
    )
    assert cc.mogrify("SELECT 100%%") == "SELECT 100%%"  # no parameters: sent as it is
    assert cc.mogrify("SELECT 100%%, %s", ("x",)) == "SELECT 100%,  'x'"
    with pytest.raises(wasmpg.ProgrammingError, match="1 placeholder"):
        cc.mogrify("SELECT %s", (1, 2))
    with pytest.raises(wasmpg.DataError, match="NUL"):
        cc.mogrify("SELECT %s", ("a\x00b",))
    cc.execute("SELECT '%s', %s", ("real",))
    assert cc.fetchone() == ("%s", "real")


def test_executemany_is_one_round_trip_and_one_transaction(cluster, aconn, table):
    cur = aconn.cursor(cursor_factory=wasmpg.ClientCursor)
    cur.execute("CREATE TABLE %s (a int PRIMARY KEY, b text)" % table)
    cur.executemany(
        "INSERT INTO " + table + " VALUES (%s, %s)", [(i, "v%d" % i) for i in range(50)]
    )
    assert cur.rowcount == 50
    with pytest.raises(wasmpg.IntegrityError):
        cur.executemany("INSERT INTO " + table + " VALUES (%s, %s)", [(100, "x"), (1, "dup")])
    # The statements ran as one implicit transaction: the first insert is gone too.
    assert cluster.psql("SELECT count(*) FROM %s" % table) == "50"


def test_connection_cursor_factory(cluster):
    conn = wasmpg.connect(cluster.dsn(), autocommit=True, cursor_factory=wasmpg.ClientCursor)
    try:
        cur = conn.cursor()
        assert isinstance(cur, wasmpg.ClientCursor)
        cur.execute("SELECT %s IS NULL", (None,))
        assert cur.fetchone() == (True,)
        assert type(conn.cursor(cursor_factory=wasmpg.Cursor)) is wasmpg.Cursor
        assert conn.execute("SELECT %s::text", (None,)).fetchone() == (None,)
    finally:
        conn.close()


def test_async_client_cursor(cluster):
    async def main() -> None:
        conn = await wasmpg.AsyncConnection.connect(
            cluster.dsn(), autocommit=True, cursor_factory=wasmpg.AsyncClientCursor
        )
        try:
            cur = conn.cursor()
            await cur.execute(
                "SELECT %s IS NULL, x FROM generate_series(1, 3) x WHERE x IN %s", (None, (1, 3))
            )
            assert await cur.fetchall() == [(True, 1), (True, 3)]
            assert cur.mogrify("SELECT %s", ("a'b",)) == "SELECT  'a''b'"
        finally:
            await conn.close()

    asyncio.run(main())
