"""The Python package's type OIDs against the one table the guest and the Rust host use,
``wire/src/oid.rs``: every OID named there has the same number here, and every array type named
there maps to its element type in ``ARRAY_ELEMENT``.

Needs no database and no component.
"""

from __future__ import annotations

import os
import re

from wasmpg.types import oids

_WIRE = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "wire", "src", "oid.rs"
)

with open(_WIRE, encoding="utf-8") as _f:
    _TABLE = {
        name: int(value)
        for name, value in re.findall(r"pub const ([A-Z0-9_]+): u32 = (\d+);", _f.read())
    }


def test_the_wire_table_was_read():
    assert len(_TABLE) >= 40
    assert _TABLE["INT4"] == 23


def test_scalar_oids_agree():
    for name, value in _TABLE.items():
        if name.endswith("_ARRAY"):
            continue
        assert getattr(oids, name) == value, name


def test_array_oids_map_to_their_elements():
    arrays = {
        name[: -len("_ARRAY")]: value for name, value in _TABLE.items() if name.endswith("_ARRAY")
    }
    assert set(oids.ARRAY_ELEMENT) == set(arrays.values())
    for element, array in arrays.items():
        assert oids.ARRAY_ELEMENT[array] == getattr(oids, element), element
        assert oids.ARRAY_OF[getattr(oids, element)] == array
