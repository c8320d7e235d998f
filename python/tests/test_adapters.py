"""Adapters per process, per connection and per cursor (psycopg 3's adapters maps)."""

from __future__ import annotations

import decimal

import pytest

import wasmpg
from wasmpg.types import oids


class Money:
    def __init__(self, cents: int) -> None:
        self.cents = cents


def _dump_money(value: Money) -> tuple[int, str]:
    return oids.NUMERIC, "%d.%02d" % divmod(value.cents, 100)


def test_connection_and_cursor_scopes(cluster, aconn):
    other = wasmpg.connect(cluster.dsn(), autocommit=True)
    try:
        aconn.adapters.register_loader(oids.NUMERIC, float)
        aconn.adapters.register_dumper(Money, _dump_money)
        cur = aconn.cursor()
        cur.execute("SELECT 1.5::numeric, ARRAY[2.5::numeric], %s, %s", (Money(1234), [Money(5)]))
        assert cur.fetchone() == (1.5, [2.5], 12.34, [0.05])
        # Another connection keeps the process-wide adapters.
        ocur = other.cursor()
        ocur.execute("SELECT 1.5::numeric")
        assert ocur.fetchone() == (decimal.Decimal("1.5"),)
        with pytest.raises(wasmpg.ProgrammingError, match="cannot adapt"):
            ocur.execute("SELECT %s", (Money(1),))
        # A cursor's own registration is the cursor's only.
        c2 = aconn.cursor()
        c2.adapters.register_loader(oids.NUMERIC, None)  # the canonical text
        c2.execute("SELECT 1.50::numeric")
        assert c2.fetchone() == ("1.50",)
        cur.execute("SELECT 1.50::numeric")
        assert cur.fetchone() == (1.5,)
        # Client-side binding and server cursors use the same adapters.
        cc = aconn.cursor(cursor_factory=wasmpg.ClientCursor)
        assert cc.mogrify("SELECT %s", (Money(7),)) == "SELECT  '0.07'::numeric"
    finally:
        other.close()


def test_process_wide_registration_and_subclasses(cluster):
    class Cents(int):
        pass

    before = wasmpg.connect(cluster.dsn(), autocommit=True)
    # Copied now: later process-wide registrations do not reach it.
    assert before.adapters is not wasmpg.adapters
    wasmpg.adapters.register_dumper(Money, _dump_money)
    try:
        after = wasmpg.connect(cluster.dsn(), autocommit=True)
        cur = after.cursor()
        cur.execute("SELECT %s::text", (Money(250),))
        assert cur.fetchone() == ("2.50",)
        with pytest.raises(wasmpg.ProgrammingError):
            before.cursor().execute("SELECT %s", (Money(1),))
        # A subclass uses its base's dumper until it has its own; registering one for the
        # base later reaches subclasses that had no dumper of their own.
        cur.execute("SELECT %s + 1", (Cents(41),))
        assert cur.fetchone() == (42,)
        after.adapters.register_dumper(int, lambda v: (oids.TEXT, "n%d" % v))
        cur = after.cursor()
        cur.execute("SELECT %s, %s::text", (Cents(1), True))
        assert cur.fetchone() == ("n1", "true")  # bool keeps its own dumper
        after.close()
    finally:
        wasmpg.adapters._dumpers.pop(Money, None)
        wasmpg.adapters._resolved.pop(Money, None)
        before.close()


def test_async_connection_adapters(cluster):
    import asyncio

    async def main() -> None:
        conn = await wasmpg.AsyncConnection.connect(cluster.dsn(), autocommit=True)
        try:
            conn.adapters.register_loader(oids.INT4, lambda t: int(t) * 10)
            cur = await conn.execute("SELECT 4::int4, 5::int8")
            assert await cur.fetchone() == (40, 5)
            srv = conn.cursor("s", withhold=True)
            await srv.execute("SELECT 6::int4")
            assert await srv.fetchall() == [(60,)]
            await srv.close()
        finally:
            await conn.close()

    asyncio.run(main())
