"""The PEP 249 exception hierarchy, and the mapping from server and client errors onto it.

The class of a server error is chosen by its SQLSTATE class, as psycopg does:

==========  =====================================================
class       exception
==========  =====================================================
``08``      OperationalError (connection exception)
``22``      DataError
``23``      IntegrityError
``25``      InternalError (invalid transaction state, e.g. 25P02)
``28``      OperationalError (invalid authorization)
``40``      TransactionRollbackError (an OperationalError)
``42``      ProgrammingError
``53``      OperationalError (insufficient resources)
``57``      OperationalError (operator intervention)
``0A``      NotSupportedError
``XX``      InternalError
others      DatabaseError
==========  =====================================================

Errors found by the client have a *kind* (the error kinds of ``docs/abi.md``):
``policy-denied``, ``connection-refused``, ``host-not-found``, ``io``, ``timeout``, ``closed``,
``trap``, ``protocol``, ``message-too-large``, ``authentication`` and ``tls`` (TLS refused by
the server, a failed handshake, a refused certificate) become OperationalError;
``config`` ProgrammingError; ``encode`` and ``decode`` DataError; ``usage`` InterfaceError.

Every exception has ``sqlstate`` (alias ``pgcode``; None for client-side errors), ``pgerror``
(the full message), ``kind`` (the error kind) and ``diag`` (every field the server sent).
"""

from __future__ import annotations

from typing import Any, ClassVar, Optional

__all__ = [
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
]


class Diagnostic:
    """Every field of a server ErrorResponse or NoticeResponse (all None for client errors).

    Attribute names follow psycopg's ``Diagnostic``.
    """

    __slots__ = (
        "severity",
        "severity_nonlocalized",
        "sqlstate",
        "message_primary",
        "message_detail",
        "message_hint",
        "statement_position",
        "internal_position",
        "internal_query",
        "context",
        "schema_name",
        "table_name",
        "column_name",
        "datatype_name",
        "constraint_name",
        "source_file",
        "source_line",
        "source_function",
    )

    severity: Optional[str]
    severity_nonlocalized: Optional[str]
    sqlstate: Optional[str]
    message_primary: Optional[str]
    message_detail: Optional[str]
    message_hint: Optional[str]
    statement_position: Optional[int]
    internal_position: Optional[int]
    internal_query: Optional[str]
    context: Optional[str]
    schema_name: Optional[str]
    table_name: Optional[str]
    column_name: Optional[str]
    datatype_name: Optional[str]
    constraint_name: Optional[str]
    source_file: Optional[str]
    source_line: Optional[int]
    source_function: Optional[str]

    # server field (by the names `_abi.DB_FIELD_NAMES` gives the protocol codes) -> attribute
    _FROM_WIT: ClassVar[dict[str, str]] = {
        "severity": "severity",
        "severity_nonlocalized": "severity_nonlocalized",
        "code": "sqlstate",
        "message": "message_primary",
        "detail": "message_detail",
        "hint": "message_hint",
        "position": "statement_position",
        "internal_position": "internal_position",
        "internal_query": "internal_query",
        "where": "context",
        "schema": "schema_name",
        "table": "table_name",
        "column": "column_name",
        "datatype": "datatype_name",
        "constraint": "constraint_name",
        "file": "source_file",
        "line": "source_line",
        "routine": "source_function",
    }

    def __init__(self, fields: Optional[dict[str, Any]] = None) -> None:
        for name in self.__slots__:
            setattr(self, name, None)
        if fields:
            for key, value in fields.items():
                attr = self._FROM_WIT.get(key)
                if attr is not None:
                    setattr(self, attr, value)

    def as_dict(self) -> dict[str, Any]:
        """The fields that are set."""
        return {n: getattr(self, n) for n in self.__slots__ if getattr(self, n) is not None}

    def __repr__(self) -> str:
        return "Diagnostic(%s)" % ", ".join("%s=%r" % kv for kv in self.as_dict().items())


class Warning(Exception):  # noqa: A001 - the name PEP 249 requires
    """Important warnings (PEP 249). Not raised by this driver: notices go to
    ``Connection.notices``."""


