"""The SQLAlchemy dialects (``wasmpg.sqlalchemy_dialect``) against the real server: URLs, Core
with many types, executemany and insertmanyvalues, bound parameters, an ORM script, isolation
levels, pre-ping after a terminated backend, and the asyncio dialect.

Every engine is made from a URL, so the ``sqlalchemy.dialects`` entry points of the installed
package are what is tested. The module is skipped when SQLAlchemy is not installed, unless
``WASMPG_REQUIRE_SQLALCHEMY`` is set (run-tests.sh sets it). Each test works in a schema of its
own (``options=-csearch_path=...`` in the URL), dropped afterwards.
"""

from __future__ import annotations

import asyncio
import datetime
import decimal
import enum
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any, Optional

import pytest

try:
    import sqlalchemy as sa
except ImportError:  # pragma: no cover - depends on the environment
    if os.environ.get("WASMPG_REQUIRE_SQLALCHEMY"):
        raise
    pytest.skip("SQLAlchemy is not installed", allow_module_level=True)

from _pgcluster import DBNAME
from sqlalchemy import event
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.dialects.postgresql import Range
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    joinedload,
    mapped_column,
    relationship,
    selectinload,
)

import wasmpg
from wasmpg import errors
from wasmpg.sqlalchemy_dialect import WasmpgAsyncDialect, WasmpgDialect


def url(cluster: Any, schema: Optional[str] = None, driver: str = "wasmpg", **query: str) -> str:
    """The cluster's URL for the superuser over TCP; ``schema`` becomes the search_path."""
    u = "postgresql+%s://postgres@%s:%d/%s" % (driver, cluster.host, cluster.port, DBNAME)
    if schema is not None:
        query["options"] = "-csearch_path=%s" % schema
    return str(make_url(u).update_query_dict(query)) if query else u


@pytest.fixture
def schema(cluster: Any) -> Iterator[str]:
    name = "sqla_" + uuid.uuid4().hex[:10]
    cluster.psql("CREATE SCHEMA %s" % name)
    yield name
    cluster.psql("DROP SCHEMA %s CASCADE" % name)


@pytest.fixture
def engine(cluster: Any, schema: str) -> Iterator[sa.Engine]:
    e = sa.create_engine(url(cluster, schema))
    yield e
    e.dispose()


