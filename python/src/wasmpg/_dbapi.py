"""PEP 249 type objects and constructors."""

from __future__ import annotations

import datetime as _dt
import time as _time
from typing import Any, Optional

from .types import oids

__all__ = [
    "Date",
    "Time",
    "Timestamp",
    "DateFromTicks",
    "TimeFromTicks",
    "TimestampFromTicks",
    "Binary",
    "STRING",
    "BINARY",
    "NUMBER",
    "DATETIME",
    "ROWID",
    "DBAPITypeObject",
]

Date = _dt.date
Time = _dt.time
Timestamp = _dt.datetime


def DateFromTicks(ticks: float) -> _dt.date:  # noqa: N802 - PEP 249 name
    """The local date of a POSIX timestamp."""
    return Date(*_time.localtime(ticks)[:3])


def TimeFromTicks(ticks: float) -> _dt.time:  # noqa: N802
    """The local time of a POSIX timestamp."""
    return Time(*_time.localtime(ticks)[3:6])


def TimestampFromTicks(ticks: float) -> _dt.datetime:  # noqa: N802
    """The local date and time of a POSIX timestamp."""
    return Timestamp(*_time.localtime(ticks)[:6])


def Binary(data: Any) -> Optional[bytes]:  # noqa: N802
    """A value for a bytea column; ``Binary(None)`` is None (NULL), as in psycopg2."""
    return None if data is None else bytes(data)


class DBAPITypeObject:
    """Compares equal to every type OID of its group (``cursor.description[i][1]``)."""

    def __init__(self, name: str, type_oids: frozenset[int]) -> None:
        self.name = name
        self.values = type_oids

    def __eq__(self, other: object) -> bool:
        if isinstance(other, DBAPITypeObject):
            return self is other
        return other in self.values

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return "<DBAPITypeObject %s>" % self.name


STRING = DBAPITypeObject(
    "STRING",
    frozenset(
        {
            oids.TEXT,
            oids.VARCHAR,
            oids.BPCHAR,
            oids.NAME,
            oids.CHAR,
            oids.UNKNOWN,
            oids.JSON,
            oids.JSONB,
            oids.XML,
            oids.UUID,
        }
    ),
)
BINARY = DBAPITypeObject("BINARY", frozenset({oids.BYTEA}))
NUMBER = DBAPITypeObject(
    "NUMBER",
    frozenset(
        {
            oids.INT2,
            oids.INT4,
            oids.INT8,
            oids.FLOAT4,
            oids.FLOAT8,
            oids.NUMERIC,
            oids.MONEY,
            oids.BOOL,
        }
    ),
)
DATETIME = DBAPITypeObject(
    "DATETIME",
    frozenset({oids.DATE, oids.TIME, oids.TIMETZ, oids.TIMESTAMP, oids.TIMESTAMPTZ, oids.INTERVAL}),
)
ROWID = DBAPITypeObject("ROWID", frozenset({oids.OID, oids.TID}))
