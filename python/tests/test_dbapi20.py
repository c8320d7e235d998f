"""The DB-API 2.0 compliance suite (dbapi20.py, vendored unmodified) run against wasmpg, as
psycopg2 and pg8000 do. Only what PostgreSQL cannot do is skipped."""

from typing import Any, ClassVar

import dbapi20
import pytest

import wasmpg


class WasmpgDBAPI20Test(dbapi20.DatabaseAPI20Test):
    driver = wasmpg
    connect_args = ()
    connect_kw_args: ClassVar[dict[str, Any]] = {}  # the cluster's DSN, set by the fixture below
    lower_func = "lower"  # callproc("lower", ("FOO",)) runs SELECT * FROM lower('FOO')

    @pytest.fixture(autouse=True)
    def _cluster_dsn(self, cluster):
        type(self).connect_kw_args = {"dsn": cluster.dsn()}

    def test_nextset(self):
        pytest.skip(
            "the suite's nextset test needs a stored procedure returning two result sets; "
            "PostgreSQL procedures cannot return result sets (nextset() itself works for "
            "multi-statement queries: see test_cursor.py)"
        )

    def test_setoutputsize(self):
        # The suite leaves this test to drivers. setoutputsize() is a no-op here (PEP 249
        # allows it): check that it accepts both forms and leaves the cursor working.
        con = self._connect()
        try:
            cur = con.cursor()
            cur.setoutputsize(1000)
            cur.setoutputsize(2000, 0)
            self._paraminsert(cur)
        finally:
            con.close()