class Error(Exception):
    """Base class of every error this driver raises (PEP 249)."""

    def __init__(
        self,
        message: str = "",
        *,
        diag: Optional[Diagnostic] = None,
        kind: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.diag = diag if diag is not None else Diagnostic()
        self.kind = kind
        self.pgerror = message or None

    @property
    def sqlstate(self) -> Optional[str]:
        """The SQLSTATE code of a server error, None for errors found by the client."""
        return self.diag.sqlstate

    @property
    def pgcode(self) -> Optional[str]:
        """Alias of ``sqlstate`` (psycopg2's name)."""
        return self.diag.sqlstate


class InterfaceError(Error):
    """An error of the driver itself rather than of the database (PEP 249)."""


class DatabaseError(Error):
    """An error related to the database (PEP 249)."""


class DataError(DatabaseError):
    """Problems with the processed data: division by zero, value out of range (PEP 249)."""


class OperationalError(DatabaseError):
    """The database's operation failed: connection lost, refused, denied by policy (PEP 249)."""


class IntegrityError(DatabaseError):
    """Relational integrity violated: unique, foreign key, check, not-null (PEP 249)."""


class InternalError(DatabaseError):
    """The database hit an internal error or the transaction is out of sync (PEP 249)."""


class ProgrammingError(DatabaseError):
    """Table not found, syntax error, wrong number of parameters (PEP 249)."""


class NotSupportedError(DatabaseError):
    """A method or database API the database does not support (PEP 249)."""


class TransactionRollbackError(OperationalError):
    """SQLSTATE class 40: serialization failure, deadlock; retrying may succeed."""


class QueryCanceledError(OperationalError):
    """SQLSTATE 57014: the statement was canceled (statement_timeout, pg_cancel_backend)."""


_BY_CLASS = {
    "08": OperationalError,
    "22": DataError,
    "23": IntegrityError,
    "25": InternalError,
    "28": OperationalError,
    "40": TransactionRollbackError,
    "42": ProgrammingError,
    "53": OperationalError,
    "57": OperationalError,
    "0A": NotSupportedError,
    "XX": InternalError,
}

_BY_KIND = {
    "config": ProgrammingError,
    "authentication": OperationalError,
    "protocol": OperationalError,
    "message-too-large": OperationalError,
    "encode": DataError,
    "decode": DataError,
    "usage": InterfaceError,
    "closed": OperationalError,
    "tls": OperationalError,
    "connection-refused": OperationalError,
    "host-not-found": OperationalError,
    "policy-denied": OperationalError,
    "io": OperationalError,
    "timeout": OperationalError,
    "trap": OperationalError,
}


def class_for_sqlstate(sqlstate: Optional[str]) -> type[Error]:
    """The exception class for a SQLSTATE code."""
    if not sqlstate:
        return DatabaseError
    if sqlstate == "57014":
        return QueryCanceledError
    return _BY_CLASS.get(sqlstate[:2], DatabaseError)


def _format_db(db: dict[str, Any]) -> str:
    lines = [db.get("message") or ""]
    if db.get("detail"):
        lines.append("DETAIL:  " + db["detail"])
    if db.get("hint"):
        lines.append("HINT:  " + db["hint"])
    return "\n".join(lines)


def from_guest(kind: str, message: str, db: Optional[dict[str, Any]]) -> Error:
    """The exception for an ``error`` record of the guest: (kind, message, db fields)."""
    if db is not None:
        cls = class_for_sqlstate(db.get("code"))
        if kind not in ("db",) and cls is DatabaseError:
            cls = _BY_KIND.get(kind, DatabaseError)
        return cls(_format_db(db), diag=Diagnostic(db), kind=kind)
    cls = _BY_KIND.get(kind, OperationalError)
    return cls(message, kind=kind)


def format_notice(db: dict[str, Any]) -> str:
    """A notice as psycopg2 shows it in ``connection.notices``: ``"NOTICE:  text\\n"``."""
    return "%s:  %s\n" % (db.get("severity") or "NOTICE", _format_db(db))
