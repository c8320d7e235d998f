"""The placeholder scanner (no server needed)."""

import pytest

import wasmpg
from wasmpg._sql import bind, convert


@pytest.mark.parametrize(
    "query, sql, spec",
    [
        ("select 1", "select 1", 0),
        ("select %s, %s", "select $1, $2", 2),
        ("select %(a)s, %(b)s, %(a)s", "select $1, $2, $1", ("a", "b")),
        ("select 100%%", "select 100%", 0),
        ("select '%s', %s", "select '%s', $1", 1),
        ("select 'it''s %s', %s", "select 'it''s %s', $1", 1),
        ("select E'\\'%s', %s", "select E'\\'%s', $1", 1),
        ("select e'a\\\\', %s", "select e'a\\\\', $1", 1),
        ("select fe'%s'", "select fe'%s'", 0),  # ...a standard string after identifier fe
        ('select "%s""x", %s', 'select "%s""x", $1', 1),
        ("select $$ %s $$, %s", "select $$ %s $$, $1", 1),
        ("select $tag$ $$ %s $tag$, %s", "select $tag$ $$ %s $tag$, $1", 1),
        ("select a$b, %s", "select a$b, $1", 1),
        ("select $1, %s", "select $1, $1", 1),
        ("select 1 -- %s\n, %s", "select 1 -- %s\n, $1", 1),
        ("select /* %s /* nested %s */ still */ %s", "select /* %s /* nested %s */ still */ $1", 1),
        ("select 'a%', %s", "select 'a%', $1", 1),
        ("select 'a%%', %s", "select 'a%', $1", 1),  # psycopg2-style doubling inside literals
        ("select U&'d\\0061t%s', %s", "select U&'d\\0061t%s', $1", 1),
        ("select 'unterminated %s", "select 'unterminated %s", 0),
        ("select %(x y)s", "select $1", ("x y",)),
    ],
)
def test_convert(query, sql, spec):
    assert convert(query) == (sql, spec)


@pytest.mark.parametrize(
    "query, message",
    [
        ("select %d", "unsupported placeholder '%d'"),
        ("select 5 %", "unsupported placeholder '%'"),
        ("select %s, %(a)s", "mixes"),
        ("select %(a)s, %s", "mixes"),
        ("select %(a", "incomplete placeholder"),
        ("select %(a)d", "incomplete placeholder"),
    ],
)
def test_convert_errors(query, message):
    with pytest.raises(wasmpg.ProgrammingError, match=message.replace("(", "\\(")):
        convert(query)


def test_bind():
    assert bind(2, (1, 2)) == (1, 2)
    assert bind(("a", "b"), {"b": 2, "a": 1, "c": 3}) == [1, 2]
    assert bind(0, {}) == ()
    assert bind(0, []) == []
    for spec, params in [
        (1, "x"),
        (1, b"x"),
        (1, 5),
        (2, (1,)),
        (0, (1,)),
        (("a",), (1,)),
        (1, {"a": 1}),
        (("a",), {}),
    ]:
        with pytest.raises(wasmpg.ProgrammingError):
            bind(spec, params)
