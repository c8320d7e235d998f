"""psycopg2's ``sql`` module: composing SQL from parts, with identifiers and literals quoted
for a connection (``SQL``, ``Identifier``, ``Literal``, ``Placeholder``, ``Composed``,
``as_string(conn)``); cursors execute a composed query directly."""

from __future__ import annotations

import string
from collections.abc import Iterator, Sequence
from typing import Any, Optional

from ._adapt import getquoted
from ._dsn import quote_ident

__all__ = [
    "Composable",
    "Composed",
    "SQL",
    "Identifier",
    "Literal",
    "Placeholder",
    "NULL",
    "DEFAULT",
]

_formatter = string.Formatter()


def _codec(context: Any) -> str:
    conn = getattr(context, "connection", context)
    codec = getattr(conn, "_codec", None)
    return codec if isinstance(codec, str) else "utf-8"


class Composable:
    """The base of the objects that compose a query; ``as_string(context)`` renders one for a
    connection or cursor."""

    def __init__(self, wrapped: Any) -> None:
        self._wrapped = wrapped

    def __repr__(self) -> str:
        return "%s(%r)" % (type(self).__name__, self._wrapped)

    def as_string(self, context: Any) -> str:
        raise NotImplementedError

    def __add__(self, other: Any) -> Composed:
        if isinstance(other, Composed):
            return Composed([self]) + other
        if isinstance(other, Composable):
            return Composed([self]) + Composed([other])
        return NotImplemented

    def __mul__(self, n: int) -> Composed:
        return Composed([self] * n)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Composable)
            and type(self) is type(other)
            and (self._wrapped == other._wrapped)
        )

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = None  # type: ignore[assignment]


class Composed(Composable):
    """A sequence of Composables, rendered one after the other."""

    def __init__(self, seq: Sequence[Any]) -> None:
        wrapped = []
        for item in seq:
            if not isinstance(item, Composable):
                raise TypeError("Composed elements must be Composable, got %r instead" % item)
            wrapped.append(item)
        super().__init__(wrapped)

    @property
    def seq(self) -> list[Composable]:
        return list(self._wrapped)

    def as_string(self, context: Any) -> str:
        return "".join(item.as_string(context) for item in self._wrapped)

    def __iter__(self) -> Iterator[Composable]:
        return iter(self._wrapped)

    def __add__(self, other: Any) -> Composed:
        if isinstance(other, Composed):
            return Composed(self._wrapped + other._wrapped)
        if isinstance(other, Composable):
            return Composed([*self._wrapped, other])
        return NotImplemented

    def join(self, joiner: Any) -> Composed:
        if isinstance(joiner, str):
            joiner = SQL(joiner)
        elif not isinstance(joiner, SQL):
            raise TypeError("Composed.join() argument must be a string or an SQL")
        joined: Composed = joiner.join(self)
        return joined


class SQL(Composable):
    """A snippet of SQL, rendered verbatim; ``format()`` fills its ``{}`` placeholders with
    Composables."""

    def __init__(self, string: str) -> None:
        if not isinstance(string, str):
            raise TypeError("SQL values must be strings")
        super().__init__(string)

    @property
    def string(self) -> str:
        return str(self._wrapped)

    def as_string(self, context: Any) -> str:
        return str(self._wrapped)

    def format(self, *args: Any, **kwargs: Any) -> Composed:
        """The snippet with ``{}``, ``{0}`` and ``{name}`` replaced by the arguments (each a
        Composable); ``{{`` and ``}}`` are braces."""
        rv: list[Composable] = []
        autonum: Optional[int] = 0
        for pre, name, spec, conv in _formatter.parse(self._wrapped):
            if spec:
                raise ValueError("no format specification supported by SQL")
            if conv:
                raise ValueError("no format conversion supported by SQL")
            if pre:
                rv.append(SQL(pre))
            if name is None:
                continue
            if name.isdigit():
                if autonum:
                    raise ValueError("cannot switch from automatic field numbering to manual")
                rv.append(args[int(name)])
                autonum = None
            elif not name:
                if autonum is None:
                    raise ValueError("cannot switch from manual field numbering to automatic")
                rv.append(args[autonum])
                autonum += 1
            else:
                rv.append(kwargs[name])
        return Composed(rv)

    def join(self, seq: Any) -> Composed:
        """The Composables of ``seq`` with this snippet between them."""
        rv: list[Composable] = []
        it = iter(seq)
        try:
            rv.append(next(it))
        except StopIteration:
            pass
        else:
            for item in it:
                rv.append(self)
                rv.append(item)
        return Composed(rv)


class Identifier(Composable):
    """An identifier (or a dotted sequence of them), double-quoted."""

    def __init__(self, *strings: str) -> None:
        if not strings:
            raise TypeError("Identifier cannot be empty")
        for s in strings:
            if not isinstance(s, str):
                raise TypeError("SQL identifier parts must be strings")
        super().__init__(strings)

    @property
    def strings(self) -> tuple[str, ...]:
        return tuple(self._wrapped)

    @property
    def string(self) -> str:
        if len(self._wrapped) == 1:
            return str(self._wrapped[0])
        raise AttributeError("the Identifier wraps more than one than one string")

    def __repr__(self) -> str:
        return "%s(%s)" % (type(self).__name__, ", ".join(map(repr, self._wrapped)))

    def as_string(self, context: Any) -> str:
        return ".".join(quote_ident(s, context) for s in self._wrapped)


class Literal(Composable):
    """A value, quoted as a query parameter would be."""

    @property
    def wrapped(self) -> Any:
        return self._wrapped

    def as_string(self, context: Any) -> str:
        conn = getattr(context, "connection", context)
        if not hasattr(conn, "_w"):
            raise TypeError("context must be a connection or a cursor")
        if self._wrapped is None:
            return "NULL"
        return getquoted(self._wrapped, conn).decode(_codec(conn))


class Placeholder(Composable):
    """A ``%s`` or ``%(name)s`` placeholder."""

    def __init__(self, name: Optional[str] = None) -> None:
        if isinstance(name, str):
            if ")" in name:
                raise ValueError("invalid name: %r" % name)
        elif name is not None:
            raise TypeError("expected string or None as name, got %r" % name)
        super().__init__(name)

    @property
    def name(self) -> Optional[str]:
        return self._wrapped  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        if self._wrapped is None:
            return "%s()" % type(self).__name__
        return "%s(%r)" % (type(self).__name__, self._wrapped)

    def as_string(self, context: Any) -> str:
        if self._wrapped is not None:
            return "%%(%s)s" % self._wrapped
        return "%s"


NULL = SQL("NULL")
DEFAULT = SQL("DEFAULT")
