"""Every type both ways, with NULL and extremes: as SQL literals (server text -> canonical form
-> Python) and as parameters (Python -> canonical form -> server -> back)."""

import json
import math
import uuid
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

import pytest

import wasmpg


def same(a, b):
    """Equality that also holds for NaN, signed zero and nested lists, and checks types."""
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        if math.isnan(a):
            return math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, Decimal):
        if a.is_nan():
            return b.is_nan()
        return a == b
    if isinstance(a, (datetime, time)):
        return a == b and a.utcoffset() == b.utcoffset()
    return a == b


RAISES = object()  # the expected "value" of a literal that must raise DataError
UTC = timezone.utc
IST = timezone(timedelta(hours=5, minutes=30))

# (SQL expression, expected Python value)
LITERALS = [
    ("true", True),
    ("false", False),
    ("32767::int2", 32767),
    ("(-32768)::int2", -32768),
    ("2147483647::int4", 2147483647),
    ("(-2147483648)::int4", -2147483648),
    ("9223372036854775807::int8", 9223372036854775807),
    ("(-9223372036854775808)::int8", -9223372036854775808),
    ("4294967295::oid", 4294967295),
    ("1.5::float4", 1.5),
    ("0.1::float4", 0.1),
    ("'NaN'::float4", float("nan")),
    ("'-Infinity'::float4", float("-inf")),
    ("1.7976931348623157e308::float8", 1.7976931348623157e308),
    ("5e-324::float8", 5e-324),
    ("'-0'::float8", -0.0),
    ("'Infinity'::float8", float("inf")),
    ("'NaN'::float8", float("nan")),
    ("0.1::float8", 0.1),
    (
        "123456789012345678901234567890.123456789::numeric",
        Decimal("123456789012345678901234567890.123456789"),
    ),
    ("(-0.000001)::numeric", Decimal("-0.000001")),
    ("'NaN'::numeric", Decimal("NaN")),
    ("'Infinity'::numeric", Decimal("Infinity")),
    ("'-Infinity'::numeric", Decimal("-Infinity")),
    ("1e300::numeric", Decimal(10) ** 300),
    ("''::text", ""),
    ("'héllo wörld \U0001f600'::text", "héllo wörld \U0001f600"),
    ("'a' || chr(27) || chr(30) || chr(31) || chr(1) || 'b'", "a\x1b\x1e\x1f\x01b"),
    ("'ab'::varchar(5)", "ab"),
    ("'ab'::char(3)", "ab "),
    ("'pg_class'::name", "pg_class"),
    ("'x'::\"char\"", "x"),
    ("'\\x00ff1b1e1f41'::bytea", b"\x00\xff\x1b\x1e\x1f\x41"),
    ("''::bytea", b""),
    ("'2024-02-29'::date", date(2024, 2, 29)),
    ("'0001-01-01'::date", date(1, 1, 1)),
    ("'9999-12-31'::date", date(9999, 12, 31)),
    ("'infinity'::date", date.max),
    ("'-infinity'::date", date.min),
    ("'00:00:00'::time", time(0, 0)),
    ("'23:59:59.999999'::time", time(23, 59, 59, 999999)),
    ("'12:00:00.5'::time", time(12, 0, 0, 500000)),
    ("'24:00:00'::time", time.max),
    ("'12:34:56.789+05:30'::timetz", time(12, 34, 56, 789000, tzinfo=IST)),
    ("'01:02:03-08'::timetz", time(1, 2, 3, tzinfo=timezone(timedelta(hours=-8)))),
    ("'2024-01-02 03:04:05.123456'::timestamp", datetime(2024, 1, 2, 3, 4, 5, 123456)),
    ("'2000-01-01 00:00:00'::timestamp", datetime(2000, 1, 1)),
    ("'0001-01-01 00:00:00'::timestamp", datetime(1, 1, 1)),
    ("'9999-12-31 23:59:59.999999'::timestamp", datetime(9999, 12, 31, 23, 59, 59, 999999)),
    ("'infinity'::timestamp", datetime.max),
    ("'-infinity'::timestamp", datetime.min),
    ("'2024-01-02 03:04:05.5+00'::timestamptz", datetime(2024, 1, 2, 3, 4, 5, 500000, tzinfo=UTC)),
    ("'infinity'::timestamptz", datetime.max.replace(tzinfo=UTC)),
    ("'-infinity'::timestamptz", datetime.min.replace(tzinfo=UTC)),
    (
        "'1 year 2 months 3 days 04:05:06.789'::interval",
        timedelta(days=365 + 2 * 30 + 3, hours=4, minutes=5, seconds=6, microseconds=789000),
    ),
    ("'-1 year -2 mons'::interval", timedelta(days=-(365 + 60))),  # psycopg2's 365-day years
    ("'-1 days +02:00:00'::interval", timedelta(days=-1, hours=2)),
    ("'0'::interval", timedelta(0)),
    ("'-178956970 years'::interval", RAISES),  # out of timedelta's range
    (
        "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid",
        uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
    ),
    ('\'{"a": [1, 2.5, null, "\\u00e9"]}\'::json', {"a": [1, 2.5, None, "é"]}),
    ('\'{"b": 1, "a": {"c": true}}\'::jsonb', {"a": {"c": True}, "b": 1}),
    ("'[1, \"x\"]'::jsonb", [1, "x"]),
    ("'null'::jsonb", None),
    ("'{1,NULL,3}'::int4[]", [1, None, 3]),
    ("'{{1,2},{3,4}}'::int8[]", [[1, 2], [3, 4]]),
    ("'[0:1]={7,8}'::int2[]", [7, 8]),
    ("'{}'::int4[]", []),
    ('\'{"a,b","c\\"d",NULL,"NULL",""}\'::text[]', ["a,b", 'c"d', None, "NULL", ""]),
    ("'{t,f,NULL}'::bool[]", [True, False, None]),
    ("'{1.5,NaN}'::numeric[]", [Decimal("1.5"), Decimal("NaN")]),
    ("'{1.5,Infinity}'::float8[]", [1.5, float("inf")]),
    ("ARRAY['\\x0001'::bytea, NULL, '\\x'::bytea]", [b"\x00\x01", None, b""]),
    ("'{2024-01-01,infinity}'::date[]", [date(2024, 1, 1), date.max]),
    ("'{\"2024-01-02 03:04:05+00\"}'::timestamptz[]", [datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)]),
    ('\'{"1 day","-00:00:01"}\'::interval[]', [timedelta(days=1), timedelta(seconds=-1)]),
    (
        "'{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}'::uuid[]",
        [uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")],
    ),
    ("ARRAY['{\"a\": 1}'::jsonb, '[2]'::jsonb]", [{"a": 1}, [2]]),
    ("ARRAY['12:00:00+01'::timetz]", [time(12, 0, tzinfo=timezone(timedelta(hours=1)))]),
    ("'(1,2)'::point", "(1,2)"),
    ("'192.168.0.1/24'::inet", __import__("ipaddress").ip_interface("192.168.0.1/24")),
    ("'1.5'::money", "$1.50"),
    ("'{\"(1,2)\"}'::point[]", '{"(1,2)"}'),  # arrays of unknown types: the server's text
]


