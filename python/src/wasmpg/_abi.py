"""The packed layout of contract ``wasmpg:driver@0.2.0`` (``docs/abi.md``): request encoders
(the string form, for the guest's ``call`` export) and the step decoder.

Everything here uses native string operations (``find``, ``split``, ``partition``, slicing):
one split per step and one per record; fields are unescaped only when U+001B occurs; row
batches stay strings for the cursor's row splitter. A step that does not follow the layout
raises InterfaceError (never IndexError or ValueError).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

from .errors import InterfaceError

__all__ = [
    "VERSION",
    "ColumnInfo",
    "Event",
    "Keepalive",
    "Step",
    "Target",
    "decode_step",
    "escape",
    "unescape",
    "unescape_data",
]

# The contract and layout this module implements (the guest's `version` export).
VERSION = "wasmpg:driver@0.2.0 step/1"

NUL, ESC, GS, RS, US = "\x00", "\x1b", "\x1d", "\x1e", "\x1f"

# The decoded shapes.
ColumnInfo = tuple[str, int, int, int, int, int]  # name, type oid, typmod, table oid, column, size
DbFields = dict[str, Any]  # protocol fields by their wit names (DB_FIELD_NAMES)
GuestError = tuple[str, str, Optional[DbFields]]  # kind, message, server fields or None
Target = tuple[str, Any]  # ("tcp", (host, port)) or ("unix", path)
# The ``o`` action's TCP keepalives: (on, idle seconds, interval seconds, probe count), each
# number None for the system's default; the whole None when the guest sent none.
Keepalive = tuple[bool, Optional[int], Optional[int], Optional[int]]
Event = tuple[str, Any]  # (tag, payload)
Step = tuple[bytes, str, Any, list[Event]]  # bytes to send, action tag, its payload, events

TX_STATUS = {"I": "idle", "T": "in-transaction", "E": "failed"}

# The server's error and notice fields: protocol code -> the name the errors module uses.
DB_FIELD_NAMES = {
    "S": "severity",
    "V": "severity_nonlocalized",
    "C": "code",
    "M": "message",
    "D": "detail",
    "H": "hint",
    "P": "position",
    "p": "internal_position",
    "q": "internal_query",
    "W": "where",
    "s": "schema",
    "t": "table",
    "c": "column",
    "d": "datatype",
    "n": "constraint",
    "F": "file",
    "L": "line",
    "R": "routine",
}
_INT_FIELDS = frozenset("PpL")

ERROR_KINDS = frozenset(
    (
        "db",
        "config",
        "authentication",
        "protocol",
        "message-too-large",
        "encode",
        "decode",
        "usage",
        "closed",
        "tls",
        "connection-refused",
        "host-not-found",
        "policy-denied",
        "io",
        "timeout",
        "trap",
    )
)
FILE_STATUSES = frozenset(("ok", "missing", "denied", "too-open", "unreadable"))

# ---------------------------------------------------------------------------------------------
# Escaping

_UNESCAPE = {"@": NUL, "[": ESC, "]": GS, "^": RS, "_": US}


def escape(text: str) -> str:
    """A value as a field: the five structuring characters as U+001B plus a letter."""
    if ESC not in text and NUL not in text and GS not in text and RS not in text and US not in text:
        return text
    return (
        text.replace(ESC, "\x1b[")
        .replace(NUL, "\x1b@")
        .replace(GS, "\x1b]")
        .replace(RS, "\x1b^")
        .replace(US, "\x1b_")
    )


def unescape(field: str) -> str:
    """Reverses `escape`; an invalid escape is an InterfaceError."""
    if ESC not in field:
        return field
    pieces = field.split(ESC)
    out = [pieces[0]]
    for piece in pieces[1:]:
        if not piece:
            # An empty piece: U+001B at the very end, or two in a row ("\x1b\x1b" is invalid:
            # an escaped U+001B is "\x1b[").
            raise InterfaceError("the guest sent an invalid escape sequence")
        c = _UNESCAPE.get(piece[0])
        if c is None:
            raise InterfaceError("the guest sent an invalid escape sequence %r" % piece[:1])
        out.append(c)
        out.append(piece[1:])
    return "".join(out)


def unescape_data(data: str) -> str:
    """Reverses `escape` without checking the escapes, for the bulk data the guest escaped
    (row batches, COPY data): every U+001B starts a pair, and no pair's second character is
    U+001B, so replacing the pairs one kind at a time (U+001B itself last) is exact."""
    return (
        data.replace("\x1b@", "\x00")
        .replace("\x1b]", "\x1d")
        .replace("\x1b^", "\x1e")
        .replace("\x1b_", "\x1f")
        .replace("\x1b[", "\x1b")
    )


def _field(raw: str) -> Optional[str]:
    if raw == NUL:
        return None
    return unescape(raw) if ESC in raw else raw


def _text(raw: str, what: str) -> str:
    if raw == NUL:
        raise InterfaceError("malformed step: %s is absent" % what)
    return unescape(raw) if ESC in raw else raw


# ---------------------------------------------------------------------------------------------
# Requests (string form: socket bytes as latin-1 characters)


def _pairs(pairs: Sequence[tuple[str, str]]) -> str:
    return "".join([escape(k) + US + escape(v) + US + RS for k, v in pairs])


def _oids(types: Sequence[int]) -> str:
    return ",".join(map(str, types))


def req_init(options: Sequence[tuple[str, str]]) -> str:
    return "n" + GS + _pairs(options)


def req_connect(defaults: Sequence[tuple[str, str]], conninfo: str) -> str:
    return "c" + GS + _pairs(defaults) + GS + conninfo


def req_parse_conninfo(defaults: Sequence[tuple[str, str]], conninfo: str) -> str:
    return "i" + GS + _pairs(defaults) + GS + conninfo


REQ_OPENED = "o"
REQ_EOF = "e"
REQ_TERMINATE = "t"
REQ_CANCEL_TOKEN = "K"
REQ_COPY_DONE = "F"


def req_opened(peer: Optional[str]) -> str:
    """The ``o`` action's connection is open; `peer`: the address connected to
    (``127.0.0.1:5432``, ``[::1]:5432``), which the guest keeps for its cancel token."""
    return "o" if peer is None else "o" + GS + peer


def req_opened_at(peer: Optional[str], now: int) -> str:
    """As `req_opened`, with this host's clock (Unix seconds): the guest has none, and TLS
    validates certificates at this time."""
    return "o" + GS + (peer or "") + GS + str(now)


def req_open_failed(kind: str, reason: str) -> str:
    return "x" + GS + kind + GS + reason


def req_password(password: Optional[str]) -> str:
    return "w" if password is None else "w" + GS + password


def req_file(status: str, text: str) -> str:
    """The answer to a ``f`` action that read nothing: a status (``missing``, ``denied``,
    ``too-open``, ``unreadable``) and its reason."""
    return "y" + GS + status + GS + text


def req_file_bytes(data: bytes) -> str:
    """The answer to a ``f`` action with the file's contents, byte for byte (keys and
    certificates may be DER): latin-1 characters, as `req_data`."""
    return "Y" + data.decode("latin-1")


def req_data(data: bytes) -> str:
    return "d" + data.decode("latin-1")


def req_read(data: bytes) -> str:
    """What a read of the socket gave: its bytes, or (``b""``) the end of the stream."""
    return "d" + data.decode("latin-1") if data else REQ_EOF


def req_copy_data(data: bytes) -> str:
    """COPY FROM STDIN data (the ``i`` action), byte for byte: latin-1 characters, as
    `req_data`."""
    return "D" + data.decode("latin-1")


def req_copy_fail(reason: str) -> str:
    """Aborts COPY FROM STDIN: the server fails it (SQLSTATE 57014) with this reason."""
    return "f" + GS + reason


def req_simple_query(sql: str) -> str:
    return "s" + GS + sql


def req_query(types: Sequence[int], params: str, sql: str) -> str:
    """Extended query: parameter rows in the row-batch layout (escaped), then the SQL."""
    return "q\x1d%s\x1d%s\x1d%s" % (",".join(map(str, types)), params, sql)


def req_prepare(types: Sequence[int], name: str, sql: str) -> str:
    return "P" + GS + _oids(types) + GS + name + GS + sql


def req_execute(params: str, name: str) -> str:
    return "X" + GS + params + GS + name


def req_close_statement(name: str) -> str:
    return "L" + GS + name


def req_cancel(token: str) -> str:
    return "k" + GS + token


# ---------------------------------------------------------------------------------------------
# Steps


def _bad(what: str) -> InterfaceError:
    return InterfaceError("malformed step from the guest: %s" % what)


def _canonical(digits: str) -> bool:
    """ASCII digits without leading zeros: the one spelling a number has (docs/abi.md)."""
    return digits.isdigit() and digits.isascii() and (digits == "0" or digits[0] != "0")


def _uint(raw: str, hi: int, what: str) -> int:
    if not _canonical(raw):
        raise _bad("%s is not a number: %r" % (what, raw[:20]))
    value = int(raw)
    if value > hi:
        raise _bad("%s out of range: %s" % (what, raw[:20]))
    return value


def _sint(raw: str, bits: int, what: str) -> int:
    digits = raw[1:] if raw.startswith("-") else raw
    if not _canonical(digits) or raw == "-0":
        raise _bad("%s is not a number: %r" % (what, raw[:20]))
    value = int(raw)
    if not -(1 << (bits - 1)) <= value < (1 << (bits - 1)):
        raise _bad("%s out of range: %s" % (what, raw[:20]))
    return value


_U16, _U32, _U64 = 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF


def _opt_uint(raw: str, hi: int, what: str) -> Optional[int]:
    return None if raw == NUL else _uint(raw, hi, what)


def _flag(raw: str, what: str) -> bool:
    if raw == "1":
        return True
    if raw == "0":
        return False
    raise _bad("%s is not 0 or 1" % what)


def _keepalive(raw: str) -> Keepalive:
    """``0`` (off), or ``1,IDLE,INTERVAL,COUNT``, each item empty for the system's default."""
    text = _text(raw, "keepalive")
    if text == "0":
        return (False, None, None, None)
    items = text.split(",")
    if len(items) != 4 or items[0] != "1":
        raise _bad("malformed keepalive %r" % text[:40])
    idle, interval, count = [
        None if item == "" else _uint(item, _U32, "keepalive " + what)
        for item, what in zip(items[1:], ("idle", "interval", "count"))
    ]
    return (True, idle, interval, count)


