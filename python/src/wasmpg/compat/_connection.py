"""psycopg2's ``connection`` on a wasmpg connection: psycopg2's transaction handling (``BEGIN``
with the session characteristics before the first statement, ``autocommit``,
``isolation_level``, ``set_session``), the connection's state (``closed`` as 0/1/2,
``status``, ``info``, ``notices``, ``notifies`` as ``Notify``), and ``connect()``.

The wasmpg connection underneath always runs in autocommit mode: the transactions are this
class's own statements, as psycopg2 issues them.
"""

from __future__ import annotations

import datetime as _dt
import getpass
import os
from collections.abc import Iterator
from typing import Any, Callable, Optional

import wasmpg

from .. import errors
from ..connection import Connection as _WConnection
from ..errors import Diagnostic, InterfaceError, NotSupportedError, ProgrammingError
from ..types import oids
from . import _adapt, _typecast
from ._cursor import cursor
from ._dsn import make_dsn, obscure, parse_dsn, python_encoding

__all__ = [
    "connection",
    "connect",
    "ConnectionInfo",
    "Notify",
    "Diagnostics",
    "Xid",
    "WASMPG_OPTIONS",
]

ISOLATION_LEVEL_AUTOCOMMIT = 0
ISOLATION_LEVEL_READ_UNCOMMITTED = 4
ISOLATION_LEVEL_READ_COMMITTED = 1
ISOLATION_LEVEL_REPEATABLE_READ = 2
ISOLATION_LEVEL_SERIALIZABLE = 3

_LEVEL_NAMES = {
    1: "READ COMMITTED",
    2: "REPEATABLE READ",
    3: "SERIALIZABLE",
    4: "READ UNCOMMITTED",
}

STATUS_READY = 1
STATUS_BEGIN = 2
STATUS_PREPARED = 5

TRANSACTION_STATUS_IDLE = 0
TRANSACTION_STATUS_ACTIVE = 1
TRANSACTION_STATUS_INTRANS = 2
TRANSACTION_STATUS_INERROR = 3
TRANSACTION_STATUS_UNKNOWN = 4

_TX_STATUS = {
    "idle": TRANSACTION_STATUS_IDLE,
    "in-transaction": TRANSACTION_STATUS_INTRANS,
    "failed": TRANSACTION_STATUS_INERROR,
}

#: ``connect()`` keywords that are wasmpg's own options (passed to `wasmpg.connect`, not put
#: in the connection string).
WASMPG_OPTIONS = (
    "allow",
    "allow_files",
    "read_timeout",
    "statement_cache",
    "max_message_size",
    "memory_limit",
    "cpu_limit",
    "password_callback",
)


class Notify:
    """A LISTEN/NOTIFY notification (psycopg2's ``Notify``): ``pid``, ``channel``,
    ``payload``; it also compares with, and unpacks like, the 2-tuple ``(pid, channel)``."""

    __slots__ = ("pid", "channel", "payload")

    def __init__(self, pid: int, channel: str, payload: str = "") -> None:
        self.pid = pid
        self.channel = channel
        self.payload = payload

    def __getitem__(self, index: int) -> Any:
        return (self.pid, self.channel)[index]

    def __len__(self) -> int:
        return 2

    def __iter__(self) -> Iterator[Any]:
        return iter((self.pid, self.channel))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Notify):
            return (self.pid, self.channel, self.payload) == (
                other.pid,
                other.channel,
                other.payload,
            )
        if isinstance(other, tuple):
            return (self.pid, self.channel) == other
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    def __hash__(self) -> int:
        return hash((self.pid, self.channel, self.payload))

    def __repr__(self) -> str:
        return "Notify(%r, %r, %r)" % (self.pid, self.channel, self.payload)


class Diagnostics:
    """The diagnostic fields of an error (psycopg2's ``Diagnostics(exc)``, ``exc.diag``)."""

    def __init__(self, exc: BaseException) -> None:
        diag = getattr(exc, "diag", None)
        self._diag = diag if isinstance(diag, Diagnostic) else Diagnostic()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._diag, name)


