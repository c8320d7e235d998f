"""json and jsonb.

Results: parsed with ``json.loads`` (the canonical form is the server's text). Parameters: wrap
the object in :class:`Json` (declared json) or :class:`Jsonb` (declared jsonb). A plain dict is
refused, and a plain list is an ARRAY parameter, never JSON: the wrapper makes the intent
explicit (as in psycopg 3).
"""

from __future__ import annotations

import json as _json
from typing import Any, Callable, Optional

from . import oids

__all__ = ["Json", "Jsonb", "load_json"]

load_json = _json.loads


class Json:
    """A parameter sent as ``json``: ``cur.execute("... %s", [Json({"a": 1})])``.

    ``dumps`` replaces ``json.dumps`` (e.g. ``functools.partial(json.dumps, default=str)``).
    """

    oid = oids.JSON

    __slots__ = ("obj", "dumps")

    def __init__(self, obj: Any, dumps: Optional[Callable[[Any], str]] = None) -> None:
        self.obj = obj
        self.dumps = dumps or _json.dumps

    def __repr__(self) -> str:
        return "%s(%r)" % (type(self).__name__, self.obj)

    def dump(self) -> tuple[int, str]:
        return self.oid, self.dumps(self.obj)


class Jsonb(Json):
    """A parameter sent as ``jsonb``."""

    oid = oids.JSONB

    __slots__ = ()
