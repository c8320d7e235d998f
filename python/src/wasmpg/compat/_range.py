"""psycopg2's range types: ``Range`` and its subclasses (``NumericRange``, ``DateRange``,
``DateTimeRange``, ``DateTimeTZRange``), their adapters (Python to SQL), their typecasters
(SQL to Python, for the built-in range types and those ``register_range`` looks up)."""

from __future__ import annotations

from typing import Any, Optional, Union

from ..errors import InterfaceError, ProgrammingError
from ._adapt import ISQLQuote, adapt, getquoted, register_adapter
from ._typecast import Typecaster, lookup_caster, new_array_type, new_type, register_type

__all__ = [
    "Range",
    "NumericRange",
    "DateRange",
    "DateTimeRange",
    "DateTimeTZRange",
    "RangeAdapter",
    "NumberRangeAdapter",
    "RangeCaster",
    "register_range",
]

_BOUNDS = ("[)", "(]", "()", "[]")


class Range:
    """A PostgreSQL range: ``lower``, ``upper`` (None: unbounded), ``bounds`` (``'[)'``...)
    or ``empty``."""

    __slots__ = ("_lower", "_upper", "_bounds")

    def __init__(
        self, lower: Any = None, upper: Any = None, bounds: str = "[)", empty: bool = False
    ) -> None:
        if not empty:
            if bounds not in _BOUNDS:
                raise ValueError("bound flags not valid: %r" % bounds)
            self._lower = lower
            self._upper = upper
            self._bounds: Optional[str] = bounds
        else:
            self._lower = self._upper = self._bounds = None

    def __repr__(self) -> str:
        if self._bounds is None:
            return "%s(empty=True)" % type(self).__name__
        return "%s(%r, %r, %r)" % (type(self).__name__, self._lower, self._upper, self._bounds)

    def __str__(self) -> str:
        if self._bounds is None:
            return "empty"
        items = [
            self._bounds[0],
            "" if self._lower is None else str(self._lower),
            ", ",
            "" if self._upper is None else str(self._upper),
            self._bounds[1],
        ]
        return "".join(items)

    @property
    def lower(self) -> Any:
        return self._lower

    @property
    def upper(self) -> Any:
        return self._upper

    @property
    def isempty(self) -> bool:
        return self._bounds is None

    @property
    def lower_inf(self) -> bool:
        return self._bounds is not None and self._lower is None

    @property
    def upper_inf(self) -> bool:
        return self._bounds is not None and self._upper is None

    @property
    def lower_inc(self) -> bool:
        return self._bounds is not None and self._lower is not None and self._bounds[0] == "["

    @property
    def upper_inc(self) -> bool:
        return self._bounds is not None and self._upper is not None and self._bounds[1] == "]"

    def __contains__(self, x: Any) -> bool:
        if self._bounds is None:
            return False
        if self._lower is not None:
            if self._bounds[0] == "[":
                if x < self._lower:
                    return False
            elif x <= self._lower:
                return False
        if self._upper is not None:
            if self._bounds[1] == "]":
                if x > self._upper:
                    return False
            elif x >= self._upper:
                return False
        return True

    def __bool__(self) -> bool:
        return self._bounds is not None

    def _key(self) -> tuple[Any, Any, Any]:
        return (self._lower, self._upper, self._bounds)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Range):
            return False
        return self._key() == other._key()

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return hash(self._key())

    def __lt__(self, other: Any) -> bool:
        if not isinstance(other, Range):
            return NotImplemented
        for mine, theirs in zip(self._key(), other._key()):
            if mine == theirs:
                continue
            if mine is None:
                return True
            if theirs is None:
                return False
            return bool(mine < theirs)
        return False

    def __le__(self, other: Any) -> bool:
        if self == other:
            return True
        return self.__lt__(other)

    def __gt__(self, other: Any) -> bool:
        if not isinstance(other, Range):
            return NotImplemented
        return other.__lt__(self)

    def __ge__(self, other: Any) -> bool:
        if self == other:
            return True
        return self.__gt__(other)

    def __getstate__(self) -> dict[str, Any]:
        return {"_lower": self._lower, "_upper": self._upper, "_bounds": self._bounds}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for k, v in state.items():
            setattr(self, k, v)


