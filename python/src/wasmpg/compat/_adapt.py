"""psycopg2's adaptation of Python values to SQL literals: the adapter registry and ``adapt()``,
the built-in adapters (``QuotedString``, ``Binary``, ``AsIs``, numbers, dates, lists, tuples)
and psycopg2's quoting rules, including its fast paths for the common types.

An adapter is any object with ``getquoted() -> bytes`` (and optionally ``prepare(conn)``);
``register_adapter(cls, factory)`` maps a class to a factory, as in psycopg2. The rules follow
psycopg2 2.9: negative numbers get a leading space, non-finite floats and decimals are quoted
with a cast, strings are single-quoted (backslashes doubled and an ``E`` prefix only where
``standard_conforming_strings`` is off), bytes are ``'\\x...'::bytea``, dates and times are
ISO literals with a cast, lists are ``ARRAY[...]`` (``'{}'`` when empty), tuples ``(a, b)``.
"""

from __future__ import annotations

import datetime as _dt
import math
from decimal import Decimal
from typing import Any, Callable, Optional

from ..errors import ProgrammingError

__all__ = [
    "ISQLQuote",
    "adapters",
    "adapt",
    "register_adapter",
    "getquoted",
    "quote_param",
    "AsIs",
    "QuotedString",
    "Binary",
    "Boolean",
    "Int",
    "Float",
    "DecimalAdapter",
    "DateFromPy",
    "TimeFromPy",
    "TimestampFromPy",
    "IntervalFromPy",
    "List",
    "SQL_IN",
    "NoneAdapter",
]


class ISQLQuote:
    """The adaptation protocol (psycopg2's ``ISQLQuote``): ``adapt(obj, ISQLQuote)``."""

    def __init__(self, wrapped: Any) -> None:
        self._wrapped = wrapped

    def getquoted(self) -> bytes:
        raise NotImplementedError

    def getbinary(self) -> bytes:
        raise NotImplementedError

    def getbuffer(self) -> bytes:
        raise NotImplementedError


class _Adapters(dict[tuple[type, type], Callable[[Any], Any]]):
    """psycopg2's adapter registry: a dict that forgets `quote_param`'s per-class choices of
    fast path whenever it changes."""

    __slots__ = ()

    def __setitem__(self, key: Any, value: Any) -> None:
        _fast_now.clear()
        super().__setitem__(key, value)

    def __delitem__(self, key: Any) -> None:
        _fast_now.clear()
        super().__delitem__(key)

    def __ior__(self, other: Any) -> Any:  # type: ignore[misc]
        _fast_now.clear()
        return super().__ior__(other)

    def clear(self) -> None:
        _fast_now.clear()
        super().clear()

    def pop(self, *args: Any) -> Any:
        _fast_now.clear()
        return super().pop(*args)

    def popitem(self) -> Any:
        _fast_now.clear()
        return super().popitem()

    def setdefault(self, *args: Any) -> Any:
        _fast_now.clear()
        return super().setdefault(*args)

    def update(self, *args: Any, **kwargs: Any) -> None:
        _fast_now.clear()
        super().update(*args, **kwargs)


#: class -> the fast quoting function of `quote_param` (None: none applies), as the adapters
#: registered now decide; emptied by every change of `adapters`.
_fast_now: dict[type, Optional[Callable[[Any, Any], str]]] = {}

#: (class, protocol) -> adapter factory, psycopg2's ``extensions.adapters``.
adapters: dict[tuple[type, type], Callable[[Any], Any]] = _Adapters()

# libpq's static "standard_conforming_strings" seen by PQescapeString (quoting without a
# connection): False until a connection reports the setting, then the last one's value.
_static_std_strings = [False]


def set_static_std_strings(on: bool) -> None:
    _static_std_strings[0] = on


def register_adapter(typ: type, callable: Callable[[Any], Any]) -> None:
    """Adapts instances of ``typ`` with ``callable(obj)`` (an object with ``getquoted()``)."""
    adapters[(typ, ISQLQuote)] = callable


