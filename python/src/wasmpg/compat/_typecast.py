"""psycopg2's typecasters: result values by type OID, in psycopg2's three scopes (cursor,
connection, global ``string_types``), with psycopg2's built-in casters (``STRING``,
``INTEGER``, ``DATETIMETZ``, ``BINARY``, the arrays...), ``new_type``, ``new_array_type`` and
``register_type``.

wasmpg's cursors already turn the values of the types they know into Python objects, so a
caster here works in one of two ways: a built-in one *finishes* wasmpg's value the psycopg2 way
(``native``: bytea becomes a ``memoryview``, ``tzinfo_factory`` is applied to timestamptz, or
nothing at all); any other caster is called as in psycopg2 with the value's PostgreSQL text,
which is the server's own text for types wasmpg leaves as ``str`` and is written back from
wasmpg's value otherwise (`text_of`). `column_plan` chooses what each column needs, once per
result shape and connection (`plan_for`), and `finish_rows` applies it a whole column of a
fetch at a time: timestamptz calls ``tzinfo_factory`` once per distinct UTC offset, and rows
whose values stay as wasmpg made them (Django's UTC) are not rebuilt.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
from decimal import Decimal
from itertools import repeat
from operator import attrgetter, is_, itemgetter
from typing import Any, Callable, Optional

from ..errors import DataError, ProgrammingError
from ..types import adapters as _adapters
from ..types import oids
from ..types.array import parse_text

__all__ = [
    "Typecaster",
    "KEEP",
    "string_types",
    "binary_types",
    "new_type",
    "new_array_type",
    "register_type",
    "lookup_caster",
    "column_plan",
    "plan_for",
    "finish_rows",
    "Casters",
    "text_of",
    "parse_array",
]

Cast = Callable[[Optional[str], Any], Any]
Native = Callable[[Any, Any], Any]


def _keep(value: Any, cur: Any) -> Any:
    return value


#: The ``native`` of a caster whose result is wasmpg's value unchanged.
KEEP: Native = _keep


class Typecaster:
    """A psycopg2 typecaster (``psycopg2.extensions.new_type``'s result, a DB-API type
    object): ``caster(text_or_None, cursor)`` casts; ``caster == oid`` tells whether it handles
    the type OID."""

    __slots__ = ("name", "values", "_cast", "native", "base")

    def __init__(
        self,
        values: Any,
        name: str,
        cast: Optional[Cast] = None,
        native: Optional[Native] = None,
        base: Optional[Typecaster] = None,
    ) -> None:
        self.values: tuple[int, ...] = tuple(int(v) for v in values)
        self.name = name
        self._cast: Cast = cast if cast is not None else _identity_cast
        self.native = native
        self.base = base

    def __call__(self, value: Any, cursor: Any = None) -> Any:
        return self._cast(value, cursor)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Typecaster):
            return self is other or (self.values == other.values and self.name == other.name)
        if isinstance(other, int) and not isinstance(other, bool):
            return other in self.values
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    def __hash__(self) -> int:
        return hash((self.name, self.values))

    def __repr__(self) -> str:
        return "<psycopg2._psycopg.type '%s' at 0x%x>" % (self.name, id(self))


def _identity_cast(value: Optional[str], cur: Any) -> Any:
    return value


# Bumped by every change of a `Casters` map: the key under which a connection keeps the column
# plans it made (`column_plan`), so that a registration is seen by the next result.
_generation = [0]


class Casters(dict[int, Any]):
    """A ``string_types`` map (OID -> caster): a dict that counts its changes (`_generation`)."""

    __slots__ = ()

    def __setitem__(self, key: Any, value: Any) -> None:
        _generation[0] += 1
        super().__setitem__(key, value)

    def __delitem__(self, key: Any) -> None:
        _generation[0] += 1
        super().__delitem__(key)

    def __ior__(self, other: Any) -> Any:  # type: ignore[misc]
        _generation[0] += 1
        return super().__ior__(other)

    def clear(self) -> None:
        _generation[0] += 1
        super().clear()

    def pop(self, *args: Any) -> Any:
        _generation[0] += 1
        return super().pop(*args)

    def popitem(self) -> Any:
        _generation[0] += 1
        return super().popitem()

    def setdefault(self, *args: Any) -> Any:
        _generation[0] += 1
        return super().setdefault(*args)

    def update(self, *args: Any, **kwargs: Any) -> None:
        _generation[0] += 1
        super().update(*args, **kwargs)


#: The global casters by OID (psycopg2's ``extensions.string_types``).
string_types: dict[int, Typecaster] = Casters()
#: psycopg2's ``binary_types`` (binary results are not used: always empty).
binary_types: dict[int, Typecaster] = {}


def _check_values(values: Any) -> tuple[int, ...]:
    if not isinstance(values, (tuple, list)):
        raise TypeError("argument 1 must be a tuple of OIDs")
    return tuple(int(v) for v in values)


def new_type(values: Any, name: str, castobj: Optional[Callable[..., Any]] = None) -> Typecaster:
    """A typecaster for the OIDs ``values``: ``castobj(text_or_None, cursor)``."""
    _check_values(values)
    return Typecaster(values, name, castobj)


def new_array_type(values: Any, name: str, baseobj: Typecaster) -> Typecaster:
    """A typecaster for arrays whose elements ``baseobj`` casts."""
    _check_values(values)
    if not isinstance(baseobj, Typecaster):
        raise TypeError("argument 3 must be a typecaster")

    def cast(value: Optional[str], cur: Any) -> Any:
        if value is None:
            return None
        return parse_array(value, lambda item: baseobj(item, cur))

    return Typecaster(values, name, cast, _array_native(baseobj), baseobj)


def _array_native(base: Typecaster) -> Optional[Native]:
    native = base.native
    if native is None:
        return None
    if native is KEEP:
        return KEEP
    element: Native = native

    def convert(value: Any, cur: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, list):
            return [convert(v, cur) for v in value]
        return element(value, cur)

    return convert


def register_type(obj: Typecaster, scope: Any = None) -> None:
    """Registers a typecaster globally (``scope`` None), for a connection or for a cursor
    (their ``string_types``)."""
    if not isinstance(obj, Typecaster):
        raise TypeError("argument 1 must be a typecaster")
    target: Any = string_types
    if scope is not None:
        target = getattr(scope, "string_types", None)
        if not isinstance(target, dict):
            raise TypeError("argument 2 must be a connection, cursor or None")
    for oid in obj.values:
        target[oid] = obj


def lookup_caster(cur: Any, oid: int) -> Optional[Typecaster]:
    """The caster of ``oid`` for a cursor: its own, its connection's, then the global one."""
    if cur is not None:
        caster: Optional[Typecaster] = cur.string_types.get(oid)
        if caster is not None:
            return caster
        conn = getattr(cur, "_conn", None)
        if conn is not None:
            caster = conn.string_types.get(oid)
            if caster is not None:
                return caster
    return string_types.get(oid)


