"""Adaptation between Python values and the canonical forms of ``docs/design.md``.

* ``loader_for(oid)`` chooses the function that turns a column's canonical text into a Python
  value (None: the text itself), once per result column.
* ``dump(value)`` turns a parameter into ``(type oid, canonical text)``, the type OID being what
  the driver declares to the server (0 lets the server infer it).

=====================  ==========================  ====================================
PostgreSQL             Python (results)            parameters
=====================  ==========================  ====================================
bool                   bool                        bool
int2, int4, int8, oid  int                         int (int4, int8 or numeric by value)
float4, float8         float                       float (float8)
numeric                Decimal                     Decimal
text types, unknown    str                         str (declared unknown)
bytea                  bytes                       bytes, bytearray, memoryview
date                   date                        date
time / timetz          time (naive / aware)        time (naive / aware)
timestamp(tz)          datetime (naive / aware)    datetime (naive / aware)
interval               timedelta                   timedelta
uuid                   UUID                        UUID
json, jsonb            json.loads(...)             Json(obj), Jsonb(obj)
inet                   IPv4Address, IPv4Interface  ipaddress addresses, interfaces
cidr                   IPv4Network (and v6)        ipaddress networks
enums, other types     str                         Enum: its name (IntEnum, str enums: value)
arrays of the above    (nested) list               list
=====================  ==========================  ====================================
"""

from __future__ import annotations

import datetime as _pydt
import enum
import ipaddress
import itertools
import uuid
from decimal import Decimal
from typing import Any, Callable, Optional

from ..errors import ProgrammingError
from . import array as _array
from . import datetime as _dt
from . import net as _net
from . import numeric as _num
from . import oids
from . import string as _str
from .json import Json, Jsonb, load_json

__all__ = ["AdaptersMap", "adapters", "loader_for", "dump", "Json", "Jsonb", "oids"]

Loader = Optional[Callable[[str], Any]]

_LOADERS: dict[int, Loader] = {
    oids.BOOL: _num.load_bool,
    oids.INT2: int,
    oids.INT4: int,
    oids.INT8: int,
    oids.OID: int,
    oids.FLOAT4: float,
    oids.FLOAT8: float,
    oids.NUMERIC: Decimal,
    oids.BYTEA: _str.load_bytea,
    oids.DATE: _dt.load_date,
    oids.TIME: _dt.load_time,
    oids.TIMETZ: _dt.load_timetz,
    oids.TIMESTAMP: _dt.load_timestamp,
    oids.TIMESTAMPTZ: _dt.load_timestamptz,
    oids.INTERVAL: _dt.load_interval,
    oids.UUID: _str.load_uuid,
    oids.JSON: load_json,
    oids.JSONB: load_json,
    oids.INET: _net.load_inet,
    oids.CIDR: _net.load_cidr,
    # Arrays the guest passes through in the server's text form.
    oids.INET_ARRAY: _array.make_text_loader(_net.load_inet),
    oids.CIDR_ARRAY: _array.make_text_loader(_net.load_cidr),
}


# Loaders for the common case only: they may raise ValueError on values the careful loader
# handles (infinity, BC dates, 24:00:00), and the row converter then redoes the batch with
# ``loader_for``'s loaders. On CPython they are the C-coded ``fromisoformat`` methods, which
# read the canonical forms exactly.
_FAST: dict[int, Loader] = {
    oids.DATE: _dt._date_fast,
    oids.TIME: _dt._time_fast,
    oids.TIMETZ: _pydt.time.fromisoformat if _dt._CPYTHON else _dt.load_timetz,
    oids.TIMESTAMP: _dt._timestamp_fast,
    oids.TIMESTAMPTZ: _pydt.datetime.fromisoformat if _dt._CPYTHON else _dt._load_timestamptz_py,
}


def _dump_json(value: Json) -> tuple[int, str]:
    return value.dump()


def _refuse_dict(value: Any) -> tuple[int, str]:
    raise ProgrammingError(
        "cannot adapt a dict as a parameter: wrap it in wasmpg.Json() or wasmpg.Jsonb()"
    )


def _refuse_tuple(value: Any) -> tuple[int, str]:
    raise ProgrammingError(
        "cannot adapt a tuple as a parameter: values are bound server-side, so use a list "
        "(an array), e.g. 'WHERE x = ANY(%s)' with [1, 2, 3]"
    )


_DUMPERS: dict[type, Callable[[Any], tuple[int, str]]] = {
    str: _str.dump_str,
    int: _num.dump_int,
    bool: _num.dump_bool,
    float: _num.dump_float,
    Decimal: _num.dump_decimal,
    bytes: _str.dump_bytes,
    bytearray: _str.dump_bytes,
    memoryview: _str.dump_bytes,
    _pydt.date: _dt.dump_date,
    _pydt.datetime: _dt.dump_datetime,
    _pydt.time: _dt.dump_time,
    _pydt.timedelta: _dt.dump_timedelta,
    uuid.UUID: _str.dump_uuid,
    Json: _dump_json,
    Jsonb: _dump_json,
    dict: _refuse_dict,
    tuple: _refuse_tuple,
    ipaddress.IPv4Address: _net.dump_inet,
    ipaddress.IPv6Address: _net.dump_inet,
    ipaddress.IPv4Interface: _net.dump_inet,
    ipaddress.IPv6Interface: _net.dump_inet,
    ipaddress.IPv4Network: _net.dump_cidr,
    ipaddress.IPv6Network: _net.dump_cidr,
}


