"""SQLAlchemy's dialect compliance suite.

Unmodified, but for one helper: ``ServerSideCursorsTest._is_server_side`` recognises the cursors
of the drivers it names only (SQLAlchemy's own comment calls that "a huge issue as it prevents
these tests from being usable by third party dialects"); the override below teaches it wasmpg's
named cursors and defers to it for every other driver.
"""

from typing import Any

from sqlalchemy.testing.suite import *  # noqa: F403
from sqlalchemy.testing.suite import ServerSideCursorsTest as _ServerSideCursorsTest


class ServerSideCursorsTest(_ServerSideCursorsTest):
    def _is_server_side(self, cursor: Any) -> bool:
        if self.engine.dialect.driver.startswith("wasmpg"):
            # wasmpg.ServerCursor has a name (DECLARE name CURSOR ...), the async adapter's
            # server-side cursor says so
            return bool(getattr(cursor, "name", None) or getattr(cursor, "server_side", False))
        return bool(super()._is_server_side(cursor))