# -- PostgreSQL text forms back from wasmpg's values --


def _offset_text(offset: Optional[_dt.timedelta]) -> str:
    if offset is None:
        return ""
    seconds = int(offset.total_seconds())
    sign = "-" if seconds < 0 else "+"
    seconds = abs(seconds)
    hh, rest = divmod(seconds, 3600)
    mm, ss = divmod(rest, 60)
    text = "%s%02d" % (sign, hh)
    if mm or ss:
        text += ":%02d" % mm
    if ss:
        text += ":%02d" % ss
    return text


def _time_text(value: _dt.time) -> str:
    text = "%02d:%02d:%02d" % (value.hour, value.minute, value.second)
    if value.microsecond:
        text += (".%06d" % value.microsecond).rstrip("0")
    return text


def _interval_text(value: _dt.timedelta) -> str:
    micros = (value.days * 86400 + value.seconds) * 1000000 + value.microseconds
    sign = "-" if micros < 0 else ""
    micros = abs(micros)
    days, micros = divmod(micros, 86400 * 1000000)
    secs, frac = divmod(micros, 1000000)
    hh, rest = divmod(secs, 3600)
    mm, ss = divmod(rest, 60)
    clock = "%s%02d:%02d:%02d" % (sign, hh, mm, ss)
    if frac:
        clock += (".%06d" % frac).rstrip("0")
    if days:
        return "%s%d days %s" % (sign, days, clock)
    return clock


