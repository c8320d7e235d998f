"""A psycopg2-compatible layer on wasmpg: ``compat.register()`` installs modules in
``sys.modules`` so that ``import psycopg2`` (and ``psycopg2.extensions``, ``.extras``,
``.errors``, ``.errorcodes``, ``.sql``, ``.pool``, ``.tz``) gives psycopg2's API and behaviour
on wasmpg connections, as psycopg2cffi did: Django's ``postgresql`` backend and SQLAlchemy's
``postgresql+psycopg2`` dialect run unchanged, on CPython and PyPy.

>>> from wasmpg import compat
>>> compat.register()
>>> import psycopg2                                             # doctest: +SKIP
>>> conn = psycopg2.connect("host=localhost dbname=app")       # doctest: +SKIP

What it follows from psycopg2 (2.9): client-side merging of parameters with psycopg2's
quoting (``cursor.mogrify`` and ``cursor.query`` are bytes), ``BEGIN`` before the first
statement outside autocommit mode, results held client-side and typecast as psycopg2 does
(bytea as ``memoryview``, uuid as ``str`` until ``extras.register_uuid()``, json parsed,
inet as ``str``, ``tzinfo_factory`` on timestamptz, ranges as ``extras`` ranges), named
cursors as ``DECLARE``/``FETCH``, COPY through ``copy_expert``/``copy_from``/``copy_to``,
typecasters by connection, cursor or globally. Not supported: asynchronous connections and
wait callbacks, large objects, replication, ``fileno()``, client encodings other than UTF8.

Modules: ``psycopg2`` (the top level), ``extensions``, ``extras``, ``errors``, ``errorcodes``,
``sql``, ``pool``, ``tz``, and the internals ``_connection``, ``_cursor``, ``_adapt``
(Python to SQL), ``_typecast`` (SQL to Python), ``_json``, ``_range``, ``_dsn``.
"""

from __future__ import annotations

import sys
from types import ModuleType

__all__ = ["register", "unregister", "modules"]


def modules() -> dict[str, ModuleType]:
    """The modules `register` installs, by the name they are installed under."""
    from . import _json, _range, errorcodes, errors, extensions, extras, pool, psycopg2, sql, tz

    mapping = {
        "psycopg2": psycopg2,
        "psycopg2.extensions": extensions,
        "psycopg2.extras": extras,
        "psycopg2.errors": errors,
        "psycopg2.errorcodes": errorcodes,
        "psycopg2.sql": sql,
        "psycopg2.pool": pool,
        "psycopg2.tz": tz,
        "psycopg2._psycopg": extensions,
        "psycopg2._range": _range,
        "psycopg2._json": _json,
    }
    return mapping


def register(force: bool = False) -> None:
    """Makes ``import psycopg2`` (and its submodules) give this layer. If the real psycopg2
    was already imported, raises RuntimeError unless ``force`` (which replaces it for later
    imports; modules that already hold the real one keep it)."""
    current = sys.modules.get("psycopg2")
    mapping = modules()
    if current is not None and current is not mapping["psycopg2"] and not force:
        raise RuntimeError(
            "psycopg2 is already imported (%r): call wasmpg.compat.register() before any "
            "import of psycopg2, or pass force=True" % getattr(current, "__file__", current)
        )
    sys.modules.update(mapping)


def unregister() -> None:
    """Removes the modules `register` installed (a later ``import psycopg2`` finds the real
    one, if installed)."""
    for name, module in modules().items():
        if sys.modules.get(name) is module:
            del sys.modules[name]