def adapt(obj: Any, proto: Any = ISQLQuote, alt: Any = None) -> Any:
    """The adapter of ``obj``: the registered factory for its exact class, else
    ``proto.__adapt__``, ``obj.__conform__(proto)``, then the nearest registered base class;
    ProgrammingError ``can't adapt type`` otherwise (psycopg2's ``microprotocols_adapt``)."""
    factory = adapters.get((type(obj), proto))
    if factory is not None:
        return factory(obj)
    meth = getattr(proto, "__adapt__", None)
    if meth is not None:
        try:
            adapted = meth(obj)
        except TypeError:
            adapted = None
        if adapted is not None:
            return adapted
    conform = getattr(obj, "__conform__", None)
    if conform is not None:
        try:
            adapted = conform(proto)
        except TypeError:
            adapted = None
        if adapted is not None:
            return adapted
    for base in type(obj).__mro__[1:]:
        factory = adapters.get((base, proto))
        if factory is not None:
            return factory(obj)
    if alt is not None:
        return alt
    raise ProgrammingError("can't adapt type '%s'" % type(obj).__name__)


def _conn_encoding(conn: Any) -> str:
    codec = getattr(conn, "_codec", None)
    return codec if isinstance(codec, str) else "utf-8"


def getquoted(obj: Any, conn: Any = None) -> bytes:
    """``obj`` adapted, prepared for ``conn`` (when given) and quoted: bytes."""
    adapted = adapt(obj)
    if conn is not None:
        prepare = getattr(adapted, "prepare", None)
        if prepare is not None:
            prepare(conn)
    quoted = adapted.getquoted()
    if isinstance(quoted, str):
        quoted = quoted.encode(_conn_encoding(conn))
    if not isinstance(quoted, bytes):
        quoted = bytes(quoted)
    return quoted


class _Adapter:
    """The shared shape of the built-in adapters: ``adapted``, ``__conform__``, ``str()``."""

    def __init__(self, adapted: Any) -> None:
        self.adapted = adapted

    def __conform__(self, proto: Any) -> Any:
        return self if proto is ISQLQuote else None

    def getquoted(self) -> bytes:
        raise NotImplementedError

    def __str__(self) -> str:
        return self.getquoted().decode("utf-8", "replace")

    def __repr__(self) -> str:
        return "<psycopg2.extensions.%s object at 0x%x>" % (type(self).__name__, id(self))


class AsIs(_Adapter):
    """The object's ``str()`` as is (None: NULL)."""

    def getquoted(self) -> bytes:
        if self.adapted is None:
            return b"NULL"
        return str(self.adapted).encode("utf-8")


class NoneAdapter(_Adapter):
    """None as NULL."""

    def getquoted(self, _null: bytes = b"NULL") -> bytes:
        return _null


def _escape_string(data: bytes, equote: bool, std_strings: bool) -> bytes:
    if b"\x00" in data:
        raise ValueError("A string literal cannot contain NUL (0x00) characters.")
    escaped = data.replace(b"'", b"''")
    if not std_strings:
        escaped = escaped.replace(b"\\", b"\\\\")
    return (b"E'" if equote else b"'") + escaped + b"'"


class QuotedString(_Adapter):
    """A string as a quoted literal. Without ``prepare(conn)`` it is encoded with
    ``encoding`` (latin1 by default, as psycopg2) and escaped as libpq's ``PQescapeString``."""

    def __init__(self, adapted: Any) -> None:
        super().__init__(adapted)
        self.encoding = "latin1"
        self._conn: Any = None
        self.buffer: Optional[bytes] = None

    def prepare(self, conn: Any) -> None:
        self._conn = conn
        self.encoding = _conn_encoding(conn)
        self.buffer = None

    def getquoted(self) -> bytes:
        if self.buffer is not None:
            return self.buffer
        value = self.adapted
        if isinstance(value, str):
            data = value.encode(_python_codec(self.encoding))
        elif isinstance(value, bytes):
            data = value
        else:
            raise TypeError("can't quote non-string object")
        conn = self._conn
        if conn is not None:
            equote = bool(getattr(conn, "_equote", False))
            quoted = _escape_string(data, equote, not equote)
        else:
            quoted = _escape_string(data, False, _static_std_strings[0])
        self.buffer = quoted
        return quoted


def _python_codec(name: str) -> str:
    from ._dsn import python_encoding

    return python_encoding(name)


