"""``pyformat`` placeholders to PostgreSQL's ``$1..$n``, client-side, by a scanner that knows
SQL's lexical structure.

Outside string literals, quoted identifiers, dollar-quoted strings and comments:

* ``%s`` is the next positional parameter; ``%(name)s`` a named one (the same name is the same
  ``$n`` everywhere); one query uses one style;
* ``%%`` is a literal ``%``;
* any other ``%`` is an error (ProgrammingError), so a typo never reaches the server.

Inside those regions nothing is substituted: ``'%s'`` stays the two characters ``%s``, and a
lone ``%`` is fine (``LIKE 'a%'``). For compatibility with psycopg2-style queries, which must
double every ``%`` when parameters are given, ``%%`` is still reduced to ``%`` there too.

Recognised regions: ``'...'`` (``''`` escapes a quote; with an ``E`` prefix, backslash escapes
too), ``"..."`` (``""`` escapes), ``$tag$...$tag$`` (a ``$`` that starts a token; ``$1`` is not
a dollar quote), ``-- ...`` to the end of the line, and ``/* ... */`` (nested).

Values are bound server-side; only `interpolate` (for COPY statements and `ClientCursor`)
merges them into the text, as quoted literals.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Callable, Union

from .errors import ProgrammingError

__all__ = ["convert", "bind", "interpolate"]

_SPECIAL = re.compile(r"""['"$%]|--|/\*""")
_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_\u0080-\U0010ffff][A-Za-z0-9_\u0080-\U0010ffff]*)?\$")

Spec = Union[int, tuple[str, ...]]
_cache: dict[str, tuple[str, Spec]] = {}
_CACHE_MAX = 512


def _ident_char(c: str) -> bool:
    return c.isalnum() or c == "_" or c == "$" or ord(c) > 127


def _end_of_quoted(q: str, start: int, quote: str, backslash: bool) -> int:
    """The index after the closing quote of the literal opened at ``start`` (or len(q))."""
    n = len(q)
    i = start + 1
    while i < n:
        c = q[i]
        if backslash and c == "\\":
            i += 2
            continue
        if c == quote:
            if i + 1 < n and q[i + 1] == quote:
                i += 2
                continue
            return i + 1
        i += 1
    return n


def _end_of_block_comment(q: str, start: int) -> int:
    depth = 0
    i = start
    n = len(q)
    while i < n:
        if q.startswith("/*", i):
            depth += 1
            i += 2
        elif q.startswith("*/", i):
            depth -= 1
            i += 2
            if depth == 0:
                return i
        else:
            i += 1
    return n


def _dollar(n: int) -> str:
    return "$%d" % n


def _scan(q: str, placeholder: Callable[[int], str] = _dollar) -> tuple[str, Spec]:
    out: list[str] = []
    pos = 0  # start of the text not yet copied to out
    i = 0
    positional = 0
    names: dict[str, int] = {}
    order: list[str] = []
    n = len(q)
    while True:
        m = _SPECIAL.search(q, i)
        if m is None:
            break
        j = m.start()
        tok = m.group()
        if tok == "%":
            out.append(q[pos:j])
            nxt = q[j + 1 : j + 2]
            if nxt == "%":
                out.append("%")
                pos = i = j + 2
            elif nxt == "s":
                if names:
                    raise ProgrammingError(
                        "the query mixes %s and %(name)s placeholders; use one style"
                    )
                positional += 1
                out.append(placeholder(positional))
                pos = i = j + 2
            elif nxt == "(":
                k = q.find(")", j + 2)
                if k < 0 or q[k + 1 : k + 2] != "s":
                    raise ProgrammingError(
                        "incomplete placeholder at character %d: expected %%(name)s" % (j + 1)
                    )
                if positional:
                    raise ProgrammingError(
                        "the query mixes %s and %(name)s placeholders; use one style"
                    )
                name = q[j + 2 : k]
                index = names.get(name)
                if index is None:
                    order.append(name)
                    index = names[name] = len(order)
                out.append(placeholder(index))
                pos = i = k + 2
            else:
                shown = q[j : j + 2] if nxt else "%"
                raise ProgrammingError(
                    "unsupported placeholder %r at character %d: only %%s and %%(name)s are "
                    "placeholders; write %%%% for a literal %%" % (shown, j + 1)
                )
            continue
        if tok == "'":
            backslash = j > 0 and q[j - 1] in "eE" and (j == 1 or not _ident_char(q[j - 2]))
            end = _end_of_quoted(q, j, "'", backslash)
        elif tok == '"':
            end = _end_of_quoted(q, j, '"', False)
        elif tok == "$":
            if j > 0 and _ident_char(q[j - 1]):
                i = j + 1  # inside an identifier such as a$b
                continue
            tag = _DOLLAR_TAG.match(q, j)
            if tag is None:
                i = j + 1  # $1 and friends
                continue
            close = q.find(tag.group(), tag.end())
            end = n if close < 0 else close + len(tag.group())
        elif tok == "--":
            nl = q.find("\n", j)
            end = n if nl < 0 else nl + 1
        else:  # "/*"
            end = _end_of_block_comment(q, j)
        out.append(q[pos:j])
        region = q[j:end]
        out.append(region.replace("%%", "%") if "%%" in region else region)
        pos = i = end
    out.append(q[pos:])
    return "".join(out), (tuple(order) if order else positional)