def _target(kind: str, host: str, port: str) -> Target:
    if kind == "t":
        return ("tcp", (_text(host, "host"), _uint(port, _U16, "port")))
    if kind == "u":
        _text(port, "port")
        return ("unix", _text(host, "socket path"))
    raise _bad("unknown target kind %r" % kind[:8])


def _columns(f: list[str], at: int) -> tuple[list[ColumnInfo], int]:
    """Columns starting at f[at] (the count): (columns, index after them)."""
    n = _uint(f[at], len(f), "column count")
    end = at + 1 + 6 * n
    if end > len(f):
        raise _bad("a column count of %d with %d fields left" % (n, len(f) - at - 1))
    cols: list[ColumnInfo] = []
    i = at + 1
    for _ in range(n):
        cols.append(
            (
                _text(f[i], "column name"),
                _uint(f[i + 1], _U32, "type oid"),
                _sint(f[i + 2], 32, "type modifier"),
                _uint(f[i + 3], _U32, "table oid"),
                _sint(f[i + 4], 16, "column number"),
                _sint(f[i + 5], 16, "type size"),
            )
        )
        i += 6
    return cols, end


def _db(fields: list[str]) -> DbFields:
    """Server fields, each its one-letter code then the value."""
    out: DbFields = {}
    for raw in fields:
        if not raw or not raw[0].isalnum() or not raw[0].isascii():
            raise _bad("an error field without its code")
        name = DB_FIELD_NAMES.get(raw[0])
        value = raw[1:]
        if ESC in value:
            value = unescape(value)
        if name is None:
            continue  # a field this driver does not show
        if raw[0] in _INT_FIELDS:
            out[name] = int(value) if value.isdigit() and value.isascii() else None
        else:
            out[name] = value
    return out


