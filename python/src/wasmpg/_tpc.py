"""Two-phase commit identifiers (PEP 249's TPC extension): `Xid`, and the PostgreSQL transaction
id (``gid``) it is written as. The statements are the connections' (`connection.py`).

A `Xid` made by ``conn.xid(format_id, gtrid, bqual)`` is written as
``<format_id>_<base64 gtrid>_<base64 bqual>`` (psycopg's form, so transactions prepared by
psycopg are recovered with the same three parts); a gid in any other form (prepared by other
software) is recovered as ``Xid(None, gid, None)`` and committed or rolled back by that gid.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any, Optional

from .errors import ProgrammingError

__all__ = ["Xid"]

_GID = re.compile(r"^(\d+)_([^_]*)_([^_]*)$")
_MAX_GID = 200  # PostgreSQL's limit on a prepared transaction's identifier, in bytes


class Xid:
    """A transaction id: ``format_id``, ``gtrid`` and ``bqual`` (PEP 249: also a 3-item
    sequence); from ``tpc_recover()``, also ``prepared`` (a datetime), ``owner`` and
    ``database``."""

    __slots__ = ("format_id", "gtrid", "bqual", "prepared", "owner", "database")

    def __init__(self, format_id: Optional[int], gtrid: str, bqual: Optional[str]) -> None:
        if format_id is not None:
            if not isinstance(format_id, int) or not 0 <= format_id < 2**31:
                raise ProgrammingError("format_id must be an integer between 0 and 2^31 - 1")
            if not isinstance(gtrid, str) or not isinstance(bqual, str):
                raise ProgrammingError("gtrid and bqual must be strings")
            for name, part in (("gtrid", gtrid), ("bqual", bqual)):
                if len(part.encode("utf-8")) > 64:
                    raise ProgrammingError("%s must be at most 64 bytes" % name)
        elif not isinstance(gtrid, str) or bqual is not None:
            raise ProgrammingError("a transaction id without format_id is one gtrid string")
        self.format_id = format_id
        self.gtrid = gtrid
        self.bqual = bqual
        self.prepared: Any = None
        self.owner: Optional[str] = None
        self.database: Optional[str] = None

    def gid(self) -> str:
        """The PostgreSQL identifier of the transaction."""
        if self.format_id is None:
            gid = self.gtrid
        else:
            assert self.bqual is not None
            gid = "%d_%s_%s" % (
                self.format_id,
                base64.b64encode(self.gtrid.encode("utf-8")).decode("ascii"),
                base64.b64encode(self.bqual.encode("utf-8")).decode("ascii"),
            )
        if len(gid.encode("utf-8")) >= _MAX_GID:
            raise ProgrammingError("the transaction id is too long for PostgreSQL")
        return gid

    @classmethod
    def from_gid(cls, gid: str) -> Xid:
        m = _GID.match(gid)
        if m is not None:
            try:
                gtrid = base64.b64decode(m.group(2), validate=True).decode("utf-8")
                bqual = base64.b64decode(m.group(3), validate=True).decode("utf-8")
                return cls(int(m.group(1)), gtrid, bqual)
            except (binascii.Error, UnicodeDecodeError, ProgrammingError):
                pass
        return cls(None, gid, None)

    def literal(self) -> str:
        return "'" + self.gid().replace("'", "''") + "'"

    def _parts(self) -> tuple[Optional[int], str, Optional[str]]:
        return (self.format_id, self.gtrid, self.bqual)

    def __getitem__(self, index: int) -> Any:
        return self._parts()[index]

    def __len__(self) -> int:
        return 3

    def __iter__(self) -> Any:
        return iter(self._parts())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Xid):
            return self._parts() == other._parts()
        if isinstance(other, tuple):
            return self._parts() == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._parts())

    def __repr__(self) -> str:
        if self.format_id is None:
            return "Xid(None, %r, None)" % self.gtrid
        return "Xid(%d, %r, %r)" % (self.format_id, self.gtrid, self.bqual)


RECOVER_SQL = (
    "SELECT gid, prepared, owner, database FROM pg_catalog.pg_prepared_xacts"
    " WHERE database = pg_catalog.current_database() ORDER BY prepared"
)


def recovered(rows: list[tuple[Any, ...]]) -> list[Xid]:
    out = []
    for gid, prepared, owner, database in rows:
        xid = Xid.from_gid(gid)
        xid.prepared = prepared
        xid.owner = owner
        xid.database = database
        out.append(xid)
    return out