class Xid:
    """A two-phase commit transaction id (psycopg2's ``Xid``)."""

    def __init__(self, format_id: Optional[int], gtrid: str, bqual: Optional[str]) -> None:
        self.format_id = format_id
        self.gtrid = gtrid
        self.bqual = bqual
        self.prepared: Optional[_dt.datetime] = None
        self.owner: Optional[str] = None
        self.database: Optional[str] = None

    @classmethod
    def from_string(cls, s: str) -> Xid:
        parts = s.split("_", 2)
        if len(parts) == 3 and parts[0].isdigit():
            import base64

            try:
                gtrid = base64.b64decode(parts[1]).decode("utf-8")
                bqual = base64.b64decode(parts[2]).decode("utf-8")
                return cls(int(parts[0]), gtrid, bqual)
            except ValueError:
                pass
        return cls(None, s, None)

    def as_tid(self) -> str:
        if self.format_id is None:
            return self.gtrid
        import base64

        return "%d_%s_%s" % (
            self.format_id,
            base64.b64encode(self.gtrid.encode("utf-8")).decode("ascii"),
            base64.b64encode((self.bqual or "").encode("utf-8")).decode("ascii"),
        )

    def __getitem__(self, index: int) -> Any:
        return (self.format_id, self.gtrid, self.bqual)[index]

    def __len__(self) -> int:
        return 3

    def __str__(self) -> str:
        return self.as_tid()

    def __repr__(self) -> str:
        return "Xid(%r, %r, %r)" % (self.format_id, self.gtrid, self.bqual)


class ConnectionInfo:
    """Details about a connection (psycopg2 2.8's ``connection.info``)."""

    def __init__(self, conn: connection) -> None:
        self._conn = conn

    def _param(self, key: str) -> Optional[str]:
        return self._conn._params.get(key)

    @property
    def dbname(self) -> Optional[str]:
        return self._param("dbname") or os.environ.get("PGDATABASE") or self.user

    @property
    def user(self) -> Optional[str]:
        user = self._param("user") or os.environ.get("PGUSER")
        if user:
            return user
        if not self._conn.closed:
            auth = self._conn._w.get_parameter_status("session_authorization")
            if auth:
                return auth
        try:
            return getpass.getuser()
        except (KeyError, OSError, ImportError):
            return None

    @property
    def password(self) -> Optional[str]:
        return self._param("password") or os.environ.get("PGPASSWORD")

    @property
    def host(self) -> str:
        host = self._param("host") or self._param("hostaddr") or os.environ.get("PGHOST")
        return host or "/var/run/postgresql"

    @property
    def port(self) -> int:
        port = self._param("port") or os.environ.get("PGPORT") or "5432"
        try:
            return int(port.split(",")[0])
        except ValueError:
            return 5432

    @property
    def options(self) -> Optional[str]:
        return self._param("options") or ""

    @property
    def dsn_parameters(self) -> dict[str, str]:
        return self._conn.get_dsn_parameters()

    @property
    def status(self) -> int:
        return 1 if self._conn.closed else 0

    @property
    def transaction_status(self) -> int:
        return self._conn.get_transaction_status()

    def parameter_status(self, name: str) -> Optional[str]:
        return self._conn.get_parameter_status(name)

    @property
    def protocol_version(self) -> int:
        return 3

    @property
    def server_version(self) -> int:
        return self._conn.server_version

    @property
    def error_message(self) -> Optional[str]:
        return None

    @property
    def socket(self) -> int:
        raise NotSupportedError("wasmpg does not expose the connection's socket")

    @property
    def backend_pid(self) -> int:
        return self._conn.get_backend_pid()

    @property
    def needs_password(self) -> bool:
        return False

    @property
    def used_password(self) -> bool:
        return self.password is not None

    @property
    def ssl_in_use(self) -> bool:
        return self._param("sslmode") in ("require", "verify-ca", "verify-full")

    def ssl_attribute(self, name: str) -> Optional[str]:
        return None

    @property
    def ssl_attribute_names(self) -> list[str]:
        return []


def _parse_isolevel(value: Any) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        if not 1 <= value <= 4:
            raise ValueError("isolation_level must be between 1 and 4")
        return int(value)
    text = value.decode("ascii") if isinstance(value, bytes) else str(value)
    for level, name in _LEVEL_NAMES.items():
        if text.upper() == name:
            return level
    if text.lower() == "default":
        return None
    raise ValueError("bad value for isolation_level: '%s'" % text)


def _parse_onoff(value: Any) -> Optional[bool]:
    if value is None:
        return None
    if isinstance(value, (str, bytes)):
        text = value.decode("ascii") if isinstance(value, bytes) else value
        if text.lower() == "default":
            return None
        raise ValueError("the only string accepted is 'default'; got %r" % text)
    return bool(value)


_UNCHANGED: Any = object()