def count_statements(engine: sa.Engine) -> list[tuple[str, bool, Any]]:
    """(statement, executemany, DB-API cursor) of every cursor execution from now on."""
    seen: list[tuple[str, bool, Any]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def record(conn: Any, cursor: Any, statement: str, params: Any, ctx: Any, many: bool) -> None:
        seen.append((statement, many, cursor))

    return seen


# -- URLs and the entry points --


def test_entry_points_and_urls(cluster):  # type: ignore[no-untyped-def]
    from importlib.metadata import entry_points

    found = entry_points()
    if hasattr(found, "select"):
        group = found.select(group="sqlalchemy.dialects")
    else:  # Python 3.9: a dict of groups
        group = found.get("sqlalchemy.dialects", [])  # type: ignore[attr-defined]
    names = {ep.name: ep.value for ep in group}
    assert names["postgresql.wasmpg"] == "wasmpg.sqlalchemy_dialect:WasmpgDialect"
    assert names["postgresql.wasmpg_async"] == "wasmpg.sqlalchemy_dialect:WasmpgAsyncDialect"
    e = sa.create_engine(url(cluster))
    assert type(e.dialect) is WasmpgDialect
    assert e.dialect.driver == "wasmpg" and e.dialect.dbapi is wasmpg
    with e.connect() as conn:
        assert conn.scalar(sa.text("select current_user")) == "postgres"
        number = int(cluster.server_version_num())
        # from the server_version the server reported at startup
        assert conn.dialect.server_version_info == (number // 10000, number % 10000)
        assert conn.dialect.default_schema_name == "public"
    e.dispose()


def test_create_connect_args():  # type: ignore[no-untyped-def]
    d = WasmpgDialect()

    def args(u: str) -> dict[str, Any]:
        cargs, kw = d.create_connect_args(make_url(u))
        assert cargs == []
        return kw

    assert args("postgresql+wasmpg://u:p%40ss@db.example:6432/app") == {
        "user": "u",
        "password": "p@ss",
        "host": "db.example",
        "port": 6432,
        "dbname": "app",
    }
    assert args("postgresql+wasmpg://") == {}
    # Unix socket: the directory (or path) as the host option
    assert args("postgresql+wasmpg://u@/app?host=/var/run/postgresql") == {
        "user": "u",
        "dbname": "app",
        "host": "/var/run/postgresql",
    }
    # several hosts, both forms
    assert args("postgresql+wasmpg:///app?host=h1:5432&host=h2:5433")["host"] == "h1,h2"
    assert args("postgresql+wasmpg:///app?host=h1:5432&host=h2:5433")["port"] == "5432,5433"
    kw = args("postgresql+wasmpg:///app?host=h1,h2&port=5432,5433&target_session_attrs=read-write")
    assert (kw["host"], kw["port"], kw["target_session_attrs"]) == (
        "h1,h2",
        "5432,5433",
        "read-write",
    )
    # libpq keywords as strings; wasmpg's own options parsed
    kw = args(
        "postgresql+wasmpg://h/app?sslmode=require&application_name=x&connect_timeout=3"
        "&statement_cache=0&read_timeout=2.5&cpu_limit=10&memory_limit=1000000"
        "&allow=h:5432,other:5432&allow_files=/a/pgpass&allow_files=/b/pgpass"
    )
    assert kw["sslmode"] == "require" and kw["application_name"] == "x"
    assert kw["connect_timeout"] == "3"
    assert kw["statement_cache"] == 0 and kw["read_timeout"] == 2.5
    assert kw["cpu_limit"] == 10.0 and kw["memory_limit"] == 1000000
    assert kw["allow"] == ["h:5432", "other:5432"]
    assert kw["allow_files"] == ["/a/pgpass", "/b/pgpass"]
    with pytest.raises(sa.exc.ArgumentError):
        args("postgresql+wasmpg://h/app?statement_cache=many")
    with pytest.raises(sa.exc.ArgumentError):
        args("postgresql+wasmpg://h/app?sslmode=require&sslmode=disable")


def test_unix_socket_and_options(cluster):  # type: ignore[no-untyped-def]
    u = "postgresql+wasmpg://postgres@/%s?host=%s&port=%d&application_name=sqla-test" % (
        DBNAME,
        cluster.dir,
        cluster.port,
    )
    e = sa.create_engine(u, connect_args={"statement_cache": 0})
    with e.connect() as conn:
        # no server address: a Unix-socket session
        assert conn.scalar(sa.text("select inet_server_addr()")) is None
        assert conn.scalar(sa.text("show application_name")) == "sqla-test"
    e.dispose()


def test_async_engine_from_sync_url(cluster):  # type: ignore[no-untyped-def]
    """create_async_engine() with the sync URL picks the async dialect (get_async_dialect_cls)."""

    async def main() -> None:
        e = create_async_engine(url(cluster))
        assert type(e.dialect) is WasmpgAsyncDialect
        async with e.connect() as conn:
            assert await conn.scalar(sa.text("select 1")) == 1
        await e.dispose()

    asyncio.run(main())


# -- Core --


class Mood(enum.Enum):
    sad = "sad"
    ok = "ok"
    happy = "happy"


def many_types_table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "many_types",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("big", sa.BigInteger),
        sa.Column("small", sa.SmallInteger),
        sa.Column("amount", sa.Numeric(12, 3)),
        sa.Column("ratio", sa.Float),
        sa.Column("name", sa.Text),
        sa.Column("code", sa.String(10)),
        sa.Column("flag", sa.Boolean),
        sa.Column("day", sa.Date),
        sa.Column("at", sa.DateTime(timezone=True)),
        sa.Column("naive", sa.DateTime),
        sa.Column("clock", sa.Time),
        sa.Column("span", sa.Interval),
        sa.Column("uid", sa.Uuid),
        sa.Column("doc", sa.JSON),
        sa.Column("docb", pg.JSONB),
        sa.Column("ints", pg.ARRAY(sa.Integer)),
        sa.Column("texts", pg.ARRAY(sa.String)),
        sa.Column("grid", pg.ARRAY(sa.Integer, dimensions=2)),
        sa.Column("blob", sa.LargeBinary),
        sa.Column("mood", sa.Enum(Mood, name="mood")),
        sa.Column("inet", pg.INET),
        sa.Column("during", pg.TSTZRANGE),
        sa.Column("ids", pg.INT4RANGE),
        sa.Column("amounts", pg.NUMMULTIRANGE),
    )


UTC = datetime.timezone.utc


def a_row(i: int) -> dict[str, Any]:
    return {
        "id": i,
        "big": 2**40 + i,
        "small": i % 100,
        "amount": decimal.Decimal("1234.5") + i,
        "ratio": i / 4,
        "name": "name %d ünicode ☃ 'quoted' %%s" % i,
        "code": "c%d" % i,
        "flag": i % 2 == 0,
        "day": datetime.date(2024, 1, 1) + datetime.timedelta(days=i),
        "at": datetime.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC),
        "naive": datetime.datetime(2000, 1, 2, 3, 4, 5, 600000),
        "clock": datetime.time(12, 30, 15, 250),
        "span": datetime.timedelta(days=3, hours=4, microseconds=5),
        "uid": uuid.UUID(int=i),
        "doc": {"i": i, "list": [1, "two", None], "nested": {"x": 1.5}},
        "docb": {"k": "v%d" % i, "n": None},
        "ints": [i, i + 1, None],
        "texts": ["a", "b,c", 'd"e', "{}"],
        "grid": [[1, 2], [3, 4]],
        "blob": bytes(range(256)) + b"\x00\\x",
        "mood": list(Mood)[i % 3],
        "inet": "10.0.0.%d" % (i % 250),
        "during": Range(
            datetime.datetime(2024, 1, 1, tzinfo=UTC),
            datetime.datetime(2024, 2, 1, 12, 30, tzinfo=UTC),
        ),
        "ids": Range(i, i + 10, bounds="[]"),
        "amounts": [
            Range(decimal.Decimal("1.5"), decimal.Decimal("2.5")),
            Range(decimal.Decimal(10), None),
        ],
    }


