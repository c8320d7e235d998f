"""Arrays, both ways.

Canonical form (``docs/design.md``): a JSON list, nested once per dimension (lower bounds are
dropped), each element the JSON string of the element's canonical form, or ``null``. So an
array result is ``json.loads`` plus the element type's loader applied to the leaves, and an
array parameter is the same JSON built from the elements' canonical forms.

A ``list`` parameter is an array. Its element type is the type of the first non-None element
(integers widen across elements: int4, then int8, then numeric; integers mixed with floats or
Decimals are sent as numeric). A list with no non-None element is sent as an untyped array
literal (``'{}'``, ``'{NULL}'``...) and the server infers its type.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Optional

from ..errors import ProgrammingError
from . import oids

_NUMERIC_RANK = {oids.INT4: 0, oids.INT8: 1, oids.NUMERIC: 2, oids.FLOAT8: 3}


def make_loader(element: Optional[Callable[[str], Any]]) -> Callable[[str], Any]:
    """A loader for an array whose elements are loaded by ``element`` (None: strings)."""
    loads = json.loads
    if element is None:
        return loads

    def convert(value: Any) -> Any:
        if type(value) is list:
            return [None if v is None else convert(v) for v in value]
        return element(value)

    def load(text: str) -> Any:
        return convert(loads(text))

    return load


def _merge(a: int, b: int, value: Any) -> int:
    if a == b:
        return a
    if a in _NUMERIC_RANK and b in _NUMERIC_RANK:
        if oids.FLOAT8 in (a, b):
            return oids.NUMERIC
        return a if _NUMERIC_RANK[a] > _NUMERIC_RANK[b] else b
    raise ProgrammingError(
        "cannot send a list mixing element types as one array (element %r)" % (value,)
    )


def _has_leaf(value: list[Any]) -> bool:
    return any(type(v) is not list or _has_leaf(v) for v in value)


def _untyped_literal(value: list[Any]) -> str:
    """The array literal of a list holding only NULLs (and lists); a list with no element at
    all, however nested (``[[]]``), is the empty array ``{}``: PostgreSQL has no empty
    sub-arrays."""
    if not _has_leaf(value):
        return "{}"
    return "{" + ",".join(_untyped_literal(v) if type(v) is list else "NULL" for v in value) + "}"


def dump_list(
    value: list[Any], dump: Callable[[Any], tuple[int, Optional[str]]]
) -> tuple[int, str]:
    """(array type oid, canonical JSON) of a (nested) list; ``dump`` adapts the leaves."""
    element_oid: list[Optional[int]] = [None]

    def walk(v: Any) -> Any:
        if v is None:
            return None
        if isinstance(v, list):
            return [walk(x) for x in v]
        if isinstance(v, tuple):
            raise ProgrammingError(
                "cannot send a tuple inside an array parameter; use a list (element %r)" % (v,)
            )
        oid, text = dump(v)
        current = element_oid[0]
        element_oid[0] = oid if current is None else _merge(current, oid, v)
        return text

    leaves = walk(value)
    oid = element_oid[0]
    if oid is None:
        return 0, _untyped_literal(value)
    if oid == 0:
        oid = oids.TEXT
    array = oids.ARRAY_OF.get(oid)
    if array is None:
        # An element type whose arrays the guest does not convert (inet, cidr, ...): the
        # server's own array syntax, declared unknown, so the context (a cast, the column)
        # gives its type.
        return 0, _text_literal(leaves)
    return array, json.dumps(leaves, separators=(",", ":"))


def _text_literal(value: Any) -> str:
    """Nested lists of element texts (or None) in PostgreSQL's array input syntax."""
    if value is None:
        return "NULL"
    if isinstance(value, list):
        return "{" + ",".join(_text_literal(v) for v in value) + "}"
    text = str(value)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


# -- arrays the guest does not convert: the server's text form --


def make_text_loader(element: Callable[[str], Any]) -> Callable[[str], Any]:
    """A loader for an array type the guest passes through as the server prints it
    (``{a,"b c",NULL,{d}}``, with an optional ``[1:2]=`` bounds decoration): nested lists, each
    element loaded by ``element``."""

    def load(text: str) -> Any:
        return parse_text(text, element)

    return load


def parse_text(text: str, element: Callable[[str], Any]) -> Any:
    """PostgreSQL's array syntax to nested lists (ValueError if malformed): elements loaded by
    ``element``, ``NULL`` (any case, unquoted) as None; whitespace around elements is ignored,
    as PostgreSQL's array input does."""
    if text.startswith("["):  # bounds: [1:2][1:3]={...}
        eq = text.find("=")
        if eq < 0:
            raise ValueError("malformed array literal: %r" % text)
        text = text[eq + 1 :]
    value, end = _parse_level(text, _skip(text, 0), element)
    if _skip(text, end) != len(text):
        raise ValueError("malformed array literal: %r" % text)
    return value


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i].isspace():
        i += 1
    return i


def _parse_level(text: str, i: int, element: Callable[[str], Any]) -> tuple[list[Any], int]:
    if i >= len(text) or text[i] != "{":
        raise ValueError("malformed array literal: %r" % text)
    out: list[Any] = []
    i = _skip(text, i + 1)
    if i < len(text) and text[i] == "}":
        return out, i + 1
    while i < len(text):
        c = text[i]
        if c == "{":
            sub, i = _parse_level(text, i, element)
            out.append(sub)
        elif c == '"':
            j = i + 1
            chars = []
            while j < len(text) and text[j] != '"':
                if text[j] == "\\":
                    j += 1
                if j < len(text):
                    chars.append(text[j])
                j += 1
            if j >= len(text):
                raise ValueError("malformed array literal: %r" % text)
            out.append(element("".join(chars)))
            i = j + 1
        else:
            j = i
            while j < len(text) and text[j] not in ",}":
                j += 1
            raw = text[i:j].strip()
            if not raw:
                raise ValueError("malformed array literal: %r" % text)
            out.append(None if raw.upper() == "NULL" else element(raw))
            i = j
        i = _skip(text, i)
        if i < len(text) and text[i] == ",":
            i = _skip(text, i + 1)
            continue
        if i < len(text) and text[i] == "}":
            return out, i + 1
        raise ValueError("malformed array literal: %r" % text)
    raise ValueError("malformed array literal: %r" % text)