def _quote_element(text: str) -> str:
    if text == "" or text.upper() == "NULL" or re.search(r'[{},"\\\s]', text):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def _array_text(value: list[Any], element: int) -> str:
    parts = []
    for item in value:
        if item is None:
            parts.append("NULL")
        elif isinstance(item, list):
            parts.append(_array_text(item, element))
        else:
            parts.append(_quote_element(text_of(element, item)))
    return "{" + ",".join(parts) + "}"


_JSON_OIDS = (oids.JSON, oids.JSONB)


def text_of(oid: int, value: Any) -> str:
    """The PostgreSQL text of a value wasmpg converted (of type ``oid``)."""
    if oid in _JSON_OIDS:
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, str):
        return value
    element = oids.ARRAY_ELEMENT.get(oid)
    if element is not None and isinstance(value, list):
        return _array_text(value, element)
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return repr(value)
    if isinstance(value, (int, Decimal)):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "\\x" + bytes(value).hex()
    if isinstance(value, _dt.datetime):
        naive = value.replace(tzinfo=None)
        if naive == _dt.datetime.max:
            return "infinity"
        if naive == _dt.datetime.min:
            return "-infinity"
        text = "%04d-%02d-%02d %s" % (value.year, value.month, value.day, _time_text(value.time()))
        return text + _offset_text(value.utcoffset())
    if isinstance(value, _dt.date):
        if value == _dt.date.max:
            return "infinity"
        if value == _dt.date.min:
            return "-infinity"
        return "%04d-%02d-%02d" % (value.year, value.month, value.day)
    if isinstance(value, _dt.time):
        return _time_text(value) + _offset_text(value.utcoffset())
    if isinstance(value, _dt.timedelta):
        return _interval_text(value)
    return str(value)


# -- parsing PostgreSQL's text forms (for the types wasmpg leaves as text, and direct calls) --


def parse_array(text: str, cast: Callable[[Optional[str]], Any]) -> list[Any]:
    """An array literal (``{1,2,NULL}``, ``{{"a b",c}}``, ``[0:1]={...}``) as nested lists,
    each element cast by ``cast`` (None for NULL): wasmpg's own parser of the syntax."""
    try:
        result: list[Any] = parse_text(text, cast)
    except ValueError:
        raise DataError("malformed array: %r" % text) from None
    return result


_DATE = re.compile(r"(\d{4,})-(\d\d)-(\d\d)( BC)?$")
_TIME = re.compile(r"(\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?:([+-])(\d\d)(?::?(\d\d))?(?::?(\d\d))?)?$")
_TIMESTAMP = re.compile(
    r"(\d{4,})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)(?:\.(\d+))?"
    r"(?:([+-])(\d\d)(?::?(\d\d))?(?::?(\d\d))?)?( BC)?$"
)
_INTERVAL = re.compile(
    r"([+-]?\d+)\s+(years?|mons?|days?)|([+-])?(\d+):(\d\d)(?::(\d\d)(?:\.(\d+))?)?"
)


def _micros(frac: Optional[str]) -> int:
    if not frac:
        return 0
    return int((frac + "000000")[:6])


def _tzinfo(cur: Any, sign: Optional[str], hh: Optional[str], mm: Optional[str], ss: Any) -> Any:
    """The tzinfo for an offset, by the cursor's ``tzinfo_factory`` (None: naive)."""
    factory = getattr(cur, "tzinfo_factory", _dt.timezone) if cur is not None else _dt.timezone
    if sign is None or factory is None:
        return None
    seconds = int(hh or 0) * 3600 + int(mm or 0) * 60 + int(ss or 0)
    offset = _dt.timedelta(seconds=-seconds if sign == "-" else seconds)
    return factory(offset)


def _cast_date(value: Optional[str], cur: Any) -> Any:
    if value is None:
        return None
    if value == "infinity":
        return _dt.date.max
    if value == "-infinity":
        return _dt.date.min
    m = _DATE.match(value)
    if m is None:
        raise DataError("unable to parse date")
    if m.group(4):
        raise DataError("year is out of range")
    try:
        return _dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError as e:
        raise DataError(str(e)) from None