def _bytea_escape(data: bytes, std_strings: bool) -> bytes:
    """libpq's PQescapeBytea (the escape format, without a connection)."""
    out = []
    slash = "\\" if std_strings else "\\\\"
    for byte in data:
        if byte < 0x20 or byte > 0x7E:
            out.append("%s%03o" % (slash, byte))
        elif byte == 0x27:
            out.append("''")
        elif byte == 0x5C:
            out.append(slash * 2)
        else:
            out.append(chr(byte))
    return "".join(out).encode("ascii")


class Binary(_Adapter):
    """Bytes as a bytea literal: ``'\\x...'::bytea`` once prepared for a connection."""

    def __init__(self, adapted: Any) -> None:
        super().__init__(adapted)
        self._conn: Any = None
        self.buffer: Optional[bytes] = None

    def prepare(self, conn: Any) -> None:
        self._conn = conn
        self.buffer = None

    def getquoted(self) -> bytes:
        if self.buffer is not None:
            return self.buffer
        value = self.adapted
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise TypeError("can't escape %s to binary" % type(value).__name__)
        data = bytes(value)
        conn = self._conn
        if not data:
            quoted = b"''::bytea"
        elif conn is not None:
            equote = bool(getattr(conn, "_equote", False))
            prefix = b"E'\\\\x" if equote else b"'\\x"
            quoted = prefix + data.hex().encode("ascii") + b"'::bytea"
        else:
            quoted = b"'" + _bytea_escape(data, _static_std_strings[0]) + b"'::bytea"
        self.buffer = quoted
        return quoted


class Boolean(_Adapter):
    def getquoted(self) -> bytes:
        return b"true" if self.adapted else b"false"


def _signed(text: str) -> bytes:
    # A space before a minus sign, so that "1-%s" never becomes a comment (psycopg2 #57).
    return (" " + text if text.startswith("-") else text).encode("ascii")


class Int(_Adapter):
    def getquoted(self) -> bytes:
        value = self.adapted
        return _signed(str(value if type(value) is int else int(value)))


class Float(_Adapter):
    def getquoted(self) -> bytes:
        value = float(self.adapted)
        if math.isnan(value):
            return b"'NaN'::float"
        if math.isinf(value):
            return b"'Infinity'::float" if value > 0 else b"'-Infinity'::float"
        return _signed(repr(value))


class DecimalAdapter(_Adapter):
    def getquoted(self) -> bytes:
        value = self.adapted
        if not value.is_finite():
            return b"'NaN'::numeric"
        return _signed(str(value))


class _DateTimeAdapter(_Adapter):
    """Dates, times, timestamps and intervals (psycopg2's ``pydatetime``)."""

    def getquoted(self) -> bytes:
        value = self.adapted
        if isinstance(value, _dt.timedelta):
            return (
                "'%d days %d.%06d seconds'::interval"
                % (value.days, value.seconds, value.microseconds)
            ).encode("ascii")
        if isinstance(value, _dt.datetime):
            cast = "timestamp" if value.tzinfo is None else "timestamptz"
        elif isinstance(value, _dt.date):
            cast = "date"
        else:
            cast = "time" if value.tzinfo is None else "timetz"
        return ("'%s'::%s" % (value.isoformat(), cast)).encode("ascii")


def DateFromPy(value: _dt.date) -> _DateTimeAdapter:  # noqa: N802 - psycopg2's name
    return _DateTimeAdapter(value)


def TimeFromPy(value: _dt.time) -> _DateTimeAdapter:  # noqa: N802
    return _DateTimeAdapter(value)


def TimestampFromPy(value: _dt.datetime) -> _DateTimeAdapter:  # noqa: N802
    return _DateTimeAdapter(value)


def IntervalFromPy(value: _dt.timedelta) -> _DateTimeAdapter:  # noqa: N802
    return _DateTimeAdapter(value)


class List(_Adapter):
    """A list as ``ARRAY[...]`` (``'{}'`` when empty, ``'{NULL,...}'`` when all NULL)."""

    def __init__(self, adapted: Any) -> None:
        super().__init__(adapted)
        self._conn: Any = None

    def prepare(self, conn: Any) -> None:
        self._conn = conn

    def getquoted(self) -> bytes:
        items = self.adapted
        if not items:
            return b"'{}'"
        quoted: list[bytes] = []
        all_nulls = True
        for item in items:
            if item is None:
                quoted.append(b"NULL")
                continue
            q = getquoted(item, self._conn)
            if isinstance(item, list):
                if q.startswith(b"A"):
                    all_nulls = False
                elif q == b"'{}'":
                    all_nulls = False
                    q = b"ARRAY[]"
            else:
                all_nulls = False
            quoted.append(q)
        if not all_nulls:
            return b"ARRAY[" + b",".join(quoted) + b"]"
        inner = [q[1:-1] if q.startswith(b"'") else q for q in quoted]
        return b"'{" + b",".join(inner) + b"}'"


