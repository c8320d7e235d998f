"""psycopg2's ``extensions`` module: the connection and cursor classes, adaptation
(``adapt``, ``register_adapter``, ``QuotedString``, ``Binary``, ``AsIs``...), typecasting
(``new_type``, ``new_array_type``, ``register_type``, the built-in casters), and the
constants (isolation levels, connection and transaction statuses)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from typing import Any, Callable, Optional

from ..errors import NotSupportedError, QueryCanceledError, TransactionRollbackError
from . import _range
from ._adapt import (
    SQL_IN,
    AsIs,
    Binary,
    Boolean,
    DateFromPy,
    Float,
    Int,
    IntervalFromPy,
    ISQLQuote,
    NoneAdapter,
    QuotedString,
    TimeFromPy,
    TimestampFromPy,
    adapt,
    adapters,
    register_adapter,
)
from ._connection import (
    ISOLATION_LEVEL_AUTOCOMMIT,
    ISOLATION_LEVEL_READ_COMMITTED,
    ISOLATION_LEVEL_READ_UNCOMMITTED,
    ISOLATION_LEVEL_REPEATABLE_READ,
    ISOLATION_LEVEL_SERIALIZABLE,
    STATUS_BEGIN,
    STATUS_PREPARED,
    STATUS_READY,
    TRANSACTION_STATUS_ACTIVE,
    TRANSACTION_STATUS_IDLE,
    TRANSACTION_STATUS_INERROR,
    TRANSACTION_STATUS_INTRANS,
    TRANSACTION_STATUS_UNKNOWN,
    ConnectionInfo,
    Diagnostics,
    Notify,
    Xid,
    connection,
)
from ._cursor import Column, cursor
from ._dsn import encodings, make_dsn, parse_dsn, quote_ident
from ._json import register_default_json, register_default_jsonb
from ._typecast import (
    BINARY,
    BINARYARRAY,
    BOOLEAN,
    BOOLEANARRAY,
    BYTES,
    BYTESARRAY,
    DATE,
    DATEARRAY,
    DATETIME,
    DATETIMEARRAY,
    DATETIMETZ,
    DATETIMETZARRAY,
    DECIMAL,
    DECIMALARRAY,
    FLOAT,
    FLOATARRAY,
    INTEGER,
    INTEGERARRAY,
    INTERVAL,
    INTERVALARRAY,
    LONGINTEGER,
    LONGINTEGERARRAY,
    ROWIDARRAY,
    STRINGARRAY,
    TIME,
    TIMEARRAY,
    UNICODE,
    UNICODEARRAY,
    binary_types,
    new_array_type,
    new_type,
    register_type,
    string_types,
)

__all__ = [
    "adapt",
    "adapters",
    "register_adapter",
    "ISQLQuote",
    "AsIs",
    "QuotedString",
    "Binary",
    "Boolean",
    "Float",
    "Int",
    "SQL_IN",
    "NoneAdapter",
    "DateFromPy",
    "TimeFromPy",
    "TimestampFromPy",
    "IntervalFromPy",
    "connection",
    "cursor",
    "Column",
    "ConnectionInfo",
    "Diagnostics",
    "Notify",
    "Xid",
    "lobject",
    "parse_dsn",
    "make_dsn",
    "quote_ident",
    "encodings",
    "new_type",
    "new_array_type",
    "register_type",
    "string_types",
    "binary_types",
    "libpq_version",
    "encrypt_password",
    "get_wait_callback",
    "set_wait_callback",
    "QueryCanceledError",
    "TransactionRollbackError",
    "BINARY",
    "BINARYARRAY",
    "BOOLEAN",
    "BOOLEANARRAY",
    "BYTES",
    "BYTESARRAY",
    "DATE",
    "DATEARRAY",
    "DATETIMEARRAY",
    "DECIMAL",
    "DECIMALARRAY",
    "FLOAT",
    "FLOATARRAY",
    "INTEGER",
    "INTEGERARRAY",
    "INTERVAL",
    "INTERVALARRAY",
    "LONGINTEGER",
    "LONGINTEGERARRAY",
    "ROWIDARRAY",
    "STRINGARRAY",
    "TIME",
    "TIMEARRAY",
    "UNICODE",
    "UNICODEARRAY",
    "PYDATE",
    "PYDATETIME",
    "PYDATETIMETZ",
    "PYINTERVAL",
    "PYTIME",
    "PYDATEARRAY",
    "PYDATETIMEARRAY",
    "PYDATETIMETZARRAY",
    "PYINTERVALARRAY",
    "PYTIMEARRAY",
    "JSON",
    "JSONARRAY",
    "JSONB",
    "JSONBARRAY",
    "ISOLATION_LEVEL_AUTOCOMMIT",
    "ISOLATION_LEVEL_READ_UNCOMMITTED",
    "ISOLATION_LEVEL_READ_COMMITTED",
    "ISOLATION_LEVEL_REPEATABLE_READ",
    "ISOLATION_LEVEL_SERIALIZABLE",
    "ISOLATION_LEVEL_DEFAULT",
    "STATUS_SETUP",
    "STATUS_READY",
    "STATUS_BEGIN",
    "STATUS_SYNC",
    "STATUS_ASYNC",
    "STATUS_PREPARED",
    "STATUS_IN_TRANSACTION",
    "POLL_OK",
    "POLL_READ",
    "POLL_WRITE",
    "POLL_ERROR",
    "TRANSACTION_STATUS_IDLE",
    "TRANSACTION_STATUS_ACTIVE",
    "TRANSACTION_STATUS_INTRANS",
    "TRANSACTION_STATUS_INERROR",
    "TRANSACTION_STATUS_UNKNOWN",
]

# The Python date/time casters are the only ones (psycopg2's PY* names are aliases).
PYDATE = DATE
PYTIME = TIME
PYDATETIME = DATETIME
PYDATETIMETZ = DATETIMETZ
PYINTERVAL = INTERVAL
PYDATEARRAY = DATEARRAY
PYTIMEARRAY = TIMEARRAY
PYDATETIMEARRAY = DATETIMEARRAY
PYDATETIMETZARRAY = DATETIMETZARRAY
PYINTERVALARRAY = INTERVALARRAY

ISOLATION_LEVEL_DEFAULT = None

STATUS_SETUP = 0
STATUS_SYNC = 3
STATUS_ASYNC = 4
STATUS_IN_TRANSACTION = STATUS_BEGIN

POLL_OK = 0
POLL_READ = 1
POLL_WRITE = 2
POLL_ERROR = 3

#: The libpq version psycopg2 would report (wasmpg has no libpq: its protocol is 3.0).
libpq_version = 160000

JSON, JSONARRAY = register_default_json()
JSONB, JSONBARRAY = register_default_jsonb()

assert _range.Range is not None  # the built-in range casters are registered by _range


class lobject:
    """Large objects are not supported."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise NotSupportedError("large objects are not supported by wasmpg's psycopg2 layer")