def _cast_time(value: Optional[str], cur: Any) -> Any:
    if value is None:
        return None
    m = _TIME.match(value)
    if m is None:
        raise DataError("unable to parse time")
    hh, mi, ss = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if hh == 24:
        hh = 0
    tz = _tzinfo(cur, m.group(5), m.group(6), m.group(7), m.group(8))
    return _dt.time(hh, mi, ss, _micros(m.group(4)), tz)


def _cast_timestamp(value: Optional[str], cur: Any, with_tz: bool) -> Any:
    if value is None:
        return None
    if value in ("infinity", "-infinity"):
        edge = _dt.datetime.max if value == "infinity" else _dt.datetime.min
        factory = getattr(cur, "tzinfo_factory", _dt.timezone) if cur is not None else 1
        if with_tz and factory is not None:
            return edge.replace(tzinfo=_dt.timezone.utc)
        return edge
    m = _TIMESTAMP.match(value)
    if m is None:
        raise DataError("unable to parse timestamp %r" % value)
    if m.group(12):
        raise DataError("year is out of range")
    tz = _tzinfo(cur, m.group(8), m.group(9), m.group(10), m.group(11)) if with_tz else None
    try:
        return _dt.datetime(
            int(m.group(1)),
            int(m.group(2)),
            int(m.group(3)),
            int(m.group(4)),
            int(m.group(5)),
            int(m.group(6)),
            _micros(m.group(7)),
            tz,
        )
    except ValueError as e:
        raise DataError(str(e)) from None


def _cast_interval(value: Optional[str], cur: Any) -> Any:
    if value is None:
        return None
    days = 0
    micros = 0
    for m in _INTERVAL.finditer(value):
        if m.group(1) is not None:
            n = int(m.group(1))
            unit = m.group(2)
            if unit.startswith("year"):
                days += n * 365
            elif unit.startswith("mon"):
                days += n * 30
            else:
                days += n
        else:
            t = (int(m.group(4)) * 3600 + int(m.group(5)) * 60 + int(m.group(6) or 0)) * 1000000
            t += _micros(m.group(7))
            micros += -t if m.group(3) == "-" else t
    return _dt.timedelta(days=days, microseconds=micros)


def _cast_bytea(value: Optional[str], cur: Any) -> Any:
    if value is None:
        return None
    if value.startswith("\\x"):
        return memoryview(bytes.fromhex(value[2:]))
    out = bytearray()
    i = 0
    n = len(value)
    while i < n:
        c = value[i]
        if c == "\\":
            if value[i + 1 : i + 2] == "\\":
                out.append(0x5C)
                i += 2
            else:
                out.append(int(value[i + 1 : i + 4], 8))
                i += 4
        else:
            out.extend(c.encode("utf-8"))
            i += 1
    return memoryview(bytes(out))


def _cast_bool(value: Optional[str], cur: Any) -> Any:
    if value is None:
        return None
    return value[:1] in ("t", "T")


def _cast_int(value: Optional[str], cur: Any) -> Any:
    return None if value is None else int(value)


def _cast_float(value: Optional[str], cur: Any) -> Any:
    return None if value is None else float(value)


def _cast_decimal(value: Optional[str], cur: Any) -> Any:
    return None if value is None else Decimal(value)


def _cast_number(value: Optional[str], cur: Any) -> Any:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return float(value)


def _cast_bytes(value: Optional[str], cur: Any) -> Any:
    return None if value is None else value.encode("utf-8")


# -- wasmpg's values finished the psycopg2 way --


def _native_bytea(value: Any, cur: Any) -> Any:
    return None if value is None else memoryview(value)


def _factory_of(cur: Any) -> Any:
    """The cursor's ``tzinfo_factory`` (psycopg2's default without a cursor)."""
    return getattr(cur, "tzinfo_factory", _dt.timezone) if cur is not None else _dt.timezone


def _apply_factory(value: Any, factory: Any) -> Any:
    """An aware datetime or time with ``tzinfo_factory`` applied: None makes it naive (the
    wall time of the session's time zone), as psycopg2; psycopg2's default
    (``datetime.timezone``) keeps wasmpg's fixed offset."""
    if factory is None:
        return value.replace(tzinfo=None)
    if factory is _dt.timezone:
        return value
    tz = factory(value.utcoffset())
    return value if tz is value.tzinfo else value.replace(tzinfo=tz)