def expected(row: dict[str, Any]) -> dict[str, Any]:
    """What reading a_row back gives (canonical forms of the server)."""
    out = dict(row)
    # discrete ranges come back in the canonical [) form
    ids = row["ids"]
    out["ids"] = Range(ids.lower, ids.upper + 1, bounds="[)")
    return out


def test_core_many_types(engine):  # type: ignore[no-untyped-def]
    metadata = sa.MetaData()
    t = many_types_table(metadata)
    metadata.create_all(engine)
    stmts = count_statements(engine)
    with engine.begin() as conn:
        # one row
        conn.execute(t.insert(), a_row(1))
        # executemany: one cursor.executemany (one round trip in the driver), total rowcount
        result = conn.execute(t.insert(), [a_row(i) for i in range(2, 12)])
        assert result.rowcount == 10
        assert [many for _, many, _ in stmts].count(True) == 1
        # all NULLs
        conn.execute(t.insert(), {"id": 100})
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t).where(t.c.id < 100).order_by(t.c.id)).mappings().all()
        assert len(rows) == 11
        for r in rows:
            want = expected(a_row(r["id"]))
            got = dict(r)
            got["inet"] = str(got["inet"])
            assert got == want
            assert isinstance(r["amount"], decimal.Decimal) and isinstance(r["ratio"], float)
            assert r["at"].tzinfo is not None and r["naive"].tzinfo is None
            assert isinstance(r["amounts"], pg.MultiRange)
        empty = conn.execute(sa.select(t).where(t.c.id == 100)).one()
        assert set(empty[1:]) == {None}
        # JSON values are sent as json/jsonb: operators work on them
        assert conn.scalar(sa.select(t.c.docb["k"].astext).where(t.c.id == 3)) == "v3"
        assert conn.scalar(sa.select(t.c.doc["nested"]["x"].as_float()).where(t.c.id == 3)) == 1.5
        assert conn.scalar(sa.select(sa.func.count()).where(t.c.docb.has_key("k"))) == 11
        assert conn.scalar(sa.select(t.c.ints[1]).where(t.c.id == 5)) == 5  # 1-based
        assert conn.scalar(sa.select(sa.func.count()).where(t.c.ints.contains([7]))) == 2
        assert conn.scalar(sa.select(t.c.id).where(t.c.ids.contains(13)).order_by(t.c.id)) == 3
        assert conn.scalar(sa.select(t.c.mood).where(t.c.id == 2)) is Mood.happy