def _record(record: str) -> tuple[str, list[str]]:
    f = record.split(US)
    tag = f[0]
    if len(tag) != 1:
        if not tag:
            raise _bad("an empty record")
        raise _bad("record %r: text between the tag and its first field" % tag[:8])
    return tag, f


# Decoded RowDescriptions by their record text: a statement run again describes its result
# with the same text. (The cached lists are shared; consumers never modify them.)
_COLUMNS_SEEN: dict[str, list[ColumnInfo]] = {}


def _event(record: str) -> Event:
    cols = _COLUMNS_SEEN.get(record)
    if cols is not None:
        return ("C", cols)
    tag, f = _record(record)
    n = len(f) - 1
    if tag == "R":
        if n != 2:
            raise _bad("a rows event with %d fields" % n)
        return ("R", (_uint(f[1], _U32, "row count"), _flag(f[2], "escaped"), ""))
    if tag == "D":
        # COPY TO STDOUT data: (encoding, escaped, data); the data is the event's part.
        if n != 2:
            raise _bad("a copy-data event with %d fields" % n)
        if f[1] != "t" and f[1] != "l":
            raise _bad("copy data in the unknown encoding %r" % f[1][:8])
        return ("D", (f[1], _flag(f[2], "escaped"), ""))
    if tag == "K":
        if n != 2:
            raise _bad("a complete event with %d fields" % n)
        return ("K", (_text(f[1], "tag"), _opt_uint(f[2], _U64, "row count")))
    if tag == "C":
        if n < 1:
            raise _bad("a columns event without its count")
        cols, end = _columns(f, 1)
        if end != len(f):
            raise _bad("a columns event with extra fields")
        if len(_COLUMNS_SEEN) >= 256:
            _COLUMNS_SEEN.clear()
        _COLUMNS_SEEN[record] = cols
        return ("C", cols)
    if tag == "E":
        if n < 2:
            raise _bad("an error event without its kind and message")
        kind = _text(f[1], "error kind")
        if kind not in ERROR_KINDS:
            raise _bad("unknown error kind %r" % kind[:30])
        db = (_db(f[3:]) or None) if n > 2 else None
        return ("E", (kind, _text(f[2], "message"), db))
    if tag == "N":
        return ("N", _db(f[1:]))
    if tag == "S":
        if n != 2:
            raise _bad("a parameter event with %d fields" % n)
        return ("S", (_text(f[1], "name"), _text(f[2], "value")))
    if tag == "Q":
        if n:
            raise _bad("an empty-query event with fields")
        return ("Q", None)
    if tag == "P":
        if n < 2:
            raise _bad("a prepared event without its parameters")
        name = _text(f[1], "statement name")
        k = _uint(f[2], n, "parameter count")
        if 3 + k >= len(f):
            raise _bad("a prepared event shorter than its parameter count")
        oids = [_uint(x, _U32, "parameter type") for x in f[3 : 3 + k]]
        cols, end = _columns(f, 3 + k)
        if end != len(f):
            raise _bad("a prepared event with extra fields")
        return ("P", (name, oids, cols))
    if tag == "A":
        if n != 3:
            raise _bad("a notification event with %d fields" % n)
        return (
            "A",
            (_sint(f[1], 32, "process id"), _text(f[2], "channel"), _text(f[3], "payload")),
        )
    if tag == "G" or tag == "H":
        # COPY FROM STDIN (G) or TO STDOUT (H) began: (binary, column count).
        if n != 2:
            raise _bad("a copy event with %d fields" % n)
        return (tag, (_flag(f[1], "binary"), _uint(f[2], _U16, "column count")))
    if tag == "B":
        if n != 1:
            raise _bad("a backend event with %d fields" % n)
        return ("B", _sint(f[1], 32, "process id"))
    if tag == "T":
        if n != 1:
            raise _bad("a cancel-token event with %d fields" % n)
        return ("T", _text(f[1], "token"))
    if tag == "I":
        if n < 7:
            raise _bad("a conninfo event with %d fields" % n)
        k = _uint(f[7], n, "target count")
        if n != 7 + 3 * k:
            raise _bad("a conninfo event with %d fields for %d targets" % (n, k))
        targets = [_target(f[i], f[i + 1], f[i + 2]) for i in range(8, 8 + 3 * k, 3)]
        info = {
            "user": _text(f[1], "user"),
            "dbname": _text(f[2], "dbname"),
            "connect_timeout": _opt_uint(f[3], _U32, "connect timeout"),
            "has_password": _flag(f[4], "has-password"),
            "passfile": _field(f[5]),
            "sslmode": _text(f[6], "sslmode"),
            "targets": targets,
        }
        return ("I", info)
    raise _bad("unknown event %r" % tag)