def _infinite(value: Any) -> bool:
    """Whether a timestamptz is wasmpg's infinity (datetime.max/min in any time zone)."""
    year = value.year
    if year != 9999 and year != 1:
        return False
    naive = value.replace(tzinfo=None)
    return bool(naive == _dt.datetime.max or naive == _dt.datetime.min)


def _edge(value: Any, factory: Any) -> Any:
    """An infinite timestamptz as psycopg2 returns it: UTC whatever the factory (naive when
    the factory is None)."""
    naive = value.replace(tzinfo=None)
    return naive if factory is None else naive.replace(tzinfo=_dt.timezone.utc)


def _native_timestamptz(value: Any, cur: Any) -> Any:
    if value is None:
        return None
    factory = _factory_of(cur)
    if _infinite(value):
        return _edge(value, factory)
    return _apply_factory(value, factory)


def _native_time(value: Any, cur: Any) -> Any:
    if value is None or value.tzinfo is None:
        return value
    return _apply_factory(value, _factory_of(cur))


# -- the same for a whole column of a fetch: ``finish(values, cur)`` -> the finished values,
# or None when every value stays as it is (the rows then need no rebuilding).

Finish = Callable[[list[Any], Any], Optional[list[Any]]]

_TZINFO = attrgetter("tzinfo")


def _finish_timestamptz(values: list[Any], cur: Any) -> Optional[list[Any]]:
    """timestamptz values: ``tzinfo_factory`` called once per distinct UTC offset of the
    values (not once per value: psycopg2's factories are pure functions of the offset), and
    nothing rebuilt when the factory gives back the values' own tzinfo (Django's UTC)."""
    factory = _factory_of(cur)
    present = list(filter(None, values))  # NULLs out (a datetime is always true)
    if not present:
        return None
    tz = present[0].tzinfo
    # The common case: one fixed offset, the very same tzinfo object in every value, no
    # infinity (checked on the earliest and latest value: with one tzinfo, wall-time order).
    if (
        type(tz) is _dt.timezone
        and all(map(is_, map(_TZINFO, present), repeat(tz)))
        and max(present).year != 9999
        and min(present).year != 1
    ):
        if factory is _dt.timezone:
            return None
        if factory is None:
            return [None if v is None else v.replace(tzinfo=None) for v in values]
        final = factory(tz.utcoffset(None))
        if final is tz:
            return None
        return [None if v is None else v.replace(tzinfo=final) for v in values]
    # Mixed offsets (a time zone with DST), infinity, or tzinfo objects of other kinds: value by
    # value, the factory's answer cached by offset for this fetch.
    out: list[Any] = []
    cache: dict[Any, Any] = {}
    for v in values:
        if v is None:
            out.append(None)
        elif _infinite(v):
            out.append(_edge(v, factory))
        elif factory is None:
            out.append(v.replace(tzinfo=None))
        elif factory is _dt.timezone:
            out.append(v)
        else:
            offset = v.utcoffset()
            final = cache.get(offset)
            if final is None:
                final = cache[offset] = factory(offset)
            out.append(v if final is v.tzinfo else v.replace(tzinfo=final))
    return out


def _finish_bytea(values: list[Any], cur: Any) -> Optional[list[Any]]:
    return [None if v is None else memoryview(v) for v in values]


def _finish_native(native: Native) -> Finish:
    if native is _native_timestamptz:
        return _finish_timestamptz
    if native is _native_bytea:
        return _finish_bytea

    def finish(values: list[Any], cur: Any) -> Optional[list[Any]]:
        return [native(v, cur) for v in values]

    return finish


def _builtin(
    values: tuple[int, ...], name: str, cast: Cast, native: Optional[Native] = KEEP
) -> Typecaster:
    return Typecaster(values, name, cast, native)