def get_wait_callback() -> None:
    """Always None: wasmpg's psycopg2 layer has no wait callbacks (no green threads)."""
    return None


def set_wait_callback(f: Optional[Callable[..., Any]]) -> None:
    """Accepts only None: wait callbacks (gevent, eventlet) are not supported."""
    if f is not None:
        raise NotSupportedError(
            "wait callbacks are not supported by wasmpg's psycopg2 layer (its connections "
            "are synchronous)"
        )


def encrypt_password(
    password: str, user: str, scope: Any = None, algorithm: Optional[str] = None
) -> str:
    """The password as PostgreSQL stores it: ``md5`` or ``scram-sha-256`` (the default
    when ``scope``, a connection or cursor, says ``password_encryption`` is scram)."""
    if algorithm is None:
        if scope is not None:
            conn = getattr(scope, "connection", scope)
            cur = conn.cursor()
            try:
                cur.execute("SHOW password_encryption")
                row = cur.fetchone()
            finally:
                cur.close()
            algorithm = row[0] if row else "md5"
        else:
            algorithm = "md5"
    algorithm = algorithm.lower()
    if algorithm == "md5":
        return "md5" + hashlib.md5((password + user).encode("utf-8")).hexdigest()
    if algorithm in ("scram-sha-256", "on"):
        salt = os.urandom(16)
        iterations = 4096
        salted = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
        client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
        stored_key = hashlib.sha256(client_key).digest()
        server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

        def b64(data: bytes) -> str:
            return base64.b64encode(data).decode("ascii")

        return "SCRAM-SHA-256$%d:%s$%s:%s" % (
            iterations,
            b64(salt),
            b64(stored_key),
            b64(server_key),
        )
    raise NotSupportedError("password encryption algorithm not supported: %s" % algorithm)
