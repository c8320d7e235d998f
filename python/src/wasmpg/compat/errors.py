"""psycopg2's ``errors`` module: the exception class of every SQLSTATE (``UniqueViolation``,
``SerializationFailure``...) and the PEP 249 bases, which are wasmpg's own classes (the
exceptions wasmpg raises are instances of these), and ``lookup(code)``."""

from __future__ import annotations

from typing import Any

from .. import errors as _errors
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
    QueryCanceledError,
    TransactionRollbackError,
    Warning,
)

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
    "QueryCanceledError",
    "TransactionRollbackError",
    "lookup",
]

# The per-SQLSTATE classes, by their names (psycopg2's names, which wasmpg shares).
globals().update({name: getattr(_errors, name) for name in _errors.SQLSTATE_CLASSES})
__all__ += list(_errors.SQLSTATE_CLASSES)


def lookup(code: str) -> Any:
    """The exception class of a SQLSTATE code (``"23505"``); KeyError if there is none."""
    cls = _errors.lookup(code)
    if code.upper() != code or len(code) != 5:
        # psycopg2 looks up codes only, not the constant names wasmpg also accepts.
        raise KeyError(code)
    return cls