NUMBER = _builtin((20, 23, 21, 701, 700, 1700), "NUMBER", _cast_number)
LONGINTEGER = _builtin((20,), "LONGINTEGER", _cast_int)
INTEGER = _builtin((23, 21), "INTEGER", _cast_int)
FLOAT = _builtin((701, 700), "FLOAT", _cast_float)
DECIMAL = _builtin((1700,), "DECIMAL", _cast_decimal)
UNICODE = _builtin((19, 18, 25, 1042, 1043), "UNICODE", _identity_cast, None)
BYTES = _builtin((19, 18, 25, 1042, 1043), "BYTES", _cast_bytes, None)
STRING = _builtin((19, 18, 25, 1042, 1043), "STRING", _identity_cast, None)
BOOLEAN = _builtin((16,), "BOOLEAN", _cast_bool)
DATETIME = _builtin(
    (1114,), "DATETIME", lambda value, cur: _cast_timestamp(value, cur, False), KEEP
)
DATETIMETZ = _builtin(
    (1184,),
    "DATETIMETZ",
    lambda value, cur: _cast_timestamp(value, cur, True),
    _native_timestamptz,
)
TIME = _builtin((1083, 1266), "TIME", _cast_time, _native_time)
DATE = _builtin((1082,), "DATE", _cast_date)
INTERVAL = _builtin((704, 1186), "INTERVAL", _cast_interval)
BINARY = _builtin((17,), "BINARY", _cast_bytea, _native_bytea)
ROWID = _builtin((26,), "ROWID", _cast_int)
UNKNOWN = _builtin((705,), "UNKNOWN", _identity_cast, None)

LONGINTEGERARRAY = new_array_type((1016,), "LONGINTEGERARRAY", LONGINTEGER)
INTEGERARRAY = new_array_type((1005, 1006, 1007), "INTEGERARRAY", INTEGER)
FLOATARRAY = new_array_type((1021, 1022), "FLOATARRAY", FLOAT)
DECIMALARRAY = new_array_type((1231,), "DECIMALARRAY", DECIMAL)
UNICODEARRAY = new_array_type((1002, 1003, 1009, 1014, 1015), "UNICODEARRAY", UNICODE)
BYTESARRAY = new_array_type((1002, 1003, 1009, 1014, 1015), "BYTESARRAY", BYTES)
STRINGARRAY = new_array_type((1002, 1003, 1009, 1014, 1015), "STRINGARRAY", STRING)
BOOLEANARRAY = new_array_type((1000,), "BOOLEANARRAY", BOOLEAN)
DATETIMEARRAY = new_array_type((1115,), "DATETIMEARRAY", DATETIME)
DATETIMETZARRAY = new_array_type((1185,), "DATETIMETZARRAY", DATETIMETZ)
TIMEARRAY = new_array_type((1183, 1270), "TIMEARRAY", TIME)
DATEARRAY = new_array_type((1182,), "DATEARRAY", DATE)
INTERVALARRAY = new_array_type((1187,), "INTERVALARRAY", INTERVAL)
BINARYARRAY = new_array_type((1001,), "BINARYARRAY", BINARY)
ROWIDARRAY = new_array_type((1028, 1013), "ROWIDARRAY", ROWID)
INETARRAY = new_array_type((1041,), "INETARRAY", STRING)
CIDRARRAY = new_array_type((651,), "CIDRARRAY", STRING)
MACADDRARRAY = new_array_type((1040,), "MACADDRARRAY", STRING)

for _caster in (
    NUMBER,
    LONGINTEGER,
    INTEGER,
    FLOAT,
    DECIMAL,
    UNICODE,
    BYTES,
    STRING,
    BOOLEAN,
    DATETIME,
    DATETIMETZ,
    TIME,
    DATE,
    INTERVAL,
    BINARY,
    ROWID,
    LONGINTEGERARRAY,
    INTEGERARRAY,
    FLOATARRAY,
    DECIMALARRAY,
    UNICODEARRAY,
    BYTESARRAY,
    STRINGARRAY,
    BOOLEANARRAY,
    DATETIMEARRAY,
    DATETIMETZARRAY,
    TIMEARRAY,
    DATEARRAY,
    INTERVALARRAY,
    BINARYARRAY,
    ROWIDARRAY,
    UNKNOWN,
    INETARRAY,
    CIDRARRAY,
    MACADDRARRAY,
):
    register_type(_caster)

_TEXT_CASTS = (UNICODE, STRING, UNKNOWN)


# -- what each column of a result needs --

#: ``[(column index, finish)]``: ``finish(values of the column, cursor)`` returns the column's
#: finished values, or None when they stay as wasmpg made them.
Plan = list[tuple[int, Finish]]