@pytest.mark.parametrize("expr, expected", LITERALS, ids=[e for e, _ in LITERALS])
def test_literal(aconn, expr, expected):
    cur = aconn.cursor()
    if expected is RAISES:
        with pytest.raises(wasmpg.DataError):
            cur.execute("SELECT " + expr)
            cur.fetchone()
        return
    cur.execute("SELECT %s, NULL::%s" % (expr, "text"))
    value, null = cur.fetchone()
    assert same(value, expected), (value, expected)
    assert null is None


TYPES = [
    "bool",
    "int2",
    "int4",
    "int8",
    "oid",
    "float4",
    "float8",
    "numeric",
    "text",
    "varchar",
    "bytea",
    "date",
    "time",
    "timetz",
    "timestamp",
    "timestamptz",
    "interval",
    "uuid",
    "json",
    "jsonb",
    "int4[]",
    "text[]",
    "point",
]


@pytest.mark.parametrize("typ", TYPES)
def test_null_both_ways(aconn, typ):
    cur = aconn.cursor()
    cur.execute("SELECT NULL::%s, %%s::%s" % (typ, typ), (None,))
    assert cur.fetchone() == (None, None)
    assert cur.description[0].type_code == cur.description[1].type_code


def test_dates_out_of_python_range(aconn):
    cur = aconn.cursor()
    for expr in [
        "'0044-03-15 BC'::date",
        "'10000-01-01'::date",
        "'0001-01-01 BC'::timestamp",
        "'20000-01-01 00:00:00+00'::timestamptz",
    ]:
        with pytest.raises(wasmpg.DataError):
            cur.execute("SELECT " + expr)
            cur.fetchall()
    cur.execute("SELECT 1")
    assert cur.fetchone() == (1,)