class NumericRange(Range):
    """int4range, int8range and numrange."""

    __slots__ = ()


class DateRange(Range):
    """daterange."""

    __slots__ = ()


class DateTimeRange(Range):
    """tsrange."""

    __slots__ = ()


class DateTimeTZRange(Range):
    """tstzrange."""

    __slots__ = ()


class RangeAdapter:
    """A range as ``name(lower, upper, 'bounds')`` (``name`` is the range type's)."""

    name: Optional[str] = None

    def __init__(self, adapted: Range) -> None:
        self.adapted = adapted
        self._conn: Any = None

    def __conform__(self, proto: Any) -> Any:
        return self if proto is ISQLQuote else None

    def prepare(self, conn: Any) -> None:
        self._conn = conn

    def getquoted(self) -> bytes:
        if self.name is None:
            raise NotImplementedError("RangeAdapter must be subclassed overriding its name")
        r = self.adapted
        name = self.name.encode("utf-8")
        if r.isempty:
            return b"'empty'::" + name
        lower = b"NULL" if r.lower is None else getquoted(r.lower, self._conn)
        upper = b"NULL" if r.upper is None else getquoted(r.upper, self._conn)
        bounds = (r._bounds or "[)").encode("ascii")
        return name + b"(" + lower + b", " + upper + b", '" + bounds + b"')"


class NumberRangeAdapter(RangeAdapter):
    """A NumericRange as a string literal, ``'[1,10)'``: the server infers the range type."""

    def getquoted(self) -> bytes:
        r = self.adapted
        if r.isempty:
            return b"'empty'"
        lower = "" if r.lower_inf else adapt(r.lower).getquoted().decode("ascii").strip()
        upper = "" if r.upper_inf else adapt(r.upper).getquoted().decode("ascii").strip()
        bounds = r._bounds or "[)"
        return ("'%s%s,%s%s'" % (bounds[0], lower, upper, bounds[1])).encode("ascii")


def _bound(text: str) -> Optional[str]:
    """One bound of a range literal: None when empty (unbounded), else its text unquoted."""
    if not text:
        return None
    if not text.startswith('"'):
        return text
    out = []
    i = 1
    while i < len(text) - 1:
        c = text[i]
        if c == "\\" or (c == '"' and text[i + 1 : i + 2] == '"'):
            i += 1
            c = text[i]
        out.append(c)
        i += 1
    return "".join(out)


def _split_range(s: str) -> Optional[tuple[str, Optional[str], Optional[str], str]]:
    """A range literal (``[1,10)``, ``("a b",)``) as (lower flag, lower, upper, upper
    flag); None if malformed."""
    if len(s) < 3 or s[0] not in "[(" or s[-1] not in "])":
        return None
    body = s[1:-1]
    quoted = False
    i = 0
    while i < len(body):
        c = body[i]
        if c == "\\" and quoted:
            i += 2
            continue
        if c == '"':
            quoted = not quoted
        elif c == "," and not quoted:
            return s[0], _bound(body[:i]), _bound(body[i + 1 :]), s[-1]
        i += 1
    return None