class connection:
    """psycopg2's connection (``psycopg2.extensions.connection``; subclassable, a
    ``connection_factory``): ``connection(dsn)`` opens it with `wasmpg.connect`.

    As psycopg2: not in autocommit mode, ``BEGIN`` (with the characteristics ``set_session``
    chose) precedes the first statement of a transaction; ``with conn:`` wraps a transaction
    (in autocommit mode too) and leaves the connection open."""

    Warning = errors.Warning
    Error = errors.Error
    InterfaceError = errors.InterfaceError
    DatabaseError = errors.DatabaseError
    DataError = errors.DataError
    OperationalError = errors.OperationalError
    IntegrityError = errors.IntegrityError
    InternalError = errors.InternalError
    ProgrammingError = errors.ProgrammingError
    NotSupportedError = errors.NotSupportedError

    def __init__(self, dsn: str, async_: int = 0, **options: Any) -> None:
        if async_ or options.pop("async", 0):
            raise NotSupportedError("asynchronous connections are not supported by wasmpg")
        self.dsn_raw = dsn
        self._params = parse_dsn(dsn)
        self._closed_by_user = False
        self._autocommit = False
        self._isolevel: Optional[int] = None
        self._readonly: Optional[bool] = None
        self._deferrable: Optional[bool] = None
        self._entered = False
        self._tpc_xid: Optional[Xid] = None
        self.cursor_factory: Any = cursor
        self.string_types: dict[int, Any] = _typecast.Casters()
        self.binary_types: dict[int, Any] = {}
        # The column plans of this connection's results, by result shape (_typecast.plan_for).
        self._plans: dict[Any, Any] = {}
        self._notices_target: Any = None
        self._notifies: Any = []
        self._w: _WConnection = wasmpg.connect(dsn, autocommit=True, **options)
        # psycopg2 returns inet and cidr (and their arrays) as the server's text: this
        # connection's loaders keep them as text (wasmpg's own are ipaddress objects).
        for oid in (oids.INET, oids.CIDR, oids.INET_ARRAY, oids.CIDR_ARRAY):
            self._w.adapters.register_loader(oid, None)
        self._w.add_notice_handler(self._on_notice)
        self._codec = "utf-8"
        self._equote = False
        self._after_connect()

    def _after_connect(self) -> None:
        std = self._w.get_parameter_status("standard_conforming_strings")
        self._equote = std == "off"
        _adapt.set_static_std_strings(std == "on")
        enc = self._w.get_parameter_status("client_encoding") or "UTF8"
        self._codec = python_encoding(enc)

    # -- state --

    @property
    def closed(self) -> int:
        """0 open, 1 closed by ``close()``, 2 lost (psycopg2's values)."""
        if self._closed_by_user:
            return 1
        return 2 if self._w.closed else 0

    @property
    def dsn(self) -> str:
        return obscure(self.dsn_raw)

    @property
    def info(self) -> ConnectionInfo:
        return ConnectionInfo(self)

    @property
    def encoding(self) -> str:
        return (self._w.get_parameter_status("client_encoding") or "UTF8").upper()

    @property
    def server_version(self) -> int:
        return self._w.server_version

    @property
    def protocol_version(self) -> int:
        return 3

    @property
    def status(self) -> int:
        if self._tpc_xid is not None and self._tpc_xid.prepared is not None:
            return STATUS_PREPARED
        if self.closed:
            return STATUS_READY
        return STATUS_READY if self._w.transaction_status == "idle" else STATUS_BEGIN

    @property
    def async_(self) -> int:
        return 0

    @property
    def pgconn_ptr(self) -> None:
        return None

    def isexecuting(self) -> bool:
        return False

    def get_backend_pid(self) -> int:
        self._check()
        return self._w.backend_pid or 0

    def get_parameter_status(self, parameter: str) -> Optional[str]:
        self._check()
        return self._w.get_parameter_status(parameter)

    def get_transaction_status(self) -> int:
        if self.closed:
            return TRANSACTION_STATUS_UNKNOWN
        return _TX_STATUS.get(self._w.transaction_status, TRANSACTION_STATUS_UNKNOWN)

    def get_dsn_parameters(self) -> dict[str, str]:
        self._check()
        params = {k: v for k, v in self._params.items() if k != "password"}
        info = self.info
        params.setdefault("user", info.user or "")
        params.setdefault("dbname", info.dbname or "")
        params.setdefault("host", info.host)
        params.setdefault("port", str(info.port))
        return params

    def _check(self) -> None:
        if self.closed:
            raise InterfaceError("connection already closed")

    # -- notices and notifications --

    def _on_notice(self, diag: Diagnostic) -> None:
        target = self._notices_target
        if target is not None:
            lines = ["%s:  %s" % (diag.severity or "NOTICE", diag.message_primary or "")]
            if diag.message_detail:
                lines.append("DETAIL:  " + diag.message_detail)
            if diag.message_hint:
                lines.append("HINT:  " + diag.message_hint)
            target.append("\n".join(lines) + "\n")

    @property
    def notices(self) -> Any:
        """The server's notices, as psycopg2 formats them (the last 50 unless replaced by
        another container, e.g. a ``deque``)."""
        if self._notices_target is not None:
            return self._notices_target
        return self._w.notices

    @notices.setter
    def notices(self, value: Any) -> None:
        self._notices_target = value

    def _drain_notifies(self) -> None:
        queued = self._w.notifies
        while queued:
            pid, channel, payload = queued.pop(0)
            self._notifies.append(Notify(pid, channel, payload))

    @property
    def notifies(self) -> Any:
        """The notifications received, as `Notify` objects (a list unless replaced)."""
        if not self._w.closed:
            self._drain_notifies()
        return self._notifies

    @notifies.setter
    def notifies(self, value: Any) -> None:
        self._notifies = value

    def poll(self) -> int:
        """Reads the notifications the server sent meanwhile (sync connections have nothing
        else to poll); returns ``POLL_OK``."""
        self._check()
        if self._w.transaction_status == "idle":
            for n in self._w.notifications(timeout=0.001):
                self._notifies.append(Notify(n.pid, n.channel, n.payload))
        self._drain_notifies()
        return 0

    def fileno(self) -> int:
        raise NotSupportedError(
            "wasmpg does not expose the connection's socket: use poll() to read notifications"
        )

    # -- transactions --

    def _begin_sql(self) -> str:
        sql = "BEGIN"
        if self._isolevel is not None:
            sql += " ISOLATION LEVEL " + _LEVEL_NAMES[self._isolevel]
        if self._readonly is not None:
            sql += " READ ONLY" if self._readonly else " READ WRITE"
        if self._deferrable is not None:
            sql += " DEFERRABLE" if self._deferrable else " NOT DEFERRABLE"
        return sql

    def _begin_if_needed(self) -> None:
        """Before a statement: BEGIN when a transaction must start (psycopg2's pq_begin)."""
        if (not self._autocommit or self._entered) and self._w.transaction_status == "idle":
            self._w.execute(self._begin_sql())

    def _after_statement(self) -> None:
        if self._w.notifies:
            self._drain_notifies()

    def commit(self) -> None:
        """Commits the transaction (a failed one is rolled back by the server)."""
        self._check()
        if self._tpc_xid is not None:
            raise ProgrammingError("commit cannot be used during a two-phase transaction")
        self._w.commit()
        self._after_statement()

    def rollback(self) -> None:
        self._check()
        if self._tpc_xid is not None:
            raise ProgrammingError("rollback cannot be used during a two-phase transaction")
        self._w.rollback()
        self._after_statement()

    def _in_transaction_check(self, what: str) -> None:
        self._check()
        if self._w.transaction_status != "idle":
            raise ProgrammingError("%s cannot be used inside a transaction" % what)

    @property
    def autocommit(self) -> bool:
        return self._autocommit

    @autocommit.setter
    def autocommit(self, value: bool) -> None:
        self._in_transaction_check("set_session")
        self._set_session(bool(value), _UNCHANGED, _UNCHANGED, _UNCHANGED)

    @property
    def isolation_level(self) -> Optional[int]:
        return self._isolevel

    @isolation_level.setter
    def isolation_level(self, value: Any) -> None:
        self._in_transaction_check("set_session")
        self._set_session(_UNCHANGED, _parse_isolevel(value), _UNCHANGED, _UNCHANGED)

    @property
    def readonly(self) -> Optional[bool]:
        return self._readonly

    @readonly.setter
    def readonly(self, value: Any) -> None:
        self._in_transaction_check("set_session")
        self._set_session(_UNCHANGED, _UNCHANGED, _parse_onoff(value), _UNCHANGED)

    @property
    def deferrable(self) -> Optional[bool]:
        return self._deferrable

    @deferrable.setter
    def deferrable(self, value: Any) -> None:
        self._in_transaction_check("set_session")
        self._set_session(_UNCHANGED, _UNCHANGED, _UNCHANGED, _parse_onoff(value))

    def set_session(
        self,
        isolation_level: Any = None,
        readonly: Any = None,
        deferrable: Any = None,
        autocommit: Any = None,
    ) -> None:
        """Sets the characteristics of the next transactions (None: unchanged)."""
        self._in_transaction_check("set_session")
        self._set_session(
            _UNCHANGED if autocommit is None else bool(autocommit),
            _UNCHANGED if isolation_level is None else _parse_isolevel(isolation_level),
            _UNCHANGED if readonly is None else _parse_onoff(readonly),
            _UNCHANGED if deferrable is None else _parse_onoff(deferrable),
        )

    def _set_guc(self, name: str, value: Optional[str]) -> None:
        if value is None:
            self._w.execute("SET %s TO DEFAULT" % name)
        else:
            self._w.execute("SET %s TO '%s'" % (name, value))

    def _set_session(self, autocommit: Any, isolevel: Any, readonly: Any, deferrable: Any) -> None:
        """psycopg2's conn_set_session: in autocommit mode the characteristics become the
        session's defaults; leaving autocommit mode resets those defaults (BEGIN carries
        them)."""
        want_autocommit = self._autocommit if autocommit is _UNCHANGED else autocommit
        if want_autocommit:
            if isolevel is not _UNCHANGED:
                self._set_guc(
                    "default_transaction_isolation",
                    None if isolevel is None else _LEVEL_NAMES[isolevel].lower(),
                )
            if readonly is not _UNCHANGED:
                self._set_guc(
                    "default_transaction_read_only",
                    None if readonly is None else ("on" if readonly else "off"),
                )
            if deferrable is not _UNCHANGED:
                self._set_guc(
                    "default_transaction_deferrable",
                    None if deferrable is None else ("on" if deferrable else "off"),
                )
        elif self._autocommit:
            if self._isolevel is not None:
                self._set_guc("default_transaction_isolation", None)
            if self._readonly is not None:
                self._set_guc("default_transaction_read_only", None)
            if self._deferrable is not None:
                self._set_guc("default_transaction_deferrable", None)
        if autocommit is not _UNCHANGED:
            self._autocommit = bool(autocommit)
        if isolevel is not _UNCHANGED:
            self._isolevel = isolevel
        if readonly is not _UNCHANGED:
            self._readonly = readonly
        if deferrable is not _UNCHANGED:
            self._deferrable = deferrable

    def set_isolation_level(self, level: Optional[int]) -> None:
        """psycopg2's older API: rolls back, then ISOLATION_LEVEL_AUTOCOMMIT (0) turns
        autocommit on and the other levels (None: the server's default) turn it off."""
        self._check()
        if level is not None and (not isinstance(level, int) or not 0 <= level <= 4):
            raise ValueError("isolation level must be between 0 and 4")
        self.rollback()
        if level == 0:
            self._set_session(True, _UNCHANGED, _UNCHANGED, _UNCHANGED)
        else:
            self._set_session(False, level, _UNCHANGED, _UNCHANGED)

    def set_client_encoding(self, encoding: str) -> None:
        """Only UTF-8 is supported by wasmpg (``UTF8``, ``UNICODE``, ``utf-8``...)."""
        self._check()
        codec = python_encoding(encoding)
        if codec.replace("-", "_").lower() not in ("utf_8", "utf8"):
            raise NotSupportedError("wasmpg supports only the UTF8 client encoding")
        self._in_transaction_check("set_client_encoding")
        self._w.execute("SET client_encoding TO 'UTF8'")

    def reset(self) -> None:
        """Rolls back and resets the session (``RESET ALL``) and its characteristics."""
        self._check()
        if self._w.transaction_status != "idle":
            self._w.rollback()
        self._tpc_xid = None
        self._w.execute("RESET ALL")
        self._w.execute("SET SESSION AUTHORIZATION DEFAULT")
        self._autocommit = False
        self._isolevel = self._readonly = self._deferrable = None

    # -- two-phase commit --

    def xid(self, format_id: int, gtrid: str, bqual: str) -> Xid:
        return Xid(format_id, gtrid, bqual)

    def tpc_begin(self, xid: Any) -> None:
        self._check()
        if self._w.transaction_status != "idle" or self._tpc_xid is not None:
            raise ProgrammingError("tpc_begin must be called outside a transaction")
        if self._autocommit:
            raise ProgrammingError("tpc_begin can't be called in autocommit mode")
        self._tpc_xid = xid if isinstance(xid, Xid) else Xid.from_string(str(xid))

    def tpc_prepare(self) -> None:
        self._check()
        xid = self._tpc_xid
        if xid is None:
            raise ProgrammingError("tpc_prepare() outside a TPC transaction")
        self._begin_if_needed()
        self._w.execute("PREPARE TRANSACTION %s" % _adapt.quote_param(xid.as_tid(), self))
        xid.prepared = _dt.datetime.now()

    def _tpc_finish(self, xid: Any, command: str) -> None:
        self._check()
        if xid is None:
            current = self._tpc_xid
            if current is None:
                raise ProgrammingError("tpc_%s() outside a TPC transaction" % command.lower())
            if current.prepared is None:
                if command == "COMMIT":
                    self._w.commit()
                else:
                    self._w.rollback()
            else:
                self._w.execute(
                    "%s PREPARED %s" % (command, _adapt.quote_param(current.as_tid(), self))
                )
            self._tpc_xid = None
            return
        tid = xid.as_tid() if isinstance(xid, Xid) else str(xid)
        self._w.execute("%s PREPARED %s" % (command, _adapt.quote_param(tid, self)))

    def tpc_commit(self, xid: Any = None) -> None:
        self._tpc_finish(xid, "COMMIT")

    def tpc_rollback(self, xid: Any = None) -> None:
        self._tpc_finish(xid, "ROLLBACK")

    def tpc_recover(self) -> list[Xid]:
        self._check()
        cur = self._w.execute(
            "SELECT gid, prepared, owner, database FROM pg_catalog.pg_prepared_xacts"
        )
        out = []
        for gid, prepared, owner, database in cur.fetchall():
            xid = Xid.from_string(gid)
            xid.prepared, xid.owner, xid.database = prepared, owner, database
            out.append(xid)
        return out

    def lobject(self, *args: Any, **kwargs: Any) -> Any:
        raise NotSupportedError("large objects are not supported by wasmpg's psycopg2 layer")

    # -- cursors and lifecycle --

    def cursor(
        self,
        name: Optional[str] = None,
        cursor_factory: Optional[Callable[..., Any]] = None,
        scrollable: Optional[bool] = None,
        withhold: bool = False,
    ) -> Any:
        """A new cursor; with ``name`` a server-side (named) cursor."""
        self._check()
        factory: Callable[..., Any] = cursor_factory or self.cursor_factory
        cur = factory(self, name)
        if name is not None:
            cur.scrollable = scrollable
            cur.withhold = withhold
        elif withhold or scrollable is not None:
            raise ProgrammingError("scrollable and withhold are only for named cursors")
        return cur

    def cancel(self) -> None:
        """Asks the server to cancel the running statement (from another thread)."""
        self._check()
        self._w.cancel()

    def close(self) -> None:
        """Closes the connection (an open transaction is rolled back by the server)."""
        self._closed_by_user = True
        self._w.close()

    def __enter__(self) -> Any:
        """Starts a transaction block (psycopg2 2.9: in autocommit mode too)."""
        self._check()
        if self._entered:
            raise ProgrammingError("the connection cannot be re-entered recursively")
        self._entered = True
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            if not self.closed:
                if exc_type is None:
                    self.commit()
                else:
                    self.rollback()
        finally:
            self._entered = False

    def __repr__(self) -> str:
        return "<connection object at 0x%x; dsn: '%s', closed: %d>" % (
            id(self),
            self.dsn,
            self.closed,
        )


def connect(
    dsn: Optional[str] = None,
    connection_factory: Optional[Callable[..., Any]] = None,
    cursor_factory: Optional[Callable[..., Any]] = None,
    **kwargs: Any,
) -> Any:
    """psycopg2's ``connect()``: a connection from a DSN and/or keywords (put in the
    connection string; wasmpg's own options such as ``allow`` or ``cpu_limit`` go to
    `wasmpg.connect`). ``connection_factory``: the connection class; ``cursor_factory``: the
    connection's default cursor class."""
    if kwargs.pop("async", False) or kwargs.pop("async_", False):
        raise NotSupportedError("asynchronous connections are not supported by wasmpg")
    options = {k: kwargs.pop(k) for k in WASMPG_OPTIONS if k in kwargs}
    full = make_dsn(dsn, **kwargs)
    factory = connection_factory or connection
    conn = factory(full, **options) if options else factory(full)
    if cursor_factory is not None:
        conn.cursor_factory = cursor_factory
    return conn