def _to_text(oid: int) -> Finish:
    def finish(values: list[Any], cur: Any) -> Optional[list[Any]]:
        return [None if v is None else text_of(oid, v) for v in values]

    return finish


def _with_cast(caster: Typecaster) -> Finish:
    cast = caster._cast

    def finish(values: list[Any], cur: Any) -> Optional[list[Any]]:
        return [cast(v, cur) for v in values]

    return finish


def _with_text_cast(caster: Typecaster, oid: int) -> Finish:
    cast = caster._cast

    def finish(values: list[Any], cur: Any) -> Optional[list[Any]]:
        return [cast(None if v is None else text_of(oid, v), cur) for v in values]

    return finish


def column_plan(cur: Any, type_codes: Any) -> Plan:
    """``[(column index, finish)]`` for the columns whose wasmpg values need finishing. The
    plan depends on the casters in scope and on what wasmpg converts, not on the cursor
    otherwise (``finish`` gets the cursor when called: its ``tzinfo_factory`` then)."""
    plan: Plan = []
    # What the wasmpg connection underneath converts: its own adapters (the compat connection
    # keeps some types as text there), else the process-wide ones.
    wconn = getattr(getattr(cur, "_conn", None), "_w", None)
    loaders = wconn.adapters if wconn is not None else _adapters
    for i, oid in enumerate(type_codes):
        caster = lookup_caster(cur, oid)
        converted = loaders.loader_for(oid) is not None
        if caster is None:
            if converted:
                plan.append((i, _to_text(oid)))
        elif not converted:
            if caster not in _TEXT_CASTS or caster._cast is not _identity_cast:
                plan.append((i, _with_cast(caster)))
        else:
            native = caster.native
            if native is KEEP:
                continue
            if native is not None:
                plan.append((i, _finish_native(native)))
            else:
                plan.append((i, _with_text_cast(caster, oid)))
    return plan


def plan_for(cur: Any, shape: Any, type_codes: Any) -> Plan:
    """`column_plan` for a result of ``shape`` (an object standing for the result's columns:
    wasmpg's description, the same object for every result of the same columns), remembered
    by the cursor's connection while no caster is registered or removed anywhere
    (`_generation`) and wasmpg's loaders stay the same. A cursor with casters of its own, or a
    connection whose ``string_types`` is not a `Casters` map, gets a plan made anew."""
    conn = getattr(cur, "_conn", None)
    plans = getattr(conn, "_plans", None)
    if (
        plans is None
        or cur.string_types
        or type(getattr(conn, "string_types", None)) is not Casters
        or type(string_types) is not Casters
    ):
        return column_plan(cur, type_codes)
    wconn = getattr(conn, "_w", None)
    key = (id(shape), _generation[0], wconn.adapters.version if wconn is not None else 0)
    hit = plans.get(key)
    if hit is not None and hit[0] is shape:
        plan: Plan = hit[1]
        return plan
    plan = column_plan(cur, type_codes)
    if len(plans) >= 256:
        plans.clear()
    plans[key] = (shape, plan)  # the shape is kept alive: its id is not reused meanwhile
    return plan


def finish_rows(cur: Any, plan: Plan, rows: list[Any]) -> list[Any]:
    """The rows of one fetch (a list the caller owns) with the plan applied, column by column:
    ``rows`` itself when no value changes, else new tuples."""
    if not plan or not rows:
        return rows
    changed: Optional[dict[int, list[Any]]] = None
    for i, finish in plan:
        column = finish(list(map(itemgetter(i), rows)), cur)
        if column is not None:
            if changed is None:
                changed = {}
            changed[i] = column
    if changed is None:
        return rows
    columns: list[Any] = list(zip(*rows))
    for i, column in changed.items():
        columns[i] = column
    return list(zip(*columns))


def cast_value(cur: Any, oid: int, value: Optional[str]) -> Any:
    """``cursor.cast(oid, text)``: the text cast as a result value of type ``oid`` would be."""
    caster = lookup_caster(cur, oid)
    if caster is None:
        return value
    return caster(value, cur)


def check_typecaster(obj: Any) -> Typecaster:
    if not isinstance(obj, Typecaster):
        raise ProgrammingError("not a typecaster: %r" % (obj,))
    return obj