def _action(record: str) -> tuple[str, Any]:
    tag, f = _record(record)
    n = len(f) - 1
    if tag == "r" or tag == "c" or tag == "i":
        if n:
            raise _bad("action %r with fields" % tag)
        return tag, None
    if tag == "d":
        if n != 1 or f[1] not in TX_STATUS:
            raise _bad("a done action without a transaction status")
        return tag, TX_STATUS[f[1]]
    if tag == "o":
        # The fifth field is the address a cancel request goes to (absent: U+0000); an
        # optional sixth the TCP keepalives.
        if n != 5 and n != 6:
            raise _bad("an open action with %d fields" % n)
        addr = _field(f[5])
        keepalive = _keepalive(f[6]) if n == 6 else None
        return tag, (
            _target(f[1], f[2], f[3]),
            _opt_uint(f[4], _U32, "timeout"),
            addr,
            keepalive,
        )
    if tag == "p":
        if n != 4:
            raise _bad("a need-password action with %d fields" % n)
        return tag, (
            _text(f[1], "host"),
            _uint(f[2], _U16, "port"),
            _text(f[3], "dbname"),
            _text(f[4], "user"),
        )
    if tag == "f":
        if n != 2:
            raise _bad("a need-file action with %d fields" % n)
        return tag, (_text(f[1], "purpose"), _text(f[2], "path"))
    raise _bad("unknown action %r" % tag)