def test_insertmanyvalues_returning(engine):  # type: ignore[no-untyped-def]
    metadata = sa.MetaData()
    t = sa.Table(
        "imv",
        metadata,
        sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
        sa.Column("name", sa.String(50), nullable=False),
        sa.Column("doc", pg.JSONB),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now()),
    )
    metadata.create_all(engine)
    e = engine.execution_options(insertmanyvalues_page_size=7)
    stmts = count_statements(e)
    executemany_calls: list[int] = []

    @event.listens_for(e, "do_executemany")
    def record(cursor: Any, statement: str, parameters: Any, context: Any) -> None:
        executemany_calls.append(len(parameters))

    rows = [{"name": "n%02d" % i, "doc": {"i": i}} for i in range(20)]
    with e.begin() as conn:
        result = conn.execute(
            t.insert().returning(t.c.id, t.c.name, t.c.at, sort_by_parameter_order=True), rows
        )
        got = result.all()
    assert [r.name for r in got] == [r["name"] for r in rows]  # in parameter order
    assert len({r.id for r in got}) == 20 and all(r.at is not None for r in got)
    # insertmanyvalues: INSERT ... VALUES (...), (...) RETURNING in batches of 7 rows, each one
    # cursor.execute(), no cursor.executemany()
    inserts = [s for s, _, _ in stmts if s.startswith("INSERT")]
    assert len(inserts) == 3 and "%(name__6)s" in inserts[0] and "%(name__5)s" in inserts[2]
    assert executemany_calls == []
    # the ORM's bulk INSERT with RETURNING goes the same way
    with e.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(t)) == 20
        assert conn.scalar(sa.select(t.c.doc["i"].as_integer()).where(t.c.name == "n13")) == 13


def test_bound_parameters(engine):  # type: ignore[no-untyped-def]
    metadata = sa.MetaData()
    t = sa.Table(
        "params",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(30)),
        sa.Column("day", sa.Date),
    )
    metadata.create_all(engine)
    names = ["apple", "apricot", "banana", "50% off", "under_score", None]
    with engine.begin() as conn:
        conn.execute(
            t.insert(),
            [
                {"id": i, "name": n, "day": datetime.date(2024, 1, i + 1)}
                for i, n in enumerate(names)
            ],
        )
    with engine.connect() as conn:

        def ids(stmt: Any, **params: Any) -> list[int]:
            return list(conn.scalars(stmt.order_by(t.c.id), params))

        # IS NULL on a parameter (the server must be told its type: a bind cast)
        p = sa.bindparam("p", type_=sa.String)
        opt = sa.select(t.c.id).where(sa.or_(p.is_(None), t.c.name == p))
        assert ids(opt, p=None) == [0, 1, 2, 3, 4, 5]
        assert ids(opt, p="banana") == [2]
        d = sa.bindparam("d", type_=sa.Date)
        assert ids(sa.select(t.c.id).where(sa.or_(d.is_(None), t.c.day > d)), d=None) == list(
            range(6)
        )
        assert ids(
            sa.select(t.c.id).where(sa.or_(d.is_(None), t.c.day > d)), d=datetime.date(2024, 1, 4)
        ) == [4, 5]
        # IN with expanding parameters, literal lists and the empty list
        assert ids(sa.select(t.c.id).where(t.c.id.in_([1, 3, 5]))) == [1, 3, 5]
        exp = sa.select(t.c.id).where(t.c.name.in_(sa.bindparam("names", expanding=True)))
        assert ids(exp, names=["banana", "apple", "nope"]) == [0, 2]
        assert ids(exp, names=[]) == []
        assert ids(sa.select(t.c.id).where(t.c.id.not_in([]))) == [0, 1, 2, 3, 4, 5]
        assert ids(sa.select(t.c.id).where(sa.tuple_(t.c.id, t.c.name).in_([(1, "apricot")]))) == [
            1
        ]
        # LIKE, with % and _ in the values and autoescape
        assert ids(sa.select(t.c.id).where(t.c.name.like("ap%"))) == [0, 1]
        assert ids(sa.select(t.c.id).where(t.c.name.like(sa.bindparam("pat"))), pat="%an%") == [2]
        assert ids(sa.select(t.c.id).where(t.c.name.contains("0%", autoescape=True))) == [3]
        assert ids(sa.select(t.c.id).where(t.c.name.startswith("under_", autoescape=True))) == [4]
        assert ids(sa.select(t.c.id).where(t.c.name.ilike("APP%"))) == [0]
        # % in SQL text (pyformat doubles it) and a literal string
        assert conn.execute(sa.text("select 10 % 3, '50%'")).one() == (1, "50%")
        assert conn.scalar(sa.select(sa.literal("x") + sa.literal("y"))) == "xy"
        assert conn.scalar(sa.select(sa.literal(5) * 2)) == 10
        # driver-level SQL with its own placeholders
        assert conn.exec_driver_sql("select %s::int * 2", (21,)).scalar() == 42


