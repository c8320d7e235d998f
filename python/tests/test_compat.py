"""wasmpg.compat: psycopg2's API and behaviour on wasmpg, against the throwaway server."""

from __future__ import annotations

import datetime as dt
import io
import sys
import threading
import time
import uuid
from decimal import Decimal

import pytest

from wasmpg import compat

compat.register()

import psycopg2  # noqa: E402 - installed by compat.register()
import psycopg2.errorcodes  # noqa: E402
import psycopg2.errors  # noqa: E402
import psycopg2.extensions as ext  # noqa: E402
import psycopg2.extras  # noqa: E402
import psycopg2.pool  # noqa: E402
import psycopg2.tz  # noqa: E402
from psycopg2 import sql  # noqa: E402


@pytest.fixture
def pgconn(cluster):  # type: ignore[no-untyped-def]
    c = psycopg2.connect(cluster.dsn())
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def cur(pgconn):  # type: ignore[no-untyped-def]
    with pgconn.cursor() as c:
        yield c


def scalar(cur, query, params=None):  # type: ignore[no-untyped-def]
    cur.execute(query, params)
    return cur.fetchone()[0]


# -- modules --


def test_register_installs_the_modules():
    assert sys.modules["psycopg2"] is compat.psycopg2
    for name in ("extensions", "extras", "errors", "errorcodes", "sql", "pool", "tz"):
        assert sys.modules["psycopg2." + name] is getattr(psycopg2, name)
    assert psycopg2.__version__.startswith("2.9.")
    assert psycopg2.__version__.split(" ", 1)[1].startswith("(dt dec")
    assert (psycopg2.apilevel, psycopg2.threadsafety, psycopg2.paramstyle) == (
        "2.0",
        2,
        "pyformat",
    )
    compat.register()  # again: a no-op
    assert sys.modules["psycopg2"] is compat.psycopg2


def test_errors_are_wasmpg_errors():
    import wasmpg

    assert psycopg2.Error is wasmpg.Error
    assert psycopg2.errors.UniqueViolation is wasmpg.errors.UniqueViolation
    assert psycopg2.errors.lookup("40001") is psycopg2.errors.SerializationFailure
    with pytest.raises(KeyError):
        psycopg2.errors.lookup("XXXXX")
    assert psycopg2.errorcodes.lookup("23505") == "UNIQUE_VIOLATION"
    assert psycopg2.errorcodes.UNIQUE_VIOLATION == "23505"
    assert psycopg2.errorcodes.lookup("22") == "DATA_EXCEPTION"
    assert issubclass(ext.QueryCanceledError, psycopg2.OperationalError)


# -- connections --


def test_connect_keywords_and_info(cluster):
    conn = psycopg2.connect(
        host=cluster.host,
        port=cluster.port,
        user="postgres",
        dbname="wasmpg_test",
        client_encoding="UTF8",
        application_name="compat",
    )
    try:
        assert conn.closed == 0
        info = conn.info
        assert (info.host, info.port, info.user, info.dbname) == (
            cluster.host,
            cluster.port,
            "postgres",
            "wasmpg_test",
        )
        assert info.server_version == conn.server_version >= 100000
        assert info.backend_pid == conn.get_backend_pid() > 0
        assert info.parameter_status("application_name") == "compat"
        assert conn.get_parameter_status("server_encoding") == "UTF8"
        assert conn.encoding == "UTF8"
        assert info.transaction_status == ext.TRANSACTION_STATUS_IDLE
        assert info.protocol_version == conn.protocol_version == 3
        assert "dbname=wasmpg_test" in conn.dsn
        assert conn.get_dsn_parameters()["application_name"] == "compat"
    finally:
        conn.close()
    assert conn.closed == 1
    with pytest.raises(psycopg2.InterfaceError):
        conn.cursor()


def test_password_obscured_in_dsn(cluster):
    password, _ = __import__("_pgcluster").ROLES["scram_user"]
    conn = psycopg2.connect(cluster.dsn("scram_user", password))
    try:
        assert "password=xxx" in conn.dsn
        assert password not in conn.dsn
        assert conn.info.user == "scram_user"
    finally:
        conn.close()


def test_lost_connection_is_closed_2(cluster, pgconn):
    pid = pgconn.get_backend_pid()
    other = psycopg2.connect(cluster.dsn())
    other.autocommit = True
    other.cursor().execute("SELECT pg_terminate_backend(%s)", (pid,))
    other.close()
    with pytest.raises(psycopg2.OperationalError):
        pgconn.cursor().execute("SELECT 1")
    assert pgconn.closed == 2
    assert pgconn.info.transaction_status == ext.TRANSACTION_STATUS_UNKNOWN


def test_dsn_helpers():
    assert ext.parse_dsn("host=h port=5 dbname='a b' password='x\\'y'") == {
        "host": "h",
        "port": "5",
        "dbname": "a b",
        "password": "x'y",
    }
    assert ext.parse_dsn("postgresql://u:p%40@h1:1,h2:2/db?sslmode=disable") == {
        "user": "u",
        "password": "p@",
        "host": "h1,h2",
        "port": "1,2",
        "dbname": "db",
        "sslmode": "disable",
    }
    with pytest.raises(psycopg2.ProgrammingError):
        ext.parse_dsn("host")
    assert ext.make_dsn("dbname=x", user="a b", port=None) == "dbname=x user='a b'"
    assert ext.make_dsn(database="d") == "dbname=d"
    assert ext.quote_ident('a"b', None) == '"a""b"'


# -- quoting (client-side merging) --