# (Python value, SQL type to cast the parameter to)
PARAMS = [
    (True, "bool"),
    (False, "bool"),
    (0, "int2"),
    (-32768, "int2"),
    (2147483647, "int4"),
    (-2147483648, "int4"),
    (9223372036854775807, "int8"),
    (-9223372036854775808, "int8"),
    (10**30, "numeric"),
    (1.5, "float8"),
    (-0.0, "float8"),
    (5e-324, "float8"),
    (1.7976931348623157e308, "float8"),
    (float("inf"), "float8"),
    (float("-inf"), "float8"),
    (float("nan"), "float8"),
    (0.1, "float4"),  # float4's shortest text for 0.1 is "0.1"
    (Decimal("123456789012345678901234567890.000000000000000001"), "numeric"),
    (Decimal("-0.5"), "numeric"),
    (Decimal("1E+2"), "numeric"),
    (Decimal("NaN"), "numeric"),
    (Decimal("Infinity"), "numeric"),
    (Decimal("-Infinity"), "numeric"),
    ("", "text"),
    ("héllo \U0001f600 ' \" \\ % %s", "text"),
    ("sep\x1b\x1e\x1f\x01chars", "text"),
    ("x" * 1000000, "text"),
    (b"", "bytea"),
    (bytes(range(256)), "bytea"),
    (b"\x00\x1b\x1e\x1f" * 1000, "bytea"),
    (date(2024, 2, 29), "date"),
    (date(1, 1, 1), "date"),
    (date(9999, 12, 30), "date"),
    (date.max, "date"),
    (date.min, "date"),
    (time(0, 0), "time"),
    (time(23, 59, 59, 999999), "time"),
    (time(12, 34, 56, 789000, tzinfo=IST), "timetz"),
    (datetime(2024, 1, 2, 3, 4, 5, 123456), "timestamp"),
    (datetime(1, 1, 1, 0, 0, 1), "timestamp"),
    (datetime.max, "timestamp"),
    (datetime.min, "timestamp"),
    (datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC), "timestamptz"),
    (datetime.max.replace(tzinfo=UTC), "timestamptz"),
    (timedelta(0), "interval"),
    (timedelta(microseconds=1), "interval"),
    (timedelta(days=-1, seconds=5), "interval"),
    (timedelta(days=123456, hours=5, microseconds=7), "interval"),
    (timedelta(days=-999999), "interval"),
    (uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"), "uuid"),
    ([1, None, 3], "int4[]"),
    ([[1, 2], [3, 4]], "int4[]"),
    ([1, 2**40], "int8[]"),
    (["a,b", 'c"d', None, "NULL", "", "\x1e"], "text[]"),
    ([True, None], "bool[]"),
    ([Decimal("1.5"), Decimal("NaN")], "numeric[]"),
    ([1.5, float("-inf")], "float8[]"),
    ([b"\x00\x01", None, b""], "bytea[]"),
    ([date(2024, 1, 1), date.max], "date[]"),
    ([datetime(2024, 1, 2, tzinfo=UTC)], "timestamptz[]"),
    ([timedelta(days=1), timedelta(seconds=-1)], "interval[]"),
    ([uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")], "uuid[]"),
    ([], "int4[]"),
    ([None, None], "int4[]"),
    ([[None], [None]], "text[]"),
]


def _ids(params):
    return ["%s-%d" % (t, i) for i, (_, t) in enumerate(params)]


@pytest.mark.parametrize("value, typ", PARAMS, ids=_ids(PARAMS))
def test_param_cast(aconn, value, typ):
    """SELECT %s::type returns the value."""
    cur = aconn.cursor()
    cur.execute("SELECT %%s::%s" % typ, (value,))
    (back,) = cur.fetchone()
    if typ == "numeric" and isinstance(value, int):
        value = Decimal(value)
    assert same(back, value), (back, value)


UNCAST = [p for p in PARAMS if not (isinstance(p[0], str) or p[1] in ("int2", "float4"))]
UNCAST = [
    p
    for p in UNCAST
    if not (
        isinstance(p[0], list)
        and not [x for x in p[0] if x is not None and not isinstance(x, list)]
    )
]


@pytest.mark.parametrize("value, typ", UNCAST, ids=_ids(UNCAST))
def test_param_declared_type(aconn, value, typ):
    """SELECT %s (no cast): the type the driver declares brings the value back."""
    cur = aconn.cursor()
    cur.execute("SELECT %s", (value,))
    (back,) = cur.fetchone()
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**63:
        assert back == value and isinstance(back, Decimal)
    else:
        assert same(back, value), (back, value)


def test_param_compared_server_side(aconn):
    """The server sees the same value as the literal, not just something that reads back."""
    cur = aconn.cursor()
    checks = [
        (
            datetime(2024, 1, 2, 3, 4, 5, 500000, tzinfo=IST),
            "'2024-01-02 03:04:05.5+05:30'::timestamptz",
        ),
        (timedelta(days=1, hours=2), "'1 day 2 hours'::interval"),
        (b"\x00\xffA", "'\\x00ff41'::bytea"),
        ([1, None], "'{1,NULL}'::int4[]"),
        (Decimal("1.10"), "1.10::numeric"),
        (date(2024, 2, 29), "'2024-02-29'::date"),
        (time(12, 0, tzinfo=IST), "'12:00:00+05:30'::timetz"),
        (date.max, "'infinity'::date"),
    ]
    for value, literal in checks:
        cur.execute("SELECT %%s = %s" % literal, (value,))
        assert cur.fetchone() == (True,), (value, literal)


def test_timestamptz_follows_session_timezone(aconn):
    cur = aconn.cursor()
    cur.execute("SET TIME ZONE 'Asia/Kolkata'")
    cur.execute("SELECT '2024-01-02 00:00:00+00'::timestamptz")
    (v,) = cur.fetchone()
    assert v.utcoffset() == timedelta(hours=5, minutes=30)
    assert v == datetime(2024, 1, 2, tzinfo=UTC)
    # Historical offsets have seconds (Amsterdam's LMT): +HH:MM:SS
    cur.execute("SET TIME ZONE 'Europe/Amsterdam'")
    cur.execute("SELECT '1900-01-01 12:00:00'::timestamptz, '12:00:00+00:19:32'::timetz")
    ts, tt = cur.fetchone()
    assert ts.utcoffset() == timedelta(minutes=19, seconds=32)
    assert tt.utcoffset() == timedelta(minutes=19, seconds=32)
    cur.execute("SELECT %s::text", (ts,))
    assert cur.fetchone()[0] == "1900-01-01 12:00:00+00:19:32"


def test_int_declared_like_literals(aconn):
    cur = aconn.cursor()
    cur.execute(
        "SELECT pg_typeof(%s)::text, pg_typeof(%s)::text, pg_typeof(%s)::text", (1, 2**40, 10**20)
    )
    assert cur.fetchone() == ("integer", "bigint", "numeric")
    # int4 parameters work where functions want integer
    cur.execute("SELECT substring('hello' from %s for %s)", (2, 3))
    assert cur.fetchone() == ("ell",)


def test_str_is_inferred(aconn):
    cur = aconn.cursor()
    cur.execute("SELECT %s::int + 1, %s::date, %s", ("41", "2024-01-01", "x"))
    assert cur.fetchone() == (42, date(2024, 1, 1), "x")
    assert cur.description[2].type_code == 25


def test_json_wrappers(aconn):
    cur = aconn.cursor()
    obj = {"a": [1, 2.5, None, "é", {"b": True}]}
    cur.execute(
        "SELECT %s, %s, pg_typeof(%s)::text, pg_typeof(%s)::text",
        (wasmpg.Json(obj), wasmpg.Jsonb(obj), wasmpg.Json(1), wasmpg.Jsonb(1)),
    )
    assert cur.fetchone() == (obj, obj, "json", "jsonb")
    cur.execute("SELECT %s::jsonb -> 'a' -> 4 ->> 'b'", (wasmpg.Json(obj),))
    assert cur.fetchone() == ("true",)
    with pytest.raises(wasmpg.ProgrammingError, match="Json"):
        cur.execute("SELECT %s", ({"a": 1},))
    cur.execute("SELECT %s", ([wasmpg.Jsonb({"x": 1}), None],))
    assert cur.fetchone() == ([{"x": 1}, None],)


def test_unadaptable_parameters(aconn):
    cur = aconn.cursor()
    with pytest.raises(wasmpg.ProgrammingError, match="cannot adapt"):
        cur.execute("SELECT %s", (object(),))
    with pytest.raises(wasmpg.ProgrammingError, match="tuple"):
        cur.execute("SELECT %s", ((1, 2),))
    with pytest.raises(wasmpg.ProgrammingError, match="mixing"):
        cur.execute("SELECT %s", ([1, "a"],))
    with pytest.raises(wasmpg.DataError):
        cur.execute("SELECT %s", (Decimal("sNaN"),))
    cur.execute("SELECT 1")
    assert cur.fetchone() == (1,)


def test_nul_in_text_is_a_server_error(aconn):
    cur = aconn.cursor()
    with pytest.raises(wasmpg.DataError) as e:
        cur.execute("SELECT %s::text", ("a\x00b",))
    assert e.value.sqlstate == "22021"
    cur.execute("SELECT %s::text", ("still fine",))
    assert cur.fetchone() == ("still fine",)


def test_subclasses_adapt_like_their_base(aconn):
    import enum

    class Color(enum.IntEnum):
        RED = 1

    class MyStr(str):
        pass

    cur = aconn.cursor()
    cur.execute("SELECT %s, %s", (Color.RED, MyStr("x")))
    assert cur.fetchone() == (1, "x")


def test_description_and_type_objects(aconn):
    cur = aconn.cursor()
    cur.execute(
        "SELECT 1::int4 AS a, 'x'::varchar(10) AS b, 1.5::numeric(7,2) AS c, "
        "'\\x00'::bytea AS d, now() AS e, 1::oid AS f"
    )
    d = cur.description
    assert [c.name for c in d] == ["a", "b", "c", "d", "e", "f"]
    assert [c[1] for c in d] == [23, 1043, 1700, 17, 1184, 26]
    assert d[0].type_code == wasmpg.NUMBER and d[2][1] == wasmpg.NUMBER
    assert d[1][1] == wasmpg.STRING and d[3][1] == wasmpg.BINARY
    assert d[4][1] == wasmpg.DATETIME and d[5][1] == wasmpg.ROWID
    assert d[1][1] != wasmpg.NUMBER
    assert d[1].display_size == 10
    assert (d[2].precision, d[2].scale) == (7, 2)
    assert d[0].internal_size == 4
    assert all(len(c) == 7 for c in d)


def test_dbapi_constructors():
    assert wasmpg.Date(2002, 12, 25) == date(2002, 12, 25)
    assert wasmpg.Time(13, 45, 30) == time(13, 45, 30)
    assert wasmpg.Timestamp(2002, 12, 25, 13, 45, 30) == datetime(2002, 12, 25, 13, 45, 30)
    assert isinstance(wasmpg.DateFromTicks(0), date)
    assert isinstance(wasmpg.TimeFromTicks(0), time)
    assert isinstance(wasmpg.TimestampFromTicks(0), datetime)
    assert wasmpg.Binary(bytearray(b"ab")) == b"ab"
    assert wasmpg.Binary(None) is None  # NULL, as in psycopg2


def test_network_types(aconn):
    """inet and cidr to and from ipaddress (psycopg 3's mapping): inet without a prefix length
    is an address, with one an interface; cidr a network."""
    import ipaddress as ip

    cur = aconn.cursor()
    cur.execute(
        "SELECT '10.0.0.1'::inet, '10.0.0.1/24'::inet, '::1'::inet, '10.0.0.0/8'::cidr,"
        " '2001:db8::/32'::cidr, NULL::inet"
    )
    assert cur.fetchone() == (
        ip.IPv4Address("10.0.0.1"),
        ip.IPv4Interface("10.0.0.1/24"),
        ip.IPv6Address("::1"),
        ip.IPv4Network("10.0.0.0/8"),
        ip.IPv6Network("2001:db8::/32"),
        None,
    )
    values = (
        ip.ip_address("192.168.1.2"),
        ip.ip_interface("192.168.1.2/16"),
        ip.ip_network("192.168.0.0/16"),
        ip.ip_address("fe80::1"),
    )
    cur.execute(
        "SELECT pg_typeof(%s)::text, %s, pg_typeof(%s)::text, %s <<= %s, %s",
        (values[0], values[1], values[2], values[0], values[2], values[3]),
    )
    assert cur.fetchone() == ("inet", values[1], "cidr", True, values[3])
    # Arrays of them (the guest passes these arrays through as the server's text).
    cur.execute(
        "SELECT '{10.0.0.1,10.0.0.0/24,NULL}'::inet[], '{{10.0.0.0/8},{::/0}}'::cidr[],"
        " '{}'::inet[], %s::inet[]",
        ([ip.ip_address("1.2.3.4"), None],),
    )
    assert cur.fetchone() == (
        [ip.IPv4Address("10.0.0.1"), ip.IPv4Interface("10.0.0.0/24"), None],
        [[ip.IPv4Network("10.0.0.0/8")], [ip.IPv6Network("::/0")]],
        [],
        [ip.IPv4Address("1.2.3.4"), None],
    )


def test_enum_parameters(aconn):
    """An Enum member is sent as its name (into a PostgreSQL enum, as psycopg 3 does); int and
    str enums as their value."""
    import enum
    import uuid

    class Mood(enum.Enum):
        happy = 1
        sad = 2

    class Level(str, enum.Enum):
        LOW = "low"

    class Size(enum.IntEnum):
        BIG = 10

    name = "mood_" + uuid.uuid4().hex[:8]
    cur = aconn.cursor()
    cur.execute("CREATE TYPE %s AS ENUM ('happy', 'sad')" % name)
    try:
        cur.execute(
            "SELECT %%s::%s, %%s = 'low', %%s + 1, %%s::%s" % (name, name),
            (Mood.sad, Level.LOW, Size.BIG, Mood.happy),
        )
        assert cur.fetchone() == ("sad", True, 11, "happy")
        cur.execute("SELECT %s", ([Mood.happy, Mood.sad],))
        assert cur.fetchone() == (["happy", "sad"],)
    finally:
        cur.execute("DROP TYPE %s" % name)


def test_empty_nested_arrays(aconn):
    """[[]] has no element: it is the empty array (PostgreSQL has no empty sub-arrays)."""
    cur = aconn.cursor()
    cur.execute(
        "SELECT %s::int[], %s::int[], %s::text[], %s::int[]", ([[]], [[], []], [], [[None]])
    )
    assert cur.fetchone() == ([], [], [], [[None]])


def test_many_columns_and_rows(aconn):
    cur = aconn.cursor()
    cols = ", ".join("i + %d AS c%d" % (k, k) for k in range(100))
    cur.execute("SELECT %s FROM generate_series(1, 3000) i" % cols)
    rows = cur.fetchall()
    assert len(rows) == 3000 and rows[-1][99] == 3099
    cur.execute("SELECT FROM generate_series(1, 5)")  # zero columns
    assert cur.fetchall() == [()] * 5


def test_escaped_batch_mixed_with_plain_fields(aconn):
    cur = aconn.cursor()
    cur.execute(
        "SELECT i, CASE WHEN i % 2 = 0 THEN 'x' || chr(31) || 'y' ELSE 'plain' END, "
        "CASE WHEN i % 3 = 0 THEN NULL ELSE '\\x001e'::bytea END "
        "FROM generate_series(1, 1000) i"
    )
    rows = cur.fetchall()
    assert rows[0] == (1, "plain", b"\x00\x1e")
    assert rows[1] == (2, "x\x1fy", b"\x00\x1e")
    assert rows[2] == (3, "plain", None)


def test_json_text_is_not_decoded_twice(aconn):
    cur = aconn.cursor()
    cur.execute("SELECT %s::json", (wasmpg.Json("a\x1fb"),))
    assert cur.fetchone() == ("a\x1fb",)
    cur.execute("SELECT %s::text", (json.dumps({"k": "v"}),))
    assert cur.fetchone() == ('{"k": "v"}',)