def test_server_side_cursors(engine):  # type: ignore[no-untyped-def]
    seen: list[Any] = []

    @event.listens_for(engine, "before_cursor_execute")
    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(cursor)

    q = sa.select(sa.func.generate_series(1, 5000).label("n"))
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, max_row_buffer=500).execute(q)
        assert isinstance(seen[-1], wasmpg.ServerCursor) and seen[-1].name
        first = result.fetchmany(10)
        # the connection runs other statements while the cursor is open
        assert conn.scalar(sa.text("select 42")) == 42
        rest = result.fetchall()
        assert [r.n for r in first + rest] == list(range(1, 5001))
        # yield_per partitions
        parts = list(conn.execution_options(yield_per=1000).execute(q).partitions())
        assert [len(p) for p in parts] == [1000] * 5
    # in autocommit mode the cursor is declared WITH HOLD (there is no transaction to keep it)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        result = conn.execution_options(stream_results=True).execute(q)
        assert seen[-1].withhold
        assert sum(1 for _ in result) == 5000
        assert conn.connection.dbapi_connection.transaction_status == "idle"


def test_json_serializers(cluster, schema):  # type: ignore[no-untyped-def]
    calls: list[str] = []

    def loads(text: str) -> Any:
        calls.append(text)
        return decimal_loads(text)

    import functools
    import json

    decimal_loads = functools.partial(json.loads, parse_float=decimal.Decimal)
    e = sa.create_engine(
        url(cluster, schema),
        json_serializer=functools.partial(json.dumps, separators=(",", ":")),
        json_deserializer=loads,
    )
    metadata = sa.MetaData()
    t = sa.Table(
        "js",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("doc", sa.JSON),
        sa.Column("docb", pg.JSONB),
        sa.Column("nulls", sa.JSON(none_as_null=True)),
    )
    metadata.create_all(e)
    with e.begin() as conn:
        conn.execute(t.insert(), {"id": 1, "doc": {"x": 0.1}, "docb": [1.25], "nulls": None})
        conn.execute(t.insert(), {"id": 2, "doc": None, "docb": sa.null(), "nulls": {"a": 1}})
        raw = conn.execute(sa.text("select doc::text, nulls is null from js where id = 1")).one()
        assert raw == ('{"x":0.1}', True)
        assert conn.scalar(sa.text("select jsonb_typeof(docb) from js where id = 2")) is None
        assert conn.scalar(sa.text("select json_typeof(doc) from js where id = 2")) == "null"
        # the custom deserializer sees the server's exact text: Decimals, not floats
        row = conn.execute(sa.select(t.c.doc, t.c.docb).where(t.c.id == 1)).one()
        assert row == ({"x": decimal.Decimal("0.1")}, [decimal.Decimal("1.25")])
        assert '{"x":0.1}' in calls
    e.dispose()


def test_ddl_refreshes_prepared_statements(engine):  # type: ignore[no-untyped-def]
    """The driver prepares statements; DDL that changes a result's columns would make a cached
    statement fail inside a transaction. The dialect forgets them after DDL."""
    q = sa.text("select * from shape")
    with engine.connect() as conn:
        conn.exec_driver_sql("create table shape (a int)")
        conn.exec_driver_sql("insert into shape values (1)")
        conn.commit()
        with conn.begin():
            assert conn.execute(q, {}).all() == [(1,)]
            assert conn.execute(q, {}).all() == [(1,)]
    with engine.connect() as conn:
        with conn.begin():
            conn.exec_driver_sql("drop table shape")
            conn.exec_driver_sql("create table shape (a text, b int)")
            conn.exec_driver_sql("insert into shape values ('x', 2)")
        with conn.begin():
            assert conn.execute(q, {}).all() == [("x", 2)]


# -- the ORM --


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(50), unique=True)
    mood: Mapped[Optional[Mood]] = mapped_column(sa.Enum(Mood, name="orm_mood"))
    created: Mapped[datetime.datetime] = mapped_column(
        sa.DateTime(timezone=True), server_default=sa.func.now()
    )
    addresses: Mapped[list[Address]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="Address.id"
    )


class Address(Base):
    __tablename__ = "addresses"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(100))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    user: Mapped[User] = relationship(back_populates="addresses")


class Item(Base):
    __tablename__ = "items"
    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(sa.String(20))
    price: Mapped[decimal.Decimal] = mapped_column(sa.Numeric(10, 2))
    tags: Mapped[list[str]] = mapped_column(pg.ARRAY(sa.String))
    data: Mapped[dict[str, Any]] = mapped_column(pg.JSONB)