def convert(query: str) -> tuple[str, Spec]:
    """``(sql with $n placeholders, spec)``: spec is the number of positional parameters, or
    the tuple of parameter names in ``$n`` order. Cached per query text."""
    hit = _cache.get(query)
    if hit is not None:
        return hit
    if not isinstance(query, str):
        raise ProgrammingError("the query must be a str, got %s" % type(query).__name__)
    result = _scan(query) if "%" in query else (query, 0)
    if len(_cache) >= _CACHE_MAX:
        _cache.clear()
    _cache[query] = result
    return result


def bind(spec: Spec, params: Any) -> Sequence[Any]:
    """The parameter values in ``$n`` order, checked against the placeholders."""
    kind = type(params)
    if (kind is tuple or kind is list) and type(spec) is int and len(params) == spec:
        common: Sequence[Any] = params  # the common case, without the checks below
        return common
    if isinstance(spec, tuple):
        if not isinstance(params, Mapping):
            raise ProgrammingError(
                "the query uses %(name)s placeholders: pass a mapping of parameters"
            )
        try:
            return [params[name] for name in spec]
        except KeyError as e:
            raise ProgrammingError("no value for the query parameter %s" % e) from None
    if isinstance(params, (str, bytes, bytearray)) or not isinstance(params, Sequence):
        if isinstance(params, Mapping):
            if spec == 0:
                return ()
            raise ProgrammingError(
                "the query uses %s placeholders: pass a sequence of parameters, not a mapping"
            )
        raise ProgrammingError(
            "parameters must be a sequence (list or tuple) or a mapping, not %s"
            % type(params).__name__
        )
    if len(params) != spec:
        raise ProgrammingError(
            "the query has %d placeholder%s but %d parameter%s given"
            % (
                spec,
                "" if spec == 1 else "s",
                len(params),
                " was" if len(params) == 1 else "s were",
            )
        )
    seq: Sequence[Any] = params  # a sequence: checked above
    return seq


def _marker(n: int) -> str:
    return "\x00%d\x00" % n


def interpolate(query: str, params: Any, literal: Callable[[Any], str]) -> str:
    """The query with its placeholders replaced by ``literal(value)`` (client-side binding),
    and ``%%`` by ``%``. The placeholders are found by the same scanner as `convert`, so a
    ``%s`` inside a string, identifier or comment stays as it is."""
    if not isinstance(query, str):
        raise ProgrammingError("the query must be a str, got %s" % type(query).__name__)
    if "\x00" in query:
        raise ProgrammingError("the query contains a NUL character")
    if "%" not in query:
        bind(0, params)
        return query
    text, spec = _scan(query, _marker)
    values = bind(spec, params)
    parts = text.split("\x00")
    # parts alternate: text, placeholder index, text, ...
    for k in range(1, len(parts), 2):
        parts[k] = literal(values[int(parts[k]) - 1])
    return "".join(parts)