class SQL_IN(_Adapter):
    """A tuple as a parenthesised list, ``(a, b, c)`` (for ``IN %s``)."""

    def __init__(self, seq: Any) -> None:
        super().__init__(seq)
        self._seq = seq
        self._conn: Any = None

    def prepare(self, conn: Any) -> None:
        self._conn = conn

    def getquoted(self) -> bytes:
        parts = [b"NULL" if o is None else getquoted(o, self._conn) for o in self._seq]
        return b"(" + b", ".join(parts) + b")"


for _cls, _factory in (
    (float, Float),
    (int, Int),
    (bool, Boolean),
    (str, QuotedString),
    (bytes, Binary),
    (bytearray, Binary),
    (memoryview, Binary),
    (list, List),
    (_dt.date, DateFromPy),
    (_dt.time, TimeFromPy),
    (_dt.datetime, TimestampFromPy),
    (_dt.timedelta, IntervalFromPy),
    (tuple, SQL_IN),
    (type(None), NoneAdapter),
    (Decimal, DecimalAdapter),
):
    register_adapter(_cls, _factory)


# -- the fast paths of mogrify: the built-in adapters' results without the objects --


def _fast_str(value: str, conn: Any) -> str:
    if "\x00" in value:
        raise ValueError("A string literal cannot contain NUL (0x00) characters.")
    if conn is not None and conn._equote:
        return "E'" + value.replace("'", "''").replace("\\", "\\\\") + "'"
    return "'" + value.replace("'", "''") + "'"


def _fast_int(value: int, conn: Any) -> str:
    text = str(value)
    return " " + text if value < 0 else text


def _fast_bool(value: bool, conn: Any) -> str:
    return "true" if value else "false"


def _fast_float(value: float, conn: Any) -> str:
    return Float(value).getquoted().decode("ascii")


def _fast_datetime(value: _dt.datetime, conn: Any) -> str:
    if value.tzinfo is None:
        return "'%s'::timestamp" % value.isoformat()
    return "'%s'::timestamptz" % value.isoformat()


def _fast_date(value: _dt.date, conn: Any) -> str:
    return "'%s'::date" % value.isoformat()


def _fast_decimal(value: Decimal, conn: Any) -> str:
    if not value.is_finite():
        return "'NaN'::numeric"
    text = str(value)
    return " " + text if text.startswith("-") else text


# The built-in adapters' results without the adapter objects, for these exact classes while
# their registered adapter is still the built-in one (the text is what getquoted() gives,
# decoded: ASCII in every case but str, whose fast path encodes nothing).
_FAST: dict[type, tuple[Callable[[Any], Any], Callable[[Any, Any], str]]] = {
    str: (QuotedString, _fast_str),
    int: (Int, _fast_int),
    bool: (Boolean, _fast_bool),
    float: (Float, _fast_float),
    _dt.datetime: (TimestampFromPy, _fast_datetime),
    _dt.date: (DateFromPy, _fast_date),
    Decimal: (DecimalAdapter, _fast_decimal),
}


def _choose_fast(cls: type) -> Optional[Callable[[Any, Any], str]]:
    fast = _FAST.get(cls)
    chosen = fast[1] if fast is not None and adapters.get((cls, ISQLQuote)) is fast[0] else None
    _fast_now[cls] = chosen
    return chosen


def quote_param(value: Any, conn: Any) -> str:
    """A query parameter as SQL text for ``conn`` (mogrify's step): None is NULL; the built-in
    adapters of str, int, bool, float, datetime, date and Decimal take a fast path unless
    replaced."""
    if value is None:
        return "NULL"
    cls = type(value)
    try:
        fast = _fast_now[cls]
    except KeyError:
        fast = _choose_fast(cls)
    if fast is not None:
        return fast(value, conn)
    return getquoted(value, conn).decode(_conn_encoding(conn))