def decode_step(step: str) -> Step:
    """``send-len ":" send action *(RS event) *(GS batch)`` -> (send bytes, action tag, action
    payload, events). A rows event's payload is (count, escaped, batch string); a COPY data
    event's (encoding ``t`` or ``l``, escaped, data string): the parts follow the metadata in
    the order of the ``R`` and ``D`` events."""
    if step.startswith("0:"):
        # Nothing to send (most steps that deliver the server's reply): no number to read.
        send = b""
        end = 2
    else:
        colon = step.find(":")
        if colon <= 0:
            raise _bad("no send length")
        length = step[:colon]
        # `_canonical`, inline: every call into the guest decodes one step.
        if not (length.isdigit() and length.isascii()) or length[0] == "0":
            raise _bad("the send length is not a number")
        start = colon + 1
        end = start + int(length)
        if end > len(step):
            raise _bad("shorter than its send length")
        try:
            send = step[start:end].encode("latin-1")
        except UnicodeEncodeError:
            raise _bad("a send byte above U+00FF") from None
    meta, sep, rest = step[end:].partition(GS)
    seen = _META_SEEN.get(meta)
    if seen is not None:
        # The same metadata decoded before (a statement run again): only the parts differ.
        tag, payload, template, nrows, at = seen
        if not sep:
            if nrows:
                raise _bad("a row batch without its rows event")
            return send, tag, payload, list(template)
        if nrows == 1:
            # One rows (or COPY data) event, at index `at`: the rest is its part.
            if GS in rest:
                raise _bad("a row batch without its rows event")
            events: list[Event] = list(template)
            kind, (count, escaped, _) = template[at]
            events[at] = (kind, (count, escaped, rest))
            return send, tag, payload, events
        batches = rest.split(GS)
        if len(batches) != nrows:
            raise _bad("a row batch without its rows event")
        it = iter(batches)
        events = []
        for ev in template:
            if ev[0] == "R" or ev[0] == "D":
                ev = (ev[0], (ev[1][0], ev[1][1], next(it)))
            events.append(ev)
        return send, tag, payload, events
    batches = rest.split(GS) if sep else []
    records = meta.split(RS)
    tag, payload = _action(records[0])
    events = []
    if len(records) > 1:
        used = 0
        for record in records[1:]:
            ev = _event(record)
            if ev[0] == "R" or ev[0] == "D":
                if used >= len(batches):
                    raise _bad("a rows or copy-data event without its part")
                first, escaped, _ = ev[1]
                ev = (ev[0], (first, escaped, batches[used]))
                used += 1
            events.append(ev)
        if used != len(batches):
            raise _bad("a row batch without its rows event")
    elif batches:
        raise _bad("a row batch without its rows event")
    _remember(meta, tag, payload, events)
    return send, tag, payload, events


# Decoded step metadata by its text, for the steps a repeated statement produces again and
# again (`d` with the same columns, row count and tag; `r`): decoding them is most of the
# Python cost of a small round trip. Only metadata whose decoded values are immutable (tuples,
# strings, numbers, and the shared column lists of _COLUMNS_SEEN) is kept.
_META_SEEN: dict[str, tuple[str, Any, tuple[Event, ...], int, int]] = {}
_CACHEABLE_EVENTS = frozenset("CRKQDGH")
_CACHEABLE_ACTIONS = frozenset("rdi")


def _remember(meta: str, tag: str, payload: Any, events: list[Event]) -> None:
    if tag not in _CACHEABLE_ACTIONS or len(meta) > 4096:
        return
    template: list[Event] = []
    nrows = 0
    at = -1  # the index of the first rows or COPY data event
    for ev in events:
        if ev[0] not in _CACHEABLE_EVENTS:
            return
        if ev[0] == "R" or ev[0] == "D":
            if not nrows:
                at = len(template)
            nrows += 1
            ev = (ev[0], (ev[1][0], ev[1][1], ""))
        template.append(ev)
    if len(_META_SEEN) >= 256:
        _META_SEEN.clear()
    _META_SEEN[meta] = (tag, payload, tuple(template), nrows, at)