def test_orm_script(engine):  # type: ignore[no-untyped-def]
    stmts = count_statements(engine)
    # 1. the schema from the declarative models
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        # 2. add objects with a relationship, commit
        alice = User(
            name="alice", mood=Mood.happy, addresses=[Address(email="a@x"), Address(email="a@y")]
        )
        bob = User(name="bob", addresses=[Address(email="b@x")])
        carol = User(name="carol")
        session.add_all([alice, bob, carol])
        session.commit()
        assert alice.id is not None and alice.created.tzinfo is not None
        alice_id = alice.id
        # 3. query with a filter
        found = session.scalars(sa.select(User).where(User.name.like("%o%")).order_by(User.id))
        assert found.all() == [bob, carol]
        # 4. update an attribute (unit of work), commit, read back in a new session
        bob.mood = Mood.sad
        session.commit()
    with Session(engine) as session:
        bob = session.scalars(sa.select(User).filter_by(name="bob")).one()
        assert bob.mood is Mood.sad
        bob_id = bob.id
        # 5. ORM-enabled bulk UPDATE with a WHERE clause
        result = session.execute(sa.update(User).where(User.mood.is_(None)).values(mood=Mood.ok))
        assert result.rowcount == 1
        session.commit()
        # 6. a join
        rows = session.execute(
            sa.select(User.name, Address.email).join(User.addresses).order_by(Address.email)
        ).all()
        assert rows == [("alice", "a@x"), ("alice", "a@y"), ("bob", "b@x")]
        # 7. eager loading: selectinload (2 statements) and joinedload (1)
        session.expunge_all()
        before = len(stmts)
        users = session.scalars(
            sa.select(User).options(selectinload(User.addresses)).order_by(User.id)
        ).all()
        assert [len(u.addresses) for u in users] == [2, 1, 0]
        assert len(stmts) - before == 2
        session.expunge_all()
        before = len(stmts)
        a = session.scalars(
            sa.select(Address).options(joinedload(Address.user)).filter_by(email="b@x")
        ).one()
        assert a.user.name == "bob" and len(stmts) - before == 1
        # 8. lazy loading
        session.expunge_all()
        alice = session.get(User, alice_id)
        assert alice is not None and [x.email for x in alice.addresses] == ["a@x", "a@y"]
        # 9. delete with the cascade
        session.delete(alice)
        session.commit()
        assert session.scalar(sa.select(sa.func.count()).select_from(Address)) == 1
        # 10. 10,000 rows through the unit of work (insertmanyvalues batches)
        session.add_all(
            Item(
                id=i,
                label="item %d" % i,
                price=decimal.Decimal(i) / 100,
                tags=["t%d" % (i % 3)],
                data={"i": i},
            )
            for i in range(10000)
        )
        session.commit()
        # 11. stream them with yield_per (a server-side cursor) while other statements run in
        # the same session (and transaction) between the batches
        n = 0
        total = decimal.Decimal(0)
        query = sa.select(Item).order_by(Item.id).execution_options(yield_per=500)
        for item in session.scalars(query):
            assert item.id == n and item.data == {"i": n}
            total += item.price
            n += 1
            if n % 1000 == 0:
                assert session.scalar(sa.select(sa.func.count()).select_from(User)) == 2
                assert session.get(User, bob_id) is not None
        assert n == 10000
        assert total == sum(decimal.Decimal(i) / 100 for i in range(10000))
        streamed = [c for s, _, c in stmts if "FROM items ORDER BY" in s]
        assert len(streamed) == 1 and isinstance(streamed[0], wasmpg.ServerCursor)
        # 12. a unique violation: sqlalchemy.exc.IntegrityError over wasmpg's UniqueViolation;
        # rollback, and the session works again
        session.add(User(name="bob"))
        with pytest.raises(sa.exc.IntegrityError) as info:
            session.commit()
        assert isinstance(info.value.orig, errors.UniqueViolation)
        assert info.value.orig.sqlstate == "23505"
        session.rollback()
        assert session.scalar(sa.select(sa.func.count()).select_from(User)) == 2
        # 13. update through the relationship and check the final state
        bob = session.scalars(sa.select(User).filter_by(name="bob")).one()
        bob.addresses.append(Address(email="b@y"))
        session.commit()
        assert sorted(a.email for a in bob.addresses) == ["b@x", "b@y"]
    Base.metadata.drop_all(engine)


# -- transactions and the pool --


