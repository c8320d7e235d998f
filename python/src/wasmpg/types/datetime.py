"""date, time, timetz, timestamp, timestamptz and interval, both ways.

Canonical forms (``docs/design.md``), identical whatever the session's DateStyle::

    date         YYYY-MM-DD, " BC" suffix before year 1, infinity, -infinity
    time         HH:MM:SS or HH:MM:SS.ffffff
    timetz       time, then +HH:MM or +HH:MM:SS
    timestamp    YYYY-MM-DD HH:MM:SS[.ffffff][ BC], infinity, -infinity
    timestamptz  timestamp with the offset after the time
    interval     "months days microseconds"

These are exactly what Python's ``isoformat()`` prints for in-range values, so on CPython the
C-coded ``fromisoformat`` parses them (it accepts isoformat's output on every version since
3.7; no 3.11 leniency is relied upon). PyPy's ``fromisoformat`` is written in Python and slower
than the slicing parser below, which PyPy uses instead. Both give identical results.

Values Python cannot represent, chosen like psycopg2:

* ``infinity``/``-infinity`` dates and timestamps become ``date.max``/``date.min`` and
  ``datetime.max``/``datetime.min`` (with UTC as tzinfo for timestamptz); as parameters,
  those four values are sent as ``infinity``/``-infinity`` again, so a read-modify-write keeps
  them.
* BC dates and years after 9999 raise DataError when fetched.
* time ``24:00:00`` (valid in PostgreSQL) is returned as ``time.max`` (23:59:59.999999).
* An interval's months count as 30 days and its whole years as 365 (psycopg2, psycopg 3); one
  outside timedelta's range raises DataError.
"""

from __future__ import annotations

import platform
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import Optional

from ..errors import DataError
from . import oids

_CPYTHON = platform.python_implementation() == "CPython"
_UTC = timezone.utc
_tz_cache: dict[str, tzinfo] = {}

MAX_TZ = datetime.max.replace(tzinfo=_UTC)
MIN_TZ = datetime.min.replace(tzinfo=_UTC)


def _tz(text: str) -> tzinfo:
    """``+HH:MM`` or ``+HH:MM:SS`` (or with ``-``) -> a fixed-offset tzinfo, cached."""
    tz = _tz_cache.get(text)
    if tz is None:
        seconds = int(text[1:3]) * 3600 + int(text[4:6]) * 60
        if len(text) > 6:
            seconds += int(text[7:9])
        if text[0] == "-":
            seconds = -seconds
        tz = _UTC if seconds == 0 else timezone(timedelta(seconds=seconds))
        if len(_tz_cache) < 4096:
            _tz_cache[text] = tz
    return tz


def _special_date(text: str, what: str) -> None:
    """Raises the DataError for a value outside Python's date range."""
    if text.endswith(" BC"):
        raise DataError("%s too small (before year 1): %r" % (what, text))
    raise DataError("%s too large (after year 10K) or malformed: %r" % (what, text))


# -- date --


def _load_date_py(text: str) -> date:
    if len(text) == 10 and text[4] == "-":
        return date(int(text[:4]), int(text[5:7]), int(text[8:10]))
    raise ValueError(text)


_date_fast = date.fromisoformat if _CPYTHON else _load_date_py


def load_date(text: str) -> date:
    try:
        return _date_fast(text)
    except ValueError:
        if text == "infinity":
            return date.max
        if text == "-infinity":
            return date.min
        _special_date(text, "date")
        raise  # pragma: no cover - _special_date always raises


# -- time --


def _load_time_py(text: str) -> time:
    n = len(text)
    if n == 8:
        return time(int(text[:2]), int(text[3:5]), int(text[6:8]))
    if n == 15:
        return time(int(text[:2]), int(text[3:5]), int(text[6:8]), int(text[9:15]))
    raise ValueError(text)


_time_fast = time.fromisoformat if _CPYTHON else _load_time_py


def load_time(text: str) -> time:
    try:
        return _time_fast(text)
    except ValueError:
        if text.startswith("24:"):
            return time.max
        raise DataError("malformed time: %r" % text) from None


def _split_offset(text: str, start: int) -> tuple[str, str]:
    """Splits ``<value><offset>`` at the sign of the offset, searching from ``start``."""
    i = text.find("+", start)
    if i < 0:
        i = text.find("-", start)
    if i < 0:
        raise DataError("missing time zone offset: %r" % text)
    return text[:i], text[i:]


