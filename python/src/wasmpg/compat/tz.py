"""psycopg2's ``tz`` module: ``FixedOffsetTimezone`` (a tzinfo with a fixed UTC offset, cached
per offset and name) and ``LocalTimezone``/``LOCAL`` (the platform's local time zone)."""

from __future__ import annotations

import datetime
import time
from typing import Any, ClassVar, Optional, Union

__all__ = ["FixedOffsetTimezone", "LocalTimezone", "LOCAL", "ZERO"]

ZERO = datetime.timedelta(0)


class FixedOffsetTimezone(datetime.tzinfo):
    """A fixed offset east of UTC: ``offset`` in minutes or a timedelta (None: zero);
    ``name`` is what ``tzname()`` returns (default: ``+HH:MM``-style). Instances are cached:
    the same arguments give the same object."""

    _name: Optional[str] = None
    _offset = ZERO
    _cache: ClassVar[dict[Any, FixedOffsetTimezone]] = {}

    def __init__(
        self, offset: Union[int, datetime.timedelta, None] = None, name: Optional[str] = None
    ) -> None:
        if offset is not None:
            if not isinstance(offset, datetime.timedelta):
                offset = datetime.timedelta(minutes=offset)
            self._offset = offset
        if name is not None:
            self._name = name

    def __new__(
        cls, offset: Union[int, datetime.timedelta, None] = None, name: Optional[str] = None
    ) -> FixedOffsetTimezone:
        key = (offset, name)
        try:
            return cls._cache[key]
        except KeyError:
            tz = super().__new__(cls)
            cls._cache[key] = tz
            return tz

    def __repr__(self) -> str:
        return "psycopg2.tz.FixedOffsetTimezone(offset=%r, name=%r)" % (self._offset, self._name)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FixedOffsetTimezone):
            return self._offset == other._offset
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        if isinstance(other, FixedOffsetTimezone):
            return self._offset != other._offset
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._offset)

    def __getinitargs__(self) -> tuple[Any, ...]:
        return (self._offset, self._name)

    def __reduce__(self) -> Any:
        return (type(self), (self._offset, self._name))

    def utcoffset(self, dt: Optional[datetime.datetime]) -> datetime.timedelta:
        return self._offset

    def tzname(self, dt: Optional[datetime.datetime]) -> str:
        if self._name is not None:
            return self._name
        minutes, seconds = divmod(int(self._offset.total_seconds()), 60)
        hours, minutes = divmod(minutes, 60)
        rv = "%+03d" % hours
        if minutes or seconds:
            rv += ":%02d" % minutes
            if seconds:
                rv += ":%02d" % seconds
        return rv

    def dst(self, dt: Optional[datetime.datetime]) -> datetime.timedelta:
        return ZERO


STDOFFSET = datetime.timedelta(seconds=-time.timezone)
DSTOFFSET = datetime.timedelta(seconds=-time.altzone) if time.daylight else STDOFFSET
DSTDIFF = DSTOFFSET - STDOFFSET


class LocalTimezone(datetime.tzinfo):
    """The platform's idea of local time (the ``time`` module's)."""

    def utcoffset(self, dt: Optional[datetime.datetime]) -> datetime.timedelta:
        return DSTOFFSET if dt is not None and self._isdst(dt) else STDOFFSET

    def dst(self, dt: Optional[datetime.datetime]) -> datetime.timedelta:
        return DSTDIFF if dt is not None and self._isdst(dt) else ZERO

    def tzname(self, dt: Optional[datetime.datetime]) -> str:
        return time.tzname[1 if dt is not None and self._isdst(dt) else 0]

    def _isdst(self, dt: datetime.datetime) -> bool:
        tt = (dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second, dt.weekday(), 0, -1)
        stamp = time.mktime(tt)
        return time.localtime(stamp).tm_isdst > 0


LOCAL = LocalTimezone()