def test_isolation_levels(engine):  # type: ignore[no-untyped-def]
    levels = ["READ COMMITTED", "READ UNCOMMITTED", "REPEATABLE READ", "SERIALIZABLE"]
    with engine.connect() as conn:
        assert conn.get_isolation_level() == "READ COMMITTED"
        assert conn.default_isolation_level == "READ COMMITTED"
        dbapi_conn = conn.connection.dbapi_connection
        for level in levels:
            conn.execution_options(isolation_level=level)
            assert conn.get_isolation_level() == level
            assert dbapi_conn.transaction_status == "idle"  # no transaction left open
            with conn.begin():
                assert conn.scalar(sa.text("show transaction_isolation")) == level.lower()
        conn.execution_options(isolation_level="AUTOCOMMIT")
        assert dbapi_conn.autocommit is True
        conn.exec_driver_sql("create table autocommitted (a int)")
        assert dbapi_conn.transaction_status == "idle"
        with engine.connect() as other:  # visible at once: nothing to commit
            assert other.scalar(sa.text("select to_regclass('autocommitted') is not null"))
    # returned to the pool: back to the default, autocommit off
    with engine.connect() as conn:
        assert conn.get_isolation_level() == "READ COMMITTED"
        assert conn.connection.dbapi_connection.autocommit is False
    # engine-wide level
    e = engine.execution_options(isolation_level="REPEATABLE READ")
    with e.connect() as conn:
        assert conn.scalar(sa.text("show transaction_isolation")) == "repeatable read"
    # read only
    with engine.connect().execution_options(postgresql_readonly=True) as conn:
        with pytest.raises(sa.exc.InternalError) as info:
            conn.exec_driver_sql("create table nope (a int)")
        assert isinstance(info.value.orig, errors.ReadOnlySqlTransaction)


def test_pre_ping_after_terminated_backend(cluster, engine):  # type: ignore[no-untyped-def]
    e = sa.create_engine(engine.url, pool_pre_ping=True, pool_size=1, max_overflow=0)
    killer = wasmpg.connect(cluster.dsn(), autocommit=True)

    def terminate(pid: int) -> None:
        cur = killer.cursor()
        cur.execute("select pg_terminate_backend(%s)", (pid,))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            cur.execute("select count(*) from pg_stat_activity where pid = %s", (pid,))
            if cur.fetchone() == (0,):
                return
            time.sleep(0.02)
        raise AssertionError("backend %d still there" % pid)

    try:
        with e.connect() as conn:
            pid = conn.scalar(sa.text("select pg_backend_pid()"))
        terminate(pid)
        # the pooled connection is dead: the ping sees a disconnect, the pool reconnects
        with e.connect() as conn:
            pid2 = conn.scalar(sa.text("select pg_backend_pid()"))
        assert pid2 != pid
        # without pre-ping: the statement fails as a disconnect, the pool is invalidated, and
        # the next checkout connects afresh
        e2 = sa.create_engine(engine.url, pool_size=1, max_overflow=0)
        with e2.connect() as conn:
            pid3 = conn.scalar(sa.text("select pg_backend_pid()"))
        terminate(pid3)
        with e2.connect() as conn:
            with pytest.raises(sa.exc.OperationalError) as info:
                conn.scalar(sa.text("select 1"))
            assert info.value.connection_invalidated
            assert isinstance(info.value.orig, errors.AdminShutdown)
        with e2.connect() as conn:
            assert conn.scalar(sa.text("select pg_backend_pid()")) != pid3
        e2.dispose()
    finally:
        killer.close()
        e.dispose()


def test_is_disconnect():  # type: ignore[no-untyped-def]
    d = WasmpgDialect()
    assert d.is_disconnect(errors.OperationalError("x", kind="io"), None, None)
    assert d.is_disconnect(errors.OperationalError("x", kind="closed"), None, None)
    assert d.is_disconnect(errors.InterfaceError("the connection is closed"), None, None)

    def server(code: str) -> errors.Error:
        return errors.lookup(code)("message", diag=errors.Diagnostic({"code": code}), kind="db")

    assert d.is_disconnect(server("57P01"), None, None)  # terminated by an administrator
    assert d.is_disconnect(server("08006"), None, None)
    assert not d.is_disconnect(server("23505"), None, None)
    assert not d.is_disconnect(server("57014"), None, None)  # a cancelled statement
    assert not d.is_disconnect(errors.OperationalError("x", kind="timeout"), None, None)
    assert not d.is_disconnect(ValueError("x"), None, None)  # type: ignore[arg-type]

    class Closed:
        closed = True

    assert d.is_disconnect(errors.ProgrammingError("x"), Closed(), None)  # type: ignore[arg-type]


def test_ping_opens_no_transaction(engine):  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        dbapi_conn = conn.connection.dbapi_connection
        conn.rollback()
        assert engine.dialect.do_ping(dbapi_conn) is True
        assert dbapi_conn.transaction_status == "idle" and dbapi_conn.autocommit is False