def load_timetz(text: str) -> time:
    if _CPYTHON:
        try:
            return time.fromisoformat(text)
        except ValueError:
            pass
    clock, offset = _split_offset(text, 8)
    try:
        t = _load_time_py(clock)
    except ValueError:
        if clock.startswith("24:"):
            return time.max.replace(tzinfo=_tz(offset))
        raise DataError("malformed timetz: %r" % text) from None
    return t.replace(tzinfo=_tz(offset))


# -- timestamp --


def _load_timestamp_py(text: str) -> datetime:
    n = len(text)
    if text[4:5] != "-" or text[10:11] != " ":
        raise ValueError(text)
    if n == 19:
        return datetime(
            int(text[0:4]),
            int(text[5:7]),
            int(text[8:10]),
            int(text[11:13]),
            int(text[14:16]),
            int(text[17:19]),
        )
    if n == 26:
        return datetime(
            int(text[0:4]),
            int(text[5:7]),
            int(text[8:10]),
            int(text[11:13]),
            int(text[14:16]),
            int(text[17:19]),
            int(text[20:26]),
        )
    raise ValueError(text)


_timestamp_fast = datetime.fromisoformat if _CPYTHON else _load_timestamp_py


def load_timestamp(text: str) -> datetime:
    try:
        return _timestamp_fast(text)
    except ValueError:
        if text == "infinity":
            return datetime.max
        if text == "-infinity":
            return datetime.min
        _special_date(text, "timestamp")
        raise  # pragma: no cover


def _load_timestamptz_py(text: str) -> datetime:
    n = len(text)
    if text[4:5] != "-" or text[10:11] != " ":
        raise ValueError(text)
    if n > 26 and text[19] == ".":
        us = int(text[20:26])
        offset = text[26:]
    else:
        us = 0
        offset = text[19:]
    if len(offset) not in (6, 9) or offset[0] not in "+-":
        raise ValueError(text)
    return datetime(
        int(text[0:4]),
        int(text[5:7]),
        int(text[8:10]),
        int(text[11:13]),
        int(text[14:16]),
        int(text[17:19]),
        us,
        _tz(offset),
    )


def _load_timestamptz_c(text: str) -> datetime:
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        raise ValueError(text)
    return dt


_timestamptz_fast = _load_timestamptz_c if _CPYTHON else _load_timestamptz_py


def load_timestamptz(text: str) -> datetime:
    try:
        return _timestamptz_fast(text)
    except ValueError:
        if text == "infinity":
            return MAX_TZ
        if text == "-infinity":
            return MIN_TZ
        _special_date(text, "timestamp")
        raise  # pragma: no cover


# -- interval --


def load_interval(text: str) -> timedelta:
    """``months days microseconds`` as a timedelta: a year is 365 days and a month 30, as
    psycopg2 and psycopg 3 count (the months are split into years and months by magnitude)."""
    try:
        months, days, micros = text.split(" ")
        m = int(months)
        years, rest = divmod(abs(m), 12)
        from_months = years * 365 + rest * 30
        return timedelta(
            days=(from_months if m >= 0 else -from_months) + int(days), microseconds=int(micros)
        )
    except OverflowError:
        raise DataError("interval out of timedelta's range: %r" % text) from None
    except ValueError:
        raise DataError("malformed interval: %r" % text) from None


# -- dumpers --


def dump_date(value: date) -> tuple[int, str]:
    if value == date.max:
        return oids.DATE, "infinity"
    if value == date.min:
        return oids.DATE, "-infinity"
    return oids.DATE, value.isoformat()


def dump_datetime(value: datetime) -> tuple[int, str]:
    offset: Optional[timedelta] = value.utcoffset()
    if offset is None:
        if value == datetime.max:
            return oids.TIMESTAMP, "infinity"
        if value == datetime.min:
            return oids.TIMESTAMP, "-infinity"
        return oids.TIMESTAMP, value.isoformat(" ")
    naive = value.replace(tzinfo=None)
    if naive == datetime.max:
        return oids.TIMESTAMPTZ, "infinity"
    if naive == datetime.min:
        return oids.TIMESTAMPTZ, "-infinity"
    return oids.TIMESTAMPTZ, value.isoformat(" ")


def dump_time(value: time) -> tuple[int, str]:
    if value.utcoffset() is None:
        return oids.TIME, value.replace(tzinfo=None).isoformat()
    return oids.TIMETZ, value.isoformat()


def dump_timedelta(value: timedelta) -> tuple[int, str]:
    return oids.INTERVAL, "0 %d %d" % (value.days, value.seconds * 1000000 + value.microseconds)
