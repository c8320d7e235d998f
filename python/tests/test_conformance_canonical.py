"""The shared canonical-form vectors (conformance/canonical.json) through the Python loaders
(``wasmpg.types.loader_for``): canonical text to the Python value.

Needs no database and no component: run with ``PYTHONPATH=src python3 -m pytest
tests/test_conformance_canonical.py`` from ``python/`` (or against the installed package).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import uuid
from decimal import Decimal
from typing import Any

import pytest

from wasmpg import errors
from wasmpg.types import loader_for

_VECTORS = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "conformance", "canonical.json"
)

with open(_VECTORS, encoding="utf-8") as _f:
    _DOC = json.load(_f)

_CASES = _DOC["cases"]


def test_topic():
    assert _DOC["topic"] == "canonical"


def _check(expected: Any, got: Any, where: str) -> None:
    """Compares a loaded value with its tagged JSON form, type included."""
    if expected is None:
        assert got is None, where
        return
    kind = expected["type"]
    value = expected.get("value")
    if kind == "bool":
        assert got is value, where
    elif kind == "int":
        assert type(got) is int and got == int(value), where
    elif kind == "float":
        assert type(got) is float, where
        want = float(value)
        if math.isnan(want):
            assert math.isnan(got), where
        else:
            assert got == want and math.copysign(1, got) == math.copysign(1, want), where
    elif kind == "decimal":
        assert isinstance(got, Decimal) and str(got) == value, where
    elif kind == "str":
        assert type(got) is str and got == value, where
    elif kind == "bytes":
        assert type(got) is bytes and got == bytes.fromhex(expected["hex"]), where
    elif kind == "uuid":
        assert got == uuid.UUID(value), where
    elif kind == "json":
        assert got == value, where
    elif kind == "date":
        assert type(got) is dt.date and got == dt.date.fromisoformat(value), where
    elif kind == "time":
        want_t = dt.time.fromisoformat(value)
        assert type(got) is dt.time and got == want_t, where
        assert got.utcoffset() == want_t.utcoffset(), where
    elif kind == "datetime":
        want_dt = dt.datetime.fromisoformat(value)
        assert type(got) is dt.datetime and got == want_dt, where
        assert got.utcoffset() == want_dt.utcoffset(), where
    elif kind == "timedelta":
        want_td = dt.timedelta(
            days=expected["days"],
            seconds=expected["seconds"],
            microseconds=expected["microseconds"],
        )
        assert type(got) is dt.timedelta and got == want_td, where
    elif kind == "list":
        assert type(got) is list and len(got) == len(value), where
        for i, (e, g) in enumerate(zip(value, got)):
            _check(e, g, "%s[%d]" % (where, i))
    else:
        raise AssertionError("unknown tag %r in %s" % (kind, where))


@pytest.mark.parametrize("case", _CASES, ids=[c["name"] for c in _CASES])
def test_canonical_vector(case):
    difference = case.get("known_difference")
    if difference is not None:
        pytest.skip("known difference: %s" % difference)
    loader = loader_for(case["input"]["oid"])
    canonical = case["expected"]["canonical"]
    expected = case["expected"]["python"]
    if expected["type"] == "error":
        assert loader is not None
        with pytest.raises(getattr(errors, expected["value"])):
            loader(canonical)
        return
    got = canonical if loader is None else loader(canonical)
    _check(expected, got, case["name"])
