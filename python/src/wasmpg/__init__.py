"""wasmpg: a PostgreSQL DB-API 2.0 driver whose protocol client is a sandboxed Wasm component.

The PostgreSQL protocol runs inside a WebAssembly component (the same one every wasmpg host
uses) that performs no I/O: this package owns the socket, opens only the connections its policy
allows, and drives the component through ``wasmtime``. It runs on CPython and PyPy.

Modules:

* ``connection``, ``cursor``: the PEP 249 ``Connection`` and ``Cursor``.
* ``connection_async``: ``AsyncConnection`` and ``AsyncCursor`` for asyncio, on the same steps.
* ``server_cursor``: ``ServerCursor``, ``AsyncServerCursor`` (named cursors: DECLARE/FETCH).
* ``pool``: ``AsyncConnectionPool``.
* ``errors``: the PEP 249 exception hierarchy, and server/guest errors mapped onto it.
* ``types``: Python values to and from the canonical text forms of ``docs/design.md``.
* ``_dbapi``: PEP 249 type objects and constructors.
* ``_conninfo``: ``connect()`` arguments to one libpq connection string.
* ``_env``: libpq's ``PG*`` variables and the OS user name.
* ``_sql``: ``pyformat`` placeholders to ``$n``, client-side.
* ``_session``: the host half of a session: the loop that performs the guest's actions, the
  file reads, and cancel requests on a fresh instance.
* ``_policy``: the allow-lists of targets the host may open and files it may read.
* ``_socket``: the session's socket: connect, read, write.
* ``_aio``: the asyncio driver of the session's steps and its non-blocking socket.
* ``_sandbox``: one guest instance per connection: the calls into it and its bounds.
* ``_abi``: the packed layout (``docs/abi.md``): request encoders and the step decoder.
* ``_runtime``: the process-wide engine, cached compiled component and epoch ticker.
* ``_capi``: our own ctypes/cffi declarations of wasmtime's C API (the fast path).
* ``_public``: the same through the ``wasmtime`` package's public API (the safe fallback).

>>> import wasmpg
>>> conn = wasmpg.connect("host=localhost dbname=app")          # doctest: +SKIP
>>> with conn, conn.cursor() as cur:                              # doctest: +SKIP
...     cur.execute("select %s::int + 1", (41,))
...     cur.fetchone()
(42,)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable, Optional

from . import types
from ._conninfo import make_conninfo
from ._copy import AsyncCopy, Copy
from ._dbapi import (
    BINARY,
    DATETIME,
    NUMBER,
    ROWID,
    STRING,
    Binary,
    Date,
    DateFromTicks,
    Time,
    TimeFromTicks,
    Timestamp,
    TimestampFromTicks,
)
from ._session import Session
from ._tpc import Xid
from .connection import Connection, Notify, session_options
from .connection_async import AsyncClientCursor, AsyncConnection, AsyncCursor
from .cursor import ClientCursor, Column, Cursor
from .errors import (
    DatabaseError,
    DataError,
    Diagnostic,
    Error,
    IntegrityError,
    InterfaceError,
    InternalError,
    NotSupportedError,
    OperationalError,
    ProgrammingError,
    QueryCanceledError,
    TransactionRollbackError,
    Warning,
)
from .server_cursor import AsyncServerCursor, ServerCursor
from .types import AdaptersMap, Json, Jsonb, adapters

__version__ = "0.1.0"

apilevel = "2.0"
threadsafety = 2
paramstyle = "pyformat"

__all__ = [
    "Notify",
    "connect",
    "Connection",
    "Cursor",
    "AsyncConnection",
    "AsyncCursor",
    "ClientCursor",
    "AsyncClientCursor",
    "ServerCursor",
    "AsyncServerCursor",
    "Xid",
    "Column",
    "Copy",
    "AsyncCopy",
    "apilevel",
    "threadsafety",
    "paramstyle",
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
    "TransactionRollbackError",
    "QueryCanceledError",
    "Diagnostic",
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
    "Json",
    "Jsonb",
    "AdaptersMap",
    "adapters",
    "make_conninfo",
    "types",
]


def connect(
    dsn: Optional[str] = None,
    *,
    allow: Optional[Sequence[str]] = None,
    allow_files: Optional[Sequence[str]] = None,
    autocommit: bool = False,
    read_timeout: Optional[float] = None,
    statement_cache: int = 256,
    max_message_size: int = 64 << 20,
    memory_limit: int = 256 << 20,
    cpu_limit: float = 5.0,
    password_callback: Optional[Callable[[dict[str, Any]], Optional[str]]] = None,
    cursor_factory: Optional[Callable[..., Any]] = None,
    **kwargs: Any,
) -> Connection:
    """Opens a connection.

    ``dsn`` is a libpq connection string (``"host=... dbname=..."`` or a ``postgresql://``
    URI); keyword arguments (``host``, ``port``, ``user``, ``password``, ``dbname`` or
    ``database``, ``connect_timeout``, ``application_name``, ``options``, ``sslmode``, any libpq
    keyword) are added to it, and libpq's ``PG*`` environment variables, the password file and
    the OS user name fill in what neither gives.

    ``allow``: the connection policy, a list of ``"host:port"``, ``"[v6addr]:port"`` or Unix
    socket paths. By default exactly the targets the connection string names are allowed. A
    target outside the list is refused before any socket is created (OperationalError naming
    the policy), and multi-host connection strings move on to their next host.

    ``allow_files``: the file policy, absolute paths the driver may read for the connection
    (a ``passfile`` or ``PGPASSFILE`` elsewhere). By default only the user's own password
    file (``~/.pgpass``; ``%APPDATA%\\postgresql\\pgpass.conf`` on Windows) and the files under
    ``~/.postgresql/`` may be read; a password file outside the policy is an OperationalError
    naming it.

    ``read_timeout``: seconds to wait for each read from the server (default: no limit).
    ``statement_cache``: capacity of the automatic prepared-statement cache for parameterised
    queries (0 disables it, for PgBouncer in transaction mode).
    ``max_message_size``: the largest server message accepted, in bytes (a longer one is an
    OperationalError and ends the connection). ``memory_limit``: the guest instance's linear
    memory bound, in bytes (exceeding it traps the guest: OperationalError, connection closed).
    ``cpu_limit``: seconds of guest execution allowed per call into the guest (default 5, like
    the Rust host's ``Config::cpu_limit_per_call``; granularity 10 ms); a call that runs longer
    traps (OperationalError, connection closed).

    ``password_callback``: called when the server asks for a password that the connection
    string, ``PGPASSWORD`` and the password file did not give (once per host tried), with a
    dict ``{"host", "port", "dbname", "user"}``; returns the password or None. For
    short-lived tokens (cloud IAM authentication) fetched at connect time.

    ``cursor_factory``: the class ``cursor()`` makes (`ClientCursor` for client-side binding).
    """
    options = session_options(
        allow=allow,
        allow_files=allow_files,
        read_timeout=read_timeout,
        statement_cache=statement_cache,
        max_message_size=max_message_size,
        memory_limit=memory_limit,
        cpu_limit=cpu_limit,
        password_callback=password_callback,
    )
    session = Session(make_conninfo(dsn, **kwargs), **options)
    conn = Connection(session, autocommit=autocommit)
    conn.cursor_factory = cursor_factory
    return conn