Dumper = Callable[[Any], tuple[int, str]]

_versions = itertools.count(1)


class AdaptersMap:
    """Which function converts each type (psycopg 3's adapters): loaders, a type OID's canonical
    text to a Python value, and dumpers, a Python class's values to ``(type oid, canonical
    text)``. The process-wide map is `adapters` (``wasmpg.adapters``); a connection's
    ``conn.adapters`` and a cursor's ``cur.adapters`` start as copies of the map above them,
    made when first used, so a registration there changes only that connection (or cursor)."""

    __slots__ = ("_loaders", "_dumpers", "_resolved", "version")

    _loaders: dict[int, Loader]
    _dumpers: dict[type, Dumper]
    _resolved: dict[type, Dumper]
    version: int

    def __init__(self, template: Optional[AdaptersMap] = None) -> None:
        if template is None:
            self._loaders = dict(_LOADERS)
            dumpers: dict[type, Dumper] = dict(_DUMPERS)
        else:
            self._loaders = dict(template._loaders)
            dumpers = {}
            for cls, fn in template._dumpers.items():
                # The map's own recursive dumpers (lists, enums) are rebound to this map.
                if getattr(fn, "__self__", None) is template:
                    fn = getattr(self, fn.__name__)
                dumpers[cls] = fn
        if template is None:
            dumpers[list] = self._dump_list
        self._dumpers = dumpers  # as registered
        # Every class seen, with the dumper found for it (its own, or its nearest base's).
        self._resolved = dict(dumpers)
        self.version = next(_versions)  # changes with every registration (cache keys)

    # -- registration --

    def register_loader(self, oid: int, loader: Loader) -> None:
        """Loads values of type ``oid`` with ``loader(canonical text)`` (None: the text as a
        str). Arrays of that type use it for their elements."""
        self._loaders[oid] = loader
        self.version = next(_versions)

    def register_dumper(self, cls: type, dumper: Dumper) -> None:
        """Adapts parameters of class ``cls`` (and its subclasses without a dumper of their
        own) with ``dumper(value) -> (type oid, canonical text)``; oid 0 lets the server
        infer the type."""
        self._dumpers[cls] = dumper
        self._resolved = dict(self._dumpers)
        self.version = next(_versions)

    # -- use --

    def loader_for(self, oid: int) -> Loader:
        """The loader for values of type ``oid``; None means the canonical text as a str."""
        element = oids.ARRAY_ELEMENT.get(oid)
        if element is not None:
            return _array.make_loader(self._loaders.get(element))
        return self._loaders.get(oid)

    def fast_loader_for(self, oid: int) -> Loader:
        """A loader for the common values of ``oid`` (see ``_FAST``); else `loader_for`'s."""
        if oid in _FAST and self._loaders.get(oid) is _LOADERS.get(oid):
            return _FAST[oid]
        return self.loader_for(oid)

    def dumper_for(self, cls: type) -> Dumper:
        """The dumper of a class: exact match first, then the nearest base class."""
        fn = self._resolved.get(cls)
        if fn is not None:
            return fn
        dumpers = self._dumpers
        fn = dumpers.get(cls)
        if fn is None and issubclass(cls, enum.Enum):
            fn = self._dump_enum
        if fn is None:
            for base in cls.__mro__[1:]:
                fn = dumpers.get(base)
                if fn is not None:
                    break
            else:
                raise ProgrammingError("cannot adapt a parameter of type %s" % cls.__name__)
        self._resolved[cls] = fn
        return fn

    def dump(self, value: Any) -> tuple[int, Optional[str]]:
        """``(type oid, canonical text)`` of a parameter; None is ``(0, None)`` (NULL)."""
        if value is None:
            return 0, None
        fn = self._resolved.get(type(value))
        if fn is None:
            fn = self.dumper_for(type(value))
        return fn(value)

    def _dump_list(self, value: Any) -> tuple[int, str]:
        return _array.dump_list(value, self.dump)

    def _dump_enum(self, value: Any) -> tuple[int, str]:
        """An Enum member: its value for int and str enums (IntEnum, ``class E(str, Enum)``),
        else its name, declared unknown so the server casts it to the column's enum type
        (psycopg 3)."""
        inner = value._value_
        if isinstance(value, (int, str)):
            oid, text = self.dump(inner)
            if text is not None:
                return oid, text
        return 0, str(value.name)


#: The process-wide adapters: the template of every connection's.
adapters = AdaptersMap()


def loader_for(oid: int) -> Loader:
    """The process-wide loader for values of type ``oid`` (see `AdaptersMap.loader_for`)."""
    return adapters.loader_for(oid)


def fast_loader_for(oid: int) -> Loader:
    return adapters.fast_loader_for(oid)


def dump(value: Any) -> tuple[int, Optional[str]]:
    """``(type oid, canonical text)`` of a parameter with the process-wide adapters."""
    return adapters.dump(value)


def register_loader(oid: int, loader: Loader) -> None:
    """Replaces the process-wide loader of a type OID (None: return the canonical text); for
    one connection, ``conn.adapters.register_loader``."""
    adapters.register_loader(oid, loader)


def register_dumper(cls: type, dumper: Dumper) -> None:
    """Adapts instances of ``cls`` as parameters, process-wide: ``dumper(value) -> (oid,
    canonical text)``; for one connection, ``conn.adapters.register_dumper``."""
    adapters.register_dumper(cls, dumper)