# -- asyncio --


def test_async_engine(cluster, schema):  # type: ignore[no-untyped-def]
    async def main() -> None:
        e = create_async_engine(url(cluster, schema, driver="wasmpg_async"), pool_size=5)
        assert type(e.dialect) is WasmpgAsyncDialect
        async with e.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
        sessions = async_sessionmaker(e, expire_on_commit=False)
        # an ORM session
        async with sessions() as session:
            session.add_all(
                [User(name="u%d" % i, addresses=[Address(email="e%d" % i)]) for i in range(3)]
            )
            await session.commit()
            users = (
                await session.scalars(
                    sa.select(User).options(selectinload(User.addresses)).order_by(User.id)
                )
            ).all()
            assert [u.addresses[0].email for u in users] == ["e0", "e1", "e2"]
            users[0].mood = Mood.happy
            await session.commit()
            assert await session.scalar(sa.select(User.mood).filter_by(name="u0")) is Mood.happy
            session.add_all(
                Item(id=i, label="i", price=decimal.Decimal(1), tags=[], data={})
                for i in range(3000)
            )
            await session.commit()
            # streaming with a server-side cursor, other statements in between
            n = 0
            stream = await session.stream_scalars(
                sa.select(Item).order_by(Item.id).execution_options(yield_per=250)
            )
            async for item in stream:
                assert item.id == n
                n += 1
                if n % 1000 == 0:
                    assert await session.scalar(sa.select(sa.func.count(User.id))) == 3
            assert n == 3000
            # IntegrityError as in the sync dialect
            session.add(User(name="u1"))
            with pytest.raises(sa.exc.IntegrityError) as info:
                await session.commit()
            assert isinstance(info.value.orig, errors.UniqueViolation)
            await session.rollback()

        # several connections at once: the sleeps overlap
        async def one(i: int) -> tuple[int, int, datetime.datetime]:
            async with e.connect() as conn:
                began = await conn.scalar(sa.text("select statement_timestamp() from pg_sleep(1)"))
                pid = await conn.scalar(sa.text("select pg_backend_pid()"))
                return i, int(pid), began

        done = await asyncio.gather(*(one(i) for i in range(5)))
        assert [i for i, _, _ in done] == list(range(5))
        assert len({pid for _, pid, _ in done}) == 5
        # The server's own clock, not the test's: one after the other, each 1 s sleep would
        # begin after the one before had ended; at once, some began while another slept.
        starts = sorted(began for _, _, began in done)
        gaps = [b - a for a, b in zip(starts, starts[1:])]
        assert min(gaps) < datetime.timedelta(seconds=1), gaps
        # isolation levels and AUTOCOMMIT through the adapted connection
        async with e.connect() as conn:
            conn2 = await conn.execution_options(isolation_level="SERIALIZABLE")
            assert await conn2.get_isolation_level() == "SERIALIZABLE"
        async with e.connect() as conn:
            conn2 = await conn.execution_options(isolation_level="AUTOCOMMIT")
            raw = await conn2.get_raw_connection()
            assert raw.driver_connection.autocommit is True
        # terminate() (the pool's garbage-collection path) needs no event loop turn
        async with e.connect() as conn:
            raw = await conn.get_raw_connection()
            adapted = raw.dbapi_connection
            adapted.terminate()
            assert adapted.closed
            await conn.invalidate()
        async with e.begin() as conn:
            await conn.run_sync(Base.metadata.drop_all)
        await e.dispose()

    asyncio.run(main())


def test_async_pre_ping_after_terminated_backend(cluster, schema):  # type: ignore[no-untyped-def]
    async def main() -> None:
        e = create_async_engine(
            url(cluster, schema, driver="wasmpg_async"), pool_pre_ping=True, pool_size=1
        )
        async with e.connect() as conn:
            pid = await conn.scalar(sa.text("select pg_backend_pid()"))
        killer = await wasmpg.AsyncConnection.connect(cluster.dsn(), autocommit=True)
        cur = killer.cursor()
        await cur.execute("select pg_terminate_backend(%s)", (pid,))
        for _ in range(500):
            await cur.execute("select count(*) from pg_stat_activity where pid = %s", (pid,))
            if await cur.fetchone() == (0,):
                break
            await asyncio.sleep(0.02)
        await killer.close()
        async with e.connect() as conn:
            assert await conn.scalar(sa.text("select pg_backend_pid()")) != pid
        await e.dispose()

    asyncio.run(main())