def test_mogrify_quoting(cur):
    m = cur.mogrify
    assert m("%s, %s, %s", (1, -2, 2**70)) == b"1,  -2, 1180591620717411303424"
    assert m("%s %s %s", (1.5, -0.25, float("nan"))) == b"1.5  -0.25 'NaN'::float"
    assert m("%s", (float("-inf"),)) == b"'-Infinity'::float"
    assert m("%s %s", (Decimal("-1.50"), Decimal("NaN"))) == b" -1.50 'NaN'::numeric"
    assert m("%s %s %s", (True, False, None)) == b"true false NULL"
    assert m("%s", ("it's a \\ test",)) == b"'it''s a \\ test'"
    assert m("%s", ("€",)) == "'€'".encode()
    assert m("%s", (b"\x00\xff'",)) == b"'\\x00ff27'::bytea"
    assert m("%s", (bytearray(b"ab"),)) == b"'\\x6162'::bytea"
    assert m("%s", ([1, None, 3],)) == b"ARRAY[1,NULL,3]"
    assert m("%s", ([[1, 2], [3, 4]],)) == b"ARRAY[ARRAY[1,2],ARRAY[3,4]]"
    assert m("%s %s", ([], [None, None])) == b"'{}' '{NULL,NULL}'"
    assert m("x IN %s", ((1, "a", None),)) == b"x IN (1, 'a', NULL)"
    assert m("%s", (dt.date(2020, 1, 2),)) == b"'2020-01-02'::date"
    assert m("%s", (dt.datetime(2020, 1, 2, 3, 4, 5, 6),)) == (
        b"'2020-01-02T03:04:05.000006'::timestamp"
    )
    aware = dt.datetime(2020, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert m("%s", (aware,)) == b"'2020-01-02T03:04:05+02:00'::timestamptz"
    assert m("%s", (dt.time(3, 4, 5),)) == b"'03:04:05'::time"
    assert m("%s", (dt.timedelta(days=-1, seconds=5, microseconds=7),)) == (
        b"'-1 days 5.000007 seconds'::interval"
    )
    assert m("%(a)s + %(a)s = %(b)s", {"a": 1, "b": 2}) == b"1 + 1 = 2"
    assert m("'%s' %%", ("x",)) == b"''x'' %"  # quotes are no barrier, as in psycopg2
    assert m("select '%'") == b"select '%'"  # no parameters: nothing is touched
    assert m("select '%%'", ()) == b"select '%'"
    assert m("select 1", (5,)) == b"select 1"  # no placeholder: untouched
    with pytest.raises(psycopg2.ProgrammingError, match="can't adapt type 'dict'"):
        m("%s", ({"a": 1},))
    with pytest.raises(ValueError, match="NUL"):
        m("%s", ("a\x00b",))
    with pytest.raises(IndexError):
        m("%s %s", (1,))
    with pytest.raises(TypeError, match="not all arguments converted"):
        m("%s", (1, 2))
    with pytest.raises(KeyError):
        m("%(x)s", {"y": 1})
    with pytest.raises(psycopg2.ProgrammingError, match="mixed"):
        m("%(x)s %s", {"x": 1})


def test_merged_values_round_trip(cur):
    values = (
        1,
        -2,
        2**70,
        1.5,
        Decimal("-1.50"),
        True,
        None,
        "it's a \\ test",
        "€",
        b"\x00\xff'",
        [1, None, 3],
        [[1, 2], [3, 4]],
        dt.date(2020, 1, 2),
        dt.datetime(2020, 1, 2, 3, 4, 5, 6),
        dt.time(3, 4, 5),
        dt.timedelta(days=-1, seconds=5, microseconds=7),
    )
    cur.execute("SELECT " + ", ".join(["%s"] * len(values)), values)
    row = cur.fetchone()
    assert row[:9] == values[:9]
    assert isinstance(row[9], memoryview) and bytes(row[9]) == b"\x00\xff'"
    assert row[10:] == values[10:]
    cur.execute("SELECT %s", ([],))
    assert cur.fetchone() == ("{}",)
    cur.execute("SELECT 3 IN %s, 'x' = ANY(%s)", ((1, 2, 3), ["y", "x"]))
    assert cur.fetchone() == (True, True)
    assert cur.query == b"SELECT 3 IN (1, 2, 3), 'x' = ANY(ARRAY['y','x'])"


def test_adapt_and_adapters(pgconn):
    assert ext.adapt(None).getquoted() == b"NULL"
    q = ext.adapt("a\\b'")
    assert isinstance(q, ext.QuotedString)
    q.prepare(pgconn)
    assert q.getquoted() == b"'a\\b'''"
    assert ext.adapt(5).getquoted() == b"5"
    assert ext.AsIs("now()").getquoted() == b"now()"
    assert ext.Binary(b"ab").adapted == b"ab"
    b = psycopg2.Binary(b"\x01")
    b.prepare(pgconn)
    assert b.getquoted() == b"'\\x01'::bytea"

    class Point:
        def __init__(self, x: float, y: float) -> None:
            self.x, self.y = x, y

    def adapt_point(p: Point) -> ext.AsIs:
        return ext.AsIs("point(%s, %s)" % (ext.adapt(p.x).getquoted().decode(), p.y))

    ext.register_adapter(Point, adapt_point)
    try:
        with pgconn.cursor() as cur:
            cur.execute("SELECT %s::text", (Point(1.0, 2.5),))
            assert cur.fetchone() == ("(1,2.5)",)
    finally:
        del ext.adapters[(Point, ext.ISQLQuote)]

    class Name(str):
        pass

    assert ext.adapt(Name("x")).getquoted() == b"'x'"  # a subclass: the base's adapter


# -- transactions --


def test_begin_commit_rollback(cluster, pgconn, table):
    cur = pgconn.cursor()
    assert pgconn.status == ext.STATUS_READY
    cur.execute("CREATE TABLE %s (id int)" % table)
    assert pgconn.status == ext.STATUS_BEGIN
    assert pgconn.get_transaction_status() == ext.TRANSACTION_STATUS_INTRANS
    pgconn.commit()
    cur.execute("INSERT INTO %s VALUES (1)" % table)
    assert cur.rowcount == 1
    pgconn.rollback()
    assert scalar(cur, "SELECT count(*) FROM %s" % table) == 0
    cur.execute("INSERT INTO %s VALUES (2)" % table)
    pgconn.commit()
    assert cluster.psql("SELECT id FROM %s" % table) == "2"
    with pytest.raises(psycopg2.errors.UndefinedTable):
        cur.execute("SELECT * FROM nowhere_at_all")
    assert pgconn.info.transaction_status == ext.TRANSACTION_STATUS_INERROR
    with pytest.raises(psycopg2.errors.InFailedSqlTransaction):
        cur.execute("SELECT 1")
    pgconn.rollback()
    assert scalar(cur, "SELECT 1") == 1


def test_autocommit_and_session_characteristics(pgconn):
    cur = pgconn.cursor()
    assert pgconn.autocommit is False and pgconn.isolation_level is None
    pgconn.set_session(isolation_level="SERIALIZABLE", readonly=True)
    assert pgconn.isolation_level == ext.ISOLATION_LEVEL_SERIALIZABLE
    assert scalar(cur, "SHOW transaction_isolation") == "serializable"
    assert scalar(cur, "SHOW transaction_read_only") == "on"
    with pytest.raises(psycopg2.ProgrammingError, match="inside a transaction"):
        pgconn.autocommit = True
    pgconn.rollback()
    pgconn.isolation_level = ext.ISOLATION_LEVEL_REPEATABLE_READ
    pgconn.readonly = "default"
    assert scalar(cur, "SHOW transaction_isolation") == "repeatable read"
    assert scalar(cur, "SHOW transaction_read_only") == "off"
    pgconn.rollback()
    # In autocommit mode the characteristics are the session's defaults.
    pgconn.set_session(autocommit=True, deferrable=True)
    assert scalar(cur, "SHOW default_transaction_deferrable") == "on"
    assert pgconn.get_transaction_status() == ext.TRANSACTION_STATUS_IDLE
    pgconn.autocommit = False
    assert scalar(cur, "SHOW default_transaction_deferrable") == "off"
    pgconn.rollback()
    pgconn.set_isolation_level(ext.ISOLATION_LEVEL_AUTOCOMMIT)
    assert pgconn.autocommit is True
    cur.execute("SELECT 1")
    assert pgconn.get_transaction_status() == ext.TRANSACTION_STATUS_IDLE
    pgconn.set_isolation_level(ext.ISOLATION_LEVEL_READ_COMMITTED)
    assert pgconn.autocommit is False
    assert pgconn.isolation_level == ext.ISOLATION_LEVEL_READ_COMMITTED
    with pytest.raises(ValueError):
        pgconn.isolation_level = 7


def test_with_connection_block(cluster, pgconn, table):
    pgconn.autocommit = True
    pgconn.cursor().execute("CREATE TABLE %s (id int)" % table)
    with pgconn:  # a transaction although in autocommit mode (psycopg2 2.9)
        pgconn.cursor().execute("INSERT INTO %s VALUES (1)" % table)
        assert pgconn.info.transaction_status == ext.TRANSACTION_STATUS_INTRANS
    assert cluster.psql("SELECT id FROM %s" % table) == "1"
    with pytest.raises(ZeroDivisionError), pgconn:
        pgconn.cursor().execute("INSERT INTO %s VALUES (2)" % table)
        raise ZeroDivisionError
    assert cluster.psql("SELECT count(*) FROM %s" % table) == "1"
    assert pgconn.closed == 0


# -- results --


def test_typecasting_defaults(cur, monkeypatch):
    # psycopg2's defaults: without register_uuid() (Django's backend calls it globally).
    monkeypatch.delitem(ext.string_types, 2950, raising=False)
    cur.execute(
        "SELECT '\\x0102'::bytea, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, "
        "'{\"a\": [1, 2.5]}'::jsonb, '1.2.3.4/24'::inet, '10.0.0.0/8'::cidr, "
        "'{1,2}'::int[], '{a,NULL}'::text[], 1.5::numeric, 'infinity'::date, "
        "'2020-01-02 03:04:05+02'::timestamptz, '2020-01-02 03:04:05'::timestamp, "
        "'{\"x y\",z}'::varchar[], 2::oid, '{1.2.3.4}'::inet[]"
    )
    row = cur.fetchone()
    assert isinstance(row[0], memoryview) and bytes(row[0]) == b"\x01\x02"
    assert row[1] == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"  # str until register_uuid
    assert row[2] == {"a": [1, 2.5]}
    assert row[3:5] == ("1.2.3.4/24", "10.0.0.0/8")
    assert row[5:9] == ([1, 2], ["a", None], Decimal("1.5"), dt.date.max)
    assert row[9] == dt.datetime(2020, 1, 2, 1, 4, 5, tzinfo=dt.timezone.utc)
    assert row[10] == dt.datetime(2020, 1, 2, 3, 4, 5)
    assert row[11:] == (["x y", "z"], 2, ["1.2.3.4"])
    assert [d.type_code for d in cur.description][:3] == [17, 2950, 3802]
    assert cur.description[0].type_code == psycopg2.BINARY
    assert cur.description[7].type_code == psycopg2.NUMBER
    assert cur.description[10].type_code == psycopg2.DATETIME


def test_description_like_psycopg2(cur, table):
    cur.execute("CREATE TEMP TABLE %s (a varchar(30), b numeric(10, 2), c numeric, d int)" % table)
    cur.execute("SELECT * FROM %s" % table)
    a, b, c, d = cur.description
    assert (a.name, a.type_code, a.display_size, a.internal_size) == ("a", 1043, None, 30)
    assert (b.internal_size, b.precision, b.scale) == (10, 10, 2)
    assert (c.precision, c.scale) == (65535, 65535)
    assert d.internal_size == 4 and d[0] == "d" and len(d) == 7
    assert a.table_oid and a.table_column == 1


def test_tzinfo_factory(cur):
    cur.execute("SET TIME ZONE 'Europe/Paris'")
    query = "SELECT '2020-07-01 12:00:00+00'::timestamptz, '12:00:00+05:30'::timetz"
    cur.execute(query)
    ts, t = cur.fetchone()
    assert ts == dt.datetime(2020, 7, 1, 14, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert t.utcoffset() == dt.timedelta(hours=5, minutes=30)
    cur.tzinfo_factory = None  # naive: the session's wall time
    cur.execute(query)
    ts, t = cur.fetchone()
    assert ts == dt.datetime(2020, 7, 1, 14) and ts.tzinfo is None
    assert t == dt.time(12) and t.tzinfo is None
    cur.tzinfo_factory = psycopg2.tz.FixedOffsetTimezone
    cur.execute(query)
    ts = cur.fetchone()[0]
    assert isinstance(ts.tzinfo, psycopg2.tz.FixedOffsetTimezone)
    assert ts.utcoffset() == dt.timedelta(hours=2)
    cur.execute("SELECT 'infinity'::timestamptz, %s", ("-infinity",))
    assert cur.fetchone()[0] == dt.datetime.max.replace(tzinfo=dt.timezone.utc)


# A column of timestamptz values across DST in Europe/Paris (+01 in winter, +02 in summer),
# with a NULL, infinity and -infinity among them.
_TZ_COLUMN = (
    "SELECT v FROM (VALUES (1, '2020-01-15 12:00:00+00'::timestamptz), "
    "(2, '2020-07-01 12:00:00+00'), (3, NULL), (4, '2020-07-02 12:30:00.25+00'), "
    "(5, 'infinity'), (6, '-infinity'), (7, '2020-12-31 23:00:00+00')) AS t (k, v) ORDER BY k"
)
_PARIS_WALL = [
    (dt.datetime(2020, 1, 15, 13), 1),
    (dt.datetime(2020, 7, 1, 14), 2),
    None,
    (dt.datetime(2020, 7, 2, 14, 30, 0, 250000), 2),
    "inf",
    "-inf",
    (dt.datetime(2021, 1, 1, 0), 1),
]


def _expected_paris(factory):  # type: ignore[no-untyped-def]
    """The column above as psycopg2 returns it with ``tzinfo_factory`` = factory."""
    out = []
    for item in _PARIS_WALL:
        if item is None:
            out.append(None)
        elif isinstance(item, str):
            edge = dt.datetime.max if item == "inf" else dt.datetime.min
            out.append(edge if factory is None else edge.replace(tzinfo=dt.timezone.utc))
        else:
            wall, hours = item
            offset = dt.timedelta(hours=hours)
            out.append(wall if factory is None else wall.replace(tzinfo=factory(offset)))
    return out


def test_tzinfo_factory_per_offset_across_dst(cur):
    cur.execute("SET TIME ZONE 'Europe/Paris'")
    calls = []
    zones = {}

    def factory(offset):  # type: ignore[no-untyped-def]
        calls.append(offset)
        return zones.setdefault(offset, psycopg2.tz.FixedOffsetTimezone(offset.seconds // 60))

    def django_like(offset):  # type: ignore[no-untyped-def]
        return dt.timezone.utc  # Django's: its connection's zone, whatever the offset

    for tzf in (dt.timezone, None, factory, django_like, psycopg2.tz.FixedOffsetTimezone):
        want = _expected_paris(tzf)
        calls.clear()
        cur.tzinfo_factory = tzf
        cur.execute(_TZ_COLUMN)
        got = [r[0] for r in cur.fetchall()]
        assert got == want, tzf
        # Equal is not enough: the same wall time and the factory's own tzinfo objects.
        for g, w in zip(got, want):
            if g is not None:
                assert g.replace(tzinfo=None) == w.replace(tzinfo=None)
                assert type(g.tzinfo) is type(w.tzinfo) and g.utcoffset() == w.utcoffset()
        if tzf is factory:
            # Called once per distinct offset of the fetch (+01 and +02), not per value; the
            # infinities are UTC, not the factory's.
            assert sorted(calls) == [dt.timedelta(hours=1), dt.timedelta(hours=2)]
            assert got[0].tzinfo is zones[dt.timedelta(hours=1)]
            assert got[1].tzinfo is got[3].tzinfo is zones[dt.timedelta(hours=2)]
            assert got[4].tzinfo is dt.timezone.utc
        # Row by row and in chunks: the same values.
        cur.execute(_TZ_COLUMN)
        assert [cur.fetchone()[0] for _ in range(7)] + cur.fetchall() == want
        cur.execute(_TZ_COLUMN)
        assert [r[0] for r in cur.fetchmany(3) + cur.fetchmany(3) + cur.fetchmany(3)] == want


def test_tzinfo_factory_one_offset_fast_path(cur):
    cur.execute("SET TIME ZONE 'UTC'")
    q = (
        "SELECT '2020-01-01 00:00+00'::timestamptz + n * interval '1 hour', "
        "CASE WHEN n % 3 = 0 THEN NULL ELSE '2020-06-01 00:00+00'::timestamptz END "
        "FROM generate_series(1, 50) n ORDER BY n"
    )
    want = [
        (
            dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(hours=n),
            None if n % 3 == 0 else dt.datetime(2020, 6, 1, tzinfo=dt.timezone.utc),
        )
        for n in range(1, 51)
    ]
    utc_calls = []

    def to_utc(offset):  # type: ignore[no-untyped-def]
        utc_calls.append(offset)
        return dt.timezone.utc

    for tzf in (dt.timezone, to_utc):
        cur.tzinfo_factory = tzf
        cur.execute(q)
        rows = cur.fetchall()
        assert rows == want and all(type(r) is tuple for r in rows)
        assert all(r[0].tzinfo is dt.timezone.utc for r in rows)
    assert utc_calls == [dt.timedelta(0)] * 2  # once per column of the fetch
    # A factory with a zone of its own: every value gets it, the wall time unchanged.
    paris = psycopg2.tz.FixedOffsetTimezone(60)
    cur.tzinfo_factory = lambda offset: paris
    cur.execute(q)
    rows = cur.fetchall()
    assert [r[0].replace(tzinfo=None) for r in rows] == [w[0].replace(tzinfo=None) for w in want]
    assert all(r[0].tzinfo is paris for r in rows)
    assert all(r[1] is None or r[1].tzinfo is paris for r in rows)
    # USE_TZ=False in Django: naive values, the session's wall time.
    cur.tzinfo_factory = None
    cur.execute(q)
    assert cur.fetchall() == [
        tuple(None if v is None else v.replace(tzinfo=None) for v in w) for w in want
    ]
    # The factory is read at fetch time, as psycopg2 typecasts then.
    cur.tzinfo_factory = dt.timezone
    cur.execute(q)
    first = cur.fetchone()[0]
    cur.tzinfo_factory = None
    second = cur.fetchone()[0]
    assert first.tzinfo is dt.timezone.utc and second.tzinfo is None


def test_typecasting_row_factories_and_named_cursors_finish(pgconn):
    pgconn.cursor().execute("SET TIME ZONE 'Europe/Paris'")
    q = "SELECT '\\x01'::bytea AS b, '2020-07-01 12:00+00'::timestamptz AS t, 1 AS n"
    for factory in (psycopg2.extras.RealDictCursor, psycopg2.extras.NamedTupleCursor, None):
        with pgconn.cursor(cursor_factory=factory) as c:
            c.tzinfo_factory = None
            c.execute(q)
            row = c.fetchone()
            values = list(row.values()) if isinstance(row, dict) else list(row)
            assert isinstance(values[0], memoryview) and bytes(values[0]) == b"\x01"
            assert values[1:] == [dt.datetime(2020, 7, 1, 14), 1]
    with pgconn:
        with pgconn.cursor("named_finish") as c:
            c.tzinfo_factory = None
            c.execute(q + " FROM generate_series(1, 5)")
            first = c.fetchone()
            rest = list(c)
            assert [first, *rest] == [first] * 5 and first[1] == dt.datetime(2020, 7, 1, 14)


def test_column_plans_follow_registrations(pgconn):
    q = "SELECT 1.5::numeric, 2::int4"
    cur = pgconn.cursor()
    cur.execute(q)
    assert cur.fetchone() == (Decimal("1.5"), 2)
    first = cur.description
    cur.execute(q)
    assert cur.description is first  # made once per result shape
    as_float = ext.new_type((1700,), "F", lambda v, c: None if v is None else float(v))
    ext.register_type(as_float, pgconn)
    cur.execute(q)
    assert cur.fetchone() == (1.5, 2)
    del pgconn.string_types[1700]  # psycopg2's maps are dicts: changed directly too
    cur.execute(q)
    assert cur.fetchone() == (Decimal("1.5"), 2)
    pgconn.string_types[1700] = as_float
    cur.execute(q)
    assert cur.fetchone() == (1.5, 2)
    pgconn.string_types.clear()
    as_str = ext.new_type((23,), "S", lambda v, c: None if v is None else "int " + v)
    ext.register_type(as_str, cur)  # the cursor's own: this cursor only
    cur.execute(q)
    assert cur.fetchone() == (Decimal("1.5"), "int 2")
    other = pgconn.cursor()
    other.execute(q)
    assert other.fetchone() == (Decimal("1.5"), 2)
    saved = ext.string_types[23]
    try:
        ext.string_types[23] = as_str  # the global map, changed directly
        other.execute(q)
        assert other.fetchone() == (Decimal("1.5"), "int 2")
    finally:
        ext.string_types[23] = saved
    other.execute(q)
    assert other.fetchone() == (Decimal("1.5"), 2)


def test_mogrify_fast_paths_match_the_adapters(cur):
    values = [
        "it's",
        -3,
        True,
        -1.5,
        Decimal("-2.50"),
        Decimal("Infinity"),
        dt.datetime(2020, 1, 2, 3, 4, 5, 6),
        dt.datetime(2020, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=-3))),
        dt.date(2020, 1, 2),
        None,
    ]
    for v in values:
        want = b"NULL" if v is None else ext.adapt(v).getquoted()
        assert cur.mogrify("%s", (v,)) == want, v
        assert cur.mogrify("%s", [v]) == want, v
        assert cur.mogrify("%(v)s", {"v": v}) == want, v
    assert cur.mogrify("a %s b %s c", [1, "x"]) == b"a 1 b 'x' c"
    assert cur.mogrify("%s %%", (1,)) == b"1 %"  # %% takes the general path

    class Wrapped(ext.ISQLQuote):
        def getquoted(self):  # type: ignore[no-untyped-def]
            return b"wrapped"

    saved = ext.adapters[(int, ext.ISQLQuote)]
    ext.register_adapter(int, Wrapped)
    try:
        assert cur.mogrify("%s, %s", (1, 2.5)) == b"wrapped, 2.5"
    finally:
        ext.adapters[(int, ext.ISQLQuote)] = saved
    assert cur.mogrify("%s", (7,)) == b"7"


def test_typecasters_by_scope(pgconn):
    cur = pgconn.cursor()
    other = pgconn.cursor()
    as_float = ext.new_type(
        ext.DECIMAL.values, "DEC2FLOAT", lambda v, c: None if v is None else float(v)
    )
    ext.register_type(as_float, cur)
    cur.execute("SELECT 1.25::numeric, NULL::numeric")
    assert cur.fetchone() == (1.25, None)
    other.execute("SELECT 1.25::numeric")
    assert other.fetchone() == (Decimal("1.25"),)
    psycopg2.extras.register_default_jsonb(pgconn, loads=lambda x: x)
    other.execute('SELECT \'{"b": 1, "a": [true, null]}\'::jsonb, \'{"a":1}\'::json')
    text, parsed = other.fetchone()
    assert isinstance(text, str) and __import__("json").loads(text) == {"a": [True, None], "b": 1}
    assert parsed == {"a": 1}
    # A caster for a type wasmpg leaves as text receives the server's own text.
    seen = []

    def money(value, cursor):  # type: ignore[no-untyped-def]
        seen.append(value)
        return None if value is None else Decimal(value.replace("$", "").replace(",", ""))

    ext.register_type(ext.new_type((790,), "MONEY", money), pgconn)
    other.execute("SELECT '1234.5'::money")
    assert other.fetchone() == (Decimal("1234.50"),) and seen == ["$1,234.50"]
    arr = ext.new_array_type((791,), "MONEYARRAY", ext.new_type((790,), "M", money))
    ext.register_type(arr, other)
    other.execute("SELECT ARRAY['1'::money, NULL]")
    assert other.fetchone() == ([Decimal("1.00"), None],)
    assert other.cast(1700, "2.5") == Decimal("2.5")
    assert ext.INTEGER("42", None) == 42 and ext.BOOLEAN("t", None) is True
    with psycopg2.connect(pgconn.dsn_raw) as fresh:
        c = fresh.cursor()
        c.execute("SELECT '{}'::jsonb, 1.0::numeric")
        assert c.fetchone() == ({}, Decimal("1.0"))
        fresh.close()


def test_register_uuid_per_connection(pgconn):
    u = uuid.uuid4()
    psycopg2.extras.register_uuid(conn_or_curs=pgconn)
    cur = pgconn.cursor()
    cur.execute("SELECT %s, ARRAY[%s]::uuid[]", (u, u))
    assert cur.query == ("SELECT '%s'::uuid, ARRAY['%s'::uuid]::uuid[]" % (u, u)).encode()
    assert cur.fetchone() == (u, [u])


def test_json_inet_and_ranges(cur):
    J = psycopg2.extras.Json
    cur.execute(
        "SELECT %s::jsonb -> 'k', %s::json", (J({"k": ["é", 1]}), J([1], dumps=lambda o: "[2]"))
    )
    assert cur.fetchone() == (["é", 1], [2])
    assert cur.mogrify("%s", (psycopg2.extras.Inet("1.2.3.4"),)) == b"'1.2.3.4'::inet"
    cur.execute("SELECT %s", (psycopg2.extras.Inet("::1"),))
    assert cur.fetchone() == ("::1",)
    R = psycopg2.extras
    values = (
        R.NumericRange(1, 10, "[)"),
        R.NumericRange(Decimal("1.5"), None, "(]"),
        R.DateRange(dt.date(2020, 1, 1), dt.date(2020, 2, 1)),
        R.DateTimeRange(dt.datetime(2020, 1, 1), dt.datetime(2020, 1, 2), "[]"),
        R.DateTimeTZRange(dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc), None, "[)"),
        R.NumericRange(empty=True),
    )
    cur.execute("SELECT %s::int4range, %s::numrange, %s, %s, %s, %s::int8range", values)
    row = cur.fetchone()
    assert row[0] == values[0] and row[1] == R.NumericRange(Decimal("1.5"), None, "()")
    assert row[2:5] == values[2:5]
    assert row[5].isempty and not row[5]
    assert isinstance(row[3], R.DateTimeRange) and row[3].upper_inc
    assert 5 in row[0] and 10 not in row[0] and row[1].upper_inf
    assert cur.mogrify("%s", (values[2],)) == (
        b"daterange('2020-01-01'::date, '2020-02-01'::date, '[)')"
    )
    assert cur.mogrify("%s", (values[0],)) == b"'[1,10)'"
    cur.execute("SELECT '[2020-01-01,2020-02-01)'::daterange, '(,)'::int4range")
    assert cur.fetchone() == (values[2], R.NumericRange(None, None, "()"))
    assert R.NumericRange(1, 2) < R.NumericRange(1, 3)


def test_row_factories(pgconn):
    q = "SELECT 1 AS a, 'x' AS b, 2 AS \"c d\""
    with pgconn.cursor(cursor_factory=psycopg2.extras.DictCursor) as c:
        c.execute(q)
        r = c.fetchone()
        assert r["a"] == r[0] == 1 and r["b"] == "x" and list(r.keys()) == ["a", "b", "c d"]
        assert dict(r.items()) == {"a": 1, "b": "x", "c d": 2} and "a" in r
    with pgconn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as c:
        c.execute(q)
        assert c.fetchall() == [{"a": 1, "b": "x", "c d": 2}]
    with pgconn.cursor(cursor_factory=psycopg2.extras.NamedTupleCursor) as c:
        c.execute(q)
        r = c.fetchone()
        assert (r.a, r.b, r[2]) == (1, "x", 2)
    with pgconn.cursor("named_dict", cursor_factory=psycopg2.extras.RealDictCursor) as c:
        c.execute("SELECT generate_series(1, 3) AS n")
        assert [row["n"] for row in c] == [1, 2, 3]
    conn = psycopg2.connect(pgconn.dsn_raw, connection_factory=psycopg2.extras.DictConnection)
    try:
        c = conn.cursor()
        c.execute(q)
        assert c.fetchone()["c d"] == 2
    finally:
        conn.close()


def test_subclassing_connection_and_cursor(cluster):
    class MyCursor(ext.cursor):
        def execute(self, query, vars=None):  # type: ignore[no-untyped-def]
            self.seen = query
            return super().execute(query, vars)

    class MyConnection(ext.connection):
        def __init__(self, dsn, *args, **kwargs):  # type: ignore[no-untyped-def]
            super().__init__(dsn, *args, **kwargs)
            self.made = True

    conn = psycopg2.connect(cluster.dsn(), connection_factory=MyConnection, cursor_factory=MyCursor)
    try:
        assert isinstance(conn, MyConnection) and conn.made
        cur = conn.cursor()
        assert isinstance(cur, MyCursor)
        cur.execute("SELECT %s", (5,))
        assert cur.seen == "SELECT %s" and cur.fetchone() == (5,)
        plain = conn.cursor(cursor_factory=ext.cursor)
        assert type(plain) is ext.cursor
    finally:
        conn.close()


def test_client_cursor_fetching(cur):
    cur.execute("SELECT generate_series(1, 5)")
    assert cur.rowcount == 5 and cur.rownumber == 0
    assert cur.fetchone() == (1,)
    assert cur.fetchmany(2) == [(2,), (3,)] and cur.rownumber == 3
    cur.scroll(-2)
    assert cur.fetchone() == (2,)
    cur.scroll(4, mode="absolute")
    assert cur.fetchall() == [(5,)]
    with pytest.raises(IndexError):
        cur.scroll(10)
    assert cur.fetchone() is None
    cur.arraysize = 2
    cur.execute("SELECT generate_series(1, 3)")
    assert cur.fetchmany() == [(1,), (2,)]
    assert list(cur) == [(3,)]
    cur.execute("SELECT 1; SELECT 2, 3")  # the last result, as psycopg2
    assert cur.fetchall() == [(2, 3)]
    with pytest.raises(psycopg2.NotSupportedError):
        cur.nextset()
    cur.execute("CREATE TEMP TABLE tmp_rows (x int)")
    assert cur.description is None and cur.statusmessage == "CREATE TABLE"
    with pytest.raises(psycopg2.ProgrammingError, match="no results to fetch"):
        cur.fetchone()
    cur.executemany("INSERT INTO tmp_rows VALUES (%s)", [(1,), (2,), (3,)])
    assert cur.rowcount == 3
    assert cur.callproc("abs", (-4,)) == (-4,) and cur.fetchone() == (4,)
    with pytest.raises(psycopg2.ProgrammingError, match="empty query"):
        cur.execute("")
    cur.close()
    assert cur.closed
    with pytest.raises(psycopg2.InterfaceError):
        cur.execute("SELECT 1")


def test_errors_carry_psycopg2_attributes(pgconn, table):
    cur = pgconn.cursor()
    cur.execute("CREATE TABLE %s (id int PRIMARY KEY)" % table)
    cur.execute("INSERT INTO %s VALUES (1)" % table)
    with pytest.raises(psycopg2.IntegrityError) as info:
        cur.execute("INSERT INTO %s VALUES (%%s)" % table, (1,))
    e = info.value
    assert isinstance(e, psycopg2.errors.UniqueViolation)
    assert e.pgcode == psycopg2.errorcodes.UNIQUE_VIOLATION
    assert e.cursor is cur
    assert "duplicate key" in e.pgerror
    assert e.diag.constraint_name == table + "_pkey"
    assert ext.Diagnostics(e).table_name == table
    pgconn.rollback()


# -- named cursors --


def test_named_cursor(pgconn):
    cur = pgconn.cursor("c1")
    cur.itersize = 3
    cur.execute("SELECT generate_series(1, 10) AS n")
    assert cur.fetchone() == (1,)
    assert cur.description[0].name == "n"
    other = pgconn.cursor()
    other.execute("SELECT 'between'")  # another statement while the cursor is open
    assert other.fetchone() == ("between",)
    assert cur.fetchmany(2) == [(2,), (3,)]
    assert [r[0] for r in cur] == [4, 5, 6, 7, 8, 9, 10]
    with pytest.raises(psycopg2.ProgrammingError, match="more than once"):
        cur.execute("SELECT 1")
    cur.close()
    other.execute("SELECT count(*) FROM pg_cursors WHERE name = 'c1'")
    assert other.fetchone() == (0,)
    scroll = pgconn.cursor("c2", scrollable=True)
    scroll.execute("SELECT generate_series(1, 5)")
    assert scroll.fetchall() == [(1,), (2,), (3,), (4,), (5,)]
    scroll.scroll(1, mode="absolute")
    assert scroll.fetchone() == (2,)
    scroll.scroll(-2)
    assert scroll.fetchone() == (1,)
    pgconn.rollback()


def test_named_cursor_withhold_in_autocommit(pgconn):
    pgconn.autocommit = True
    cur = pgconn.cursor("held", withhold=True)
    cur.execute("SELECT x, %s FROM generate_series(1, 4) AS x", ("v",))
    assert cur.query.startswith(b"DECLARE \"held\" CURSOR WITH HOLD FOR SELECT x, 'v'")
    assert cur.fetchmany(2) == [(1, "v"), (2, "v")]
    assert pgconn.get_transaction_status() == ext.TRANSACTION_STATUS_IDLE
    assert cur.fetchall() == [(3, "v"), (4, "v")]
    cur.close()
    c = pgconn.cursor()
    c.execute("SELECT count(*) FROM pg_cursors")
    assert c.fetchone() == (0,)


# -- COPY --


def test_copy_from_to_expert(pgconn, table):
    cur = pgconn.cursor()
    cur.execute("CREATE TABLE %s (id int, name text)" % table)
    cur.copy_from(io.StringIO("1\ta\n2\t\\N\n"), table)
    assert cur.rowcount == 2
    cur.copy_from(io.BytesIO(b"3|c\n"), table, sep="|", columns=("id", "name"))
    out = io.StringIO()
    cur.copy_to(out, table, sep=",", null="NULL")
    assert out.getvalue() == "1,a\n2,NULL\n3,c\n"
    data = io.BytesIO()
    cur.copy_expert("COPY (SELECT name FROM %s ORDER BY id) TO STDOUT WITH CSV" % table, data)
    assert data.getvalue() == b"a\n\nc\n"
    cur.copy_expert(
        sql.SQL("COPY {} FROM STDIN WITH CSV").format(sql.Identifier(table)), io.StringIO("4,d\n")
    )
    assert scalar(cur, "SELECT count(*) FROM %s" % table) == 4
    with pytest.raises(psycopg2.DataError):
        cur.copy_from(io.StringIO("x\ty\n"), table)
    pgconn.rollback()
    with pytest.raises(psycopg2.ProgrammingError, match="copy"):
        cur.execute("COPY (SELECT 1) TO STDOUT")


# -- sql composition, batches --


def test_sql_composition(pgconn, table):
    cur = pgconn.cursor()
    q = sql.SQL("CREATE TABLE {} ({} int, {} text)").format(
        sql.Identifier(table), sql.Identifier("id"), sql.Identifier("my col")
    )
    assert q.as_string(pgconn) == 'CREATE TABLE "%s" ("id" int, "my col" text)' % table
    cur.execute(q)
    ins = sql.SQL("INSERT INTO {t} VALUES ({})").format(
        sql.SQL(", ").join([sql.Placeholder(), sql.Literal("it's")]), t=sql.Identifier(table)
    )
    assert ins.as_string(cur) == "INSERT INTO \"%s\" VALUES (%%s, 'it''s')" % table
    cur.execute(ins, (7,))
    sel = sql.SQL("SELECT {} FROM {}").format(
        sql.Composed([sql.Identifier("my col"), sql.SQL(", id")]), sql.Identifier("public", table)
    )
    cur.execute(sel)
    assert cur.fetchall() == [("it's", 7)]
    assert sql.Identifier("a") + sql.SQL("b") == sql.Composed([sql.Identifier("a"), sql.SQL("b")])
    assert sql.Placeholder("x").as_string(pgconn) == "%(x)s"
    assert sql.NULL.as_string(pgconn) == "NULL"
    pgconn.rollback()


def test_execute_values_and_batch(pgconn, table):
    cur = pgconn.cursor()
    cur.execute("CREATE TABLE %s (id int, name text)" % table)
    rows = [(i, "n%d" % i) for i in range(250)]
    got = psycopg2.extras.execute_values(
        cur, "INSERT INTO %s VALUES %%s RETURNING id" % table, rows, fetch=True
    )
    assert got is not None and sorted(r[0] for r in got) == list(range(250))
    psycopg2.extras.execute_values(
        cur,
        "UPDATE %s AS t SET name = v.name FROM (VALUES %%s) AS v(id, name) WHERE t.id = v.id"
        % table,
        [(1, "one"), (2, "two")],
        template="(%s, %s)",
    )
    psycopg2.extras.execute_batch(
        cur, "UPDATE %s SET name = %%s WHERE id = %%s" % table, [("x", 3), ("y", 4)], page_size=1
    )
    cur.execute("SELECT name FROM %s WHERE id < 5 ORDER BY id" % table)
    assert cur.fetchall() == [("n0",), ("one",), ("two",), ("x",), ("y",)]
    with pytest.raises(ValueError):
        psycopg2.extras.execute_values(cur, "SELECT %s, %s", [(1,)])
    pgconn.rollback()


# -- pool, tz --


def test_pools(cluster):
    p = psycopg2.pool.SimpleConnectionPool(1, 2, cluster.dsn())
    a = p.getconn()
    b = p.getconn()
    assert a is not b
    with pytest.raises(psycopg2.pool.PoolError, match="exhausted"):
        p.getconn()
    a.cursor().execute("SELECT 1")  # left in a transaction: rolled back on putconn
    p.putconn(a)
    assert a.closed == 0 and a.info.transaction_status == ext.TRANSACTION_STATUS_IDLE
    p.putconn(b)
    assert b.closed == 1  # beyond minconn: closed
    assert p.getconn() is a
    p.closeall()
    assert a.closed and p.closed
    t = psycopg2.pool.ThreadedConnectionPool(0, 3, cluster.dsn())
    results = []

    def work() -> None:
        c = t.getconn()
        cur = c.cursor()
        cur.execute("SELECT 1")
        results.append(cur.fetchone()[0])
        t.putconn(c)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert results == [1, 1, 1]
    t.closeall()


def test_fixed_offset_timezone():
    tz = psycopg2.tz.FixedOffsetTimezone
    assert tz(60) is tz(60)
    assert tz(60) == tz(dt.timedelta(hours=1)) and tz(60) != tz(0)
    assert tz(330).tzname(None) == "+05:30"
    assert tz(-120).utcoffset(None) == dt.timedelta(hours=-2)
    assert tz(60, "X").tzname(None) == "X"
    now = dt.datetime(2020, 1, 1, tzinfo=psycopg2.tz.LOCAL)
    assert now.utcoffset() is not None
    import pickle

    assert pickle.loads(pickle.dumps(tz(90))) == tz(90)


# -- notices, notifications, cancel, stubs --


def test_notices_and_notifies(pgconn):
    pgconn.autocommit = True
    cur = pgconn.cursor()
    cur.execute("DO $$ BEGIN RAISE NOTICE 'hello %', 42; END $$")
    assert pgconn.notices[-1] == "NOTICE:  hello 42\n"
    from collections import deque

    pgconn.notices = deque(maxlen=2)
    cur.execute("DO $$ BEGIN RAISE NOTICE 'again'; END $$")
    assert list(pgconn.notices) == ["NOTICE:  again\n"]
    cur.execute("LISTEN chan")
    cur.execute("NOTIFY chan, 'payload'")
    n = pgconn.notifies.pop(0)
    assert isinstance(n, ext.Notify)
    assert (n.pid, n.channel, n.payload) == (pgconn.get_backend_pid(), "chan", "payload")
    assert n == (pgconn.get_backend_pid(), "chan")
    other = psycopg2.connect(pgconn.dsn_raw)
    other.autocommit = True
    other.cursor().execute("NOTIFY chan, 'from other'")
    other.close()
    deadline = time.monotonic() + 5
    while not pgconn.notifies and time.monotonic() < deadline:
        assert pgconn.poll() == ext.POLL_OK
    assert pgconn.notifies[0].payload == "from other"


def test_cancel(pgconn):
    cur = pgconn.cursor()
    timer = threading.Timer(0.3, pgconn.cancel)
    timer.start()
    try:
        with pytest.raises(ext.QueryCanceledError):
            cur.execute("SELECT pg_sleep(10)")
    finally:
        timer.cancel()
    pgconn.rollback()
    assert scalar(cur, "SELECT 1") == 1


def test_unsupported_features_say_so(pgconn):
    assert ext.get_wait_callback() is None
    ext.set_wait_callback(None)
    with pytest.raises(psycopg2.NotSupportedError):
        ext.set_wait_callback(lambda conn: None)
    with pytest.raises(psycopg2.NotSupportedError):
        pgconn.lobject()
    with pytest.raises(psycopg2.NotSupportedError):
        psycopg2.connect(pgconn.dsn_raw, async_=True)
    with pytest.raises(psycopg2.NotSupportedError):
        pgconn.set_client_encoding("LATIN1")
    pgconn.set_client_encoding("utf-8")
    assert pgconn.encoding == "UTF8"
    assert ext.encodings["UTF8"] == "utf_8"


def test_composite_and_hstore(pgconn):
    cur = pgconn.cursor()
    cur.execute("CREATE TYPE compat_card AS (value int, suit text, note text)")
    psycopg2.extras.register_composite("compat_card", cur)
    cur.execute(
        "SELECT (8, 'he\"arts', NULL)::compat_card, "
        "ARRAY[(1, 'x y', ''), (2, NULL, 'q')]::compat_card[]"
    )
    card, cards = cur.fetchone()
    assert (card.value, card.suit, card.note) == (8, 'he"arts', None)
    assert [tuple(c) for c in cards] == [(1, "x y", ""), (2, None, "q")]
    pgconn.rollback()
    parse = psycopg2.extras.HstoreAdapter.parse
    assert parse('"a"=>"1", "b"=>NULL, "c \\"q\\""=>"x"', None) == {
        "a": "1",
        "b": None,
        'c "q"': "x",
    }
    adapter = psycopg2.extras.HstoreAdapter({"a": "1", "b": None})
    adapter.prepare(pgconn)
    assert adapter.getquoted() == b"hstore(ARRAY['a', 'b'], ARRAY['1', NULL])"


def test_sqlalchemy_psycopg2_dialect(cluster):
    sa = pytest.importorskip("sqlalchemy")
    from sqlalchemy.dialects.postgresql import ARRAY, INT4RANGE, JSONB, UUID, Range

    engine = sa.create_engine(
        "postgresql+psycopg2://postgres@%s:%d/wasmpg_test" % (cluster.host, cluster.port)
    )
    md = sa.MetaData()
    t = sa.Table(
        "compat_sqla",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(50)),
        sa.Column("data", JSONB),
        sa.Column("u", UUID(as_uuid=True)),
        sa.Column("r", INT4RANGE),
        sa.Column("a", ARRAY(sa.Integer)),
        sa.Column("b", sa.LargeBinary),
        sa.Column("ts", sa.DateTime(timezone=True)),
    )
    md.create_all(engine)
    try:
        u = uuid.uuid4()
        now = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
        with engine.begin() as c:
            assert c.dialect.driver == "psycopg2"
            c.execute(
                t.insert(),
                [
                    {
                        "name": "n%d" % i,
                        "data": {"k": i},
                        "u": u if i == 0 else uuid.uuid4(),
                        "r": Range(1, 5),
                        "a": [i, 2],
                        "b": b"\x00\x01",
                        "ts": now,
                    }
                    for i in range(5)
                ],
            )
            row = c.execute(sa.select(t).where(t.c.u == u)).one()
            assert (row.name, row.data, row.u, row.a, row.b, row.ts) == (
                "n0",
                {"k": 0},
                u,
                [0, 2],
                b"\x00\x01",
                now,
            )
            assert row.r == Range(1, 5)
            c.execute(t.update().where(t.c.name.in_(["n1", "n2"])).values(name="x"))
        with engine.connect() as c:
            result = c.execution_options(stream_results=True, yield_per=2).execute(
                sa.select(t.c.name).order_by(t.c.id)
            )
            assert [r.name for r in result] == ["n0", "x", "x", "n3", "n4"]
        with engine.connect().execution_options(isolation_level="SERIALIZABLE") as c:
            assert c.execute(sa.text("SHOW transaction_isolation")).scalar() == "serializable"
        assert {c["name"] for c in sa.inspect(engine).get_columns("compat_sqla")} >= {"id", "r"}
    finally:
        md.drop_all(engine)
        engine.dispose()
