"""bool, integers, floats and numeric, both ways.

Canonical forms (``docs/design.md``): bool ``t``/``f``; integers decimal; float4/float8 the
shortest exact decimal or ``NaN``/``Infinity``/``-Infinity``; numeric the exact decimal or
``NaN``/``Infinity``/``-Infinity``.

Parameters: an ``int`` is declared like an SQL integer literal of the same value would be typed:
int4 if it fits, else int8, else numeric. A ``float`` is float8 (``nan`` and ``inf`` included),
a ``Decimal`` numeric (sNaN is refused), a ``bool`` bool.
"""

from __future__ import annotations

import math
from decimal import Decimal

from ..errors import DataError
from . import oids

INT4_MIN, INT4_MAX = -(2**31), 2**31 - 1
INT8_MIN, INT8_MAX = -(2**63), 2**63 - 1

# -- loaders (canonical text -> Python) --

load_bool = {"t": True, "f": False}.__getitem__
load_int = int
load_float = float  # float() reads "NaN", "Infinity" and "-Infinity"
load_numeric = Decimal  # so does Decimal()


# -- dumpers (Python -> (type oid, canonical text)) --


def int_oid(value: int) -> int:
    if INT4_MIN <= value <= INT4_MAX:
        return oids.INT4
    if INT8_MIN <= value <= INT8_MAX:
        return oids.INT8
    return oids.NUMERIC


def dump_int(value: int) -> tuple[int, str]:
    value = int(value)  # IntEnum and other subclasses: the plain number
    # `int_oid`, inline: a bound integer runs this every round trip.
    if INT4_MIN <= value <= INT4_MAX:
        return oids.INT4, str(value)
    return int_oid(value), str(value)


def dump_bool(value: bool) -> tuple[int, str]:
    return oids.BOOL, "t" if value else "f"


def float_text(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(float(value))


def dump_float(value: float) -> tuple[int, str]:
    return oids.FLOAT8, float_text(value)


def decimal_text(value: Decimal) -> str:
    if value.is_nan():
        if value.is_snan():
            raise DataError("cannot send a signaling NaN (Decimal('sNaN')) as numeric")
        return "NaN"
    if value.is_infinite():
        return "Infinity" if value > 0 else "-Infinity"
    return str(value)


def dump_decimal(value: Decimal) -> tuple[int, str]:
    return oids.NUMERIC, decimal_text(value)
