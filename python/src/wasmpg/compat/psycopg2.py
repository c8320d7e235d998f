"""The module ``compat.register()`` installs as ``psycopg2``: psycopg2's top-level API
(``connect``, ``__version__``, the PEP 249 exceptions, type objects and constructors) on
wasmpg, with its submodules as attributes."""

from __future__ import annotations

import time as _time
from typing import Any

from ..errors import (
    DatabaseError,
    DataError,
    Error,
    IntegrityError,
    InterfaceError,
    InternalError,
    NotSupportedError,
    OperationalError,
    ProgrammingError,
    Warning,
)
from . import errorcodes, errors, extensions, extras, pool, sql, tz
from ._adapt import Binary, DateFromPy, TimeFromPy, TimestampFromPy
from ._connection import connect
from ._typecast import BINARY, NUMBER, ROWID, STRING, Typecaster

__all__ = [
    "connect",
    "apilevel",
    "threadsafety",
    "paramstyle",
    "__version__",
    "__libpq_version__",
    "Warning",
    "Error",
    "InterfaceError",
    "DatabaseError",
    "DataError",
    "OperationalError",
    "IntegrityError",
    "InternalError",
    "ProgrammingError",
    "NotSupportedError",
    "BINARY",
    "NUMBER",
    "STRING",
    "DATETIME",
    "ROWID",
    "Binary",
    "Date",
    "Time",
    "Timestamp",
    "DateFromTicks",
    "TimeFromTicks",
    "TimestampFromTicks",
    "errorcodes",
    "errors",
    "extensions",
    "extras",
    "pool",
    "sql",
    "tz",
]

#: psycopg2's version string, with its build flags (Django and SQLAlchemy parse it).
__version__ = "2.9.10 (dt dec pq3 ext lo64)"
__libpq_version__ = extensions.libpq_version

apilevel = "2.0"
threadsafety = 2
paramstyle = "pyformat"

#: The DB-API type object of the date and time types.
DATETIME = Typecaster((1082, 1083, 1114, 1184, 1186, 1266, 704), "DATETIME")


def Date(year: int, month: int, day: int) -> Any:  # noqa: N802 - PEP 249 name
    import datetime

    return DateFromPy(datetime.date(year, month, day))


def Time(hour: int, minute: int, second: int, tzinfo: Any = None) -> Any:  # noqa: N802
    import datetime

    return TimeFromPy(datetime.time(hour, minute, int(second), tzinfo=tzinfo))


def Timestamp(  # noqa: N802
    year: int,
    month: int,
    day: int,
    hour: int = 0,
    minute: int = 0,
    second: int = 0,
    tzinfo: Any = None,
) -> Any:
    import datetime

    return TimestampFromPy(
        datetime.datetime(year, month, day, hour, minute, int(second), tzinfo=tzinfo)
    )


def DateFromTicks(ticks: float) -> Any:  # noqa: N802
    return Date(*_time.localtime(ticks)[:3])


def TimeFromTicks(ticks: float) -> Any:  # noqa: N802
    return Time(*_time.localtime(ticks)[3:6])


def TimestampFromTicks(ticks: float) -> Any:  # noqa: N802
    return Timestamp(*_time.localtime(ticks)[:6])