class RangeCaster:
    """Converts between a Range class and a PostgreSQL range type: ``typecaster`` and
    ``array_typecaster`` cast results; ``adapter`` quotes parameters."""

    def __init__(
        self,
        pgrange: Union[str, type[RangeAdapter]],
        pyrange: Union[str, type[Range]],
        oid: int,
        subtype_oid: int,
        array_oid: Optional[int] = None,
    ) -> None:
        self.subtype_oid = subtype_oid
        if isinstance(pgrange, str):
            self.adapter: type[RangeAdapter] = type(pgrange, (RangeAdapter,), {"name": pgrange})
        elif isinstance(pgrange, type) and issubclass(pgrange, RangeAdapter):
            self.adapter = pgrange
        else:
            raise TypeError("pgrange must be a string or a RangeAdapter subclass")
        if isinstance(pyrange, str):
            self.range: type[Range] = type(pyrange, (Range,), {"__slots__": ()})
        elif isinstance(pyrange, type) and issubclass(pyrange, Range):
            self.range = pyrange
        else:
            raise TypeError("pyrange must be a type or a Range subclass")
        name = (self.adapter.name or self.adapter.__name__).upper()
        self.typecaster: Typecaster = new_type((oid,), name, self.parse)
        self.array_typecaster: Optional[Typecaster] = (
            new_array_type((array_oid,), name + "ARRAY", self.typecaster) if array_oid else None
        )

    def parse(self, s: Optional[str], cur: Any = None) -> Any:
        if s is None:
            return None
        if s == "empty":
            return self.range(empty=True)
        parts = _split_range(s)
        if parts is None:
            raise InterfaceError("failed to parse range: '%s'" % s)
        low_flag, lower_text, upper_text, up_flag = parts
        lower: Any = lower_text
        upper: Any = upper_text
        caster = lookup_caster(cur, self.subtype_oid)
        if caster is not None:
            if lower is not None:
                lower = caster(lower, cur)
            if upper is not None:
                upper = caster(upper, cur)
        return self.range(lower, upper, low_flag + up_flag)

    def _register(self, scope: Any = None) -> None:
        register_type(self.typecaster, scope)
        if self.array_typecaster is not None:
            register_type(self.array_typecaster, scope)
        register_adapter(self.range, self.adapter)


def register_range(
    pgrange: str, pyrange: Union[str, type[Range]], conn_or_curs: Any, globally: bool = False
) -> RangeCaster:
    """Looks up the range type ``pgrange`` (``schema.name`` allowed) and casts it to
    ``pyrange`` (a Range subclass, or a name for a new one), for ``conn_or_curs`` or
    everywhere; returns the `RangeCaster`."""
    conn = getattr(conn_or_curs, "connection", conn_or_curs)
    schema, _, name = pgrange.rpartition(".")
    curs = conn.cursor()
    try:
        curs.execute(
            "SELECT t.oid, typarray, rngsubtype FROM pg_type t"
            " JOIN pg_range r ON t.oid = r.rngtypid"
            " JOIN pg_namespace ns ON ns.oid = t.typnamespace"
            " WHERE typname = %s AND ("
            + ("nspname = %s" if schema else "pg_catalog.pg_type_is_visible(t.oid)")
            + ")",
            (name, schema) if schema else (name,),
        )
        row = curs.fetchone()
    finally:
        curs.close()
    if row is None:
        raise ProgrammingError("PostgreSQL range '%s' not found" % pgrange)
    caster = RangeCaster(pgrange, pyrange, int(row[0]), int(row[2]), int(row[1]) or None)
    caster._register(None if globally else conn_or_curs)
    return caster


register_adapter(NumericRange, NumberRangeAdapter)

int4range_caster = RangeCaster(NumberRangeAdapter, NumericRange, 3904, 23, 3905)
int4range_caster._register()
int8range_caster = RangeCaster(NumberRangeAdapter, NumericRange, 3926, 20, 3927)
int8range_caster._register()
numrange_caster = RangeCaster(NumberRangeAdapter, NumericRange, 3906, 1700, 3907)
numrange_caster._register()
daterange_caster = RangeCaster("daterange", DateRange, 3912, 1082, 3913)
daterange_caster._register()
tsrange_caster = RangeCaster("tsrange", DateTimeRange, 3908, 1114, 3909)
tsrange_caster._register()
tstzrange_caster = RangeCaster("tstzrange", DateTimeTZRange, 3910, 1184, 3911)
tstzrange_caster._register()
