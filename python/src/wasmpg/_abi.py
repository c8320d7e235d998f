"""The contract's values in wasmtime's C layout: decoding results, encoding arguments.

`wit/driver.wit` defines the records and variants the guest exchanges with its host. Results
are read in place from the C API's value tree (through `MEM`, with `struct.unpack_from` and
slices: no FFI call per field) into the tuples and dicts the session works with; arguments are
lowered by hand into 32-byte `wasmtime_component_val_t` slots, nested arrays and string bytes,
in an arena the sandbox owns (the C API only borrows them).
"""

from __future__ import annotations

import struct
from typing import Any, Callable, Optional

from ._backend import (
    ENTRY,
    K_ENUM,
    K_LIST,
    K_OPTION,
    K_RECORD,
    K_STRING,
    K_TUPLE,
    K_U32,
    MEM,
    VAL,
)

# Typed views of `struct.Struct(...).unpack_from`: (buffer, offset) -> the fields.
_Q: Callable[[Any, int], tuple[int]] = struct.Struct("<Q").unpack_from
_QQ: Callable[[Any, int], tuple[int, int]] = struct.Struct("<QQ").unpack_from
_QQQ: Callable[[Any, int], tuple[int, int, int]] = struct.Struct("<QQQ").unpack_from
_I: Callable[[Any, int], tuple[int]] = struct.Struct("<I").unpack_from
_i: Callable[[Any, int], tuple[int]] = struct.Struct("<i").unpack_from
_H: Callable[[Any, int], tuple[int]] = struct.Struct("<H").unpack_from
_B: Callable[[Any, int], tuple[int]] = struct.Struct("<B").unpack_from

# One value slot: kind, 7 bytes padding, then up to three 8-byte words.
_SLOT = struct.Struct("<B7xQQQ")
pack_slot: Callable[[int, int, int, int], bytes] = _SLOT.pack
_U32_SLOT = struct.Struct("<B7xI20x")

# The decoded shapes.
ColumnInfo = tuple[str, int, int, int, int, int]  # name, type oid, typmod, table oid, column, size
DbFields = dict[str, Any]  # a db-error record: DB_ERROR_FIELDS -> str, int or None
GuestError = tuple[str, str, Optional[DbFields]]  # an error record: kind, message, db fields
Target = tuple[str, Any]  # ("tcp", (host, port)) or ("unix", path)
Event = tuple[int, Any]  # (EV_* tag, payload)
Step = tuple[bytes, int, Any, list[Event]]  # bytes to send, A_* action, its payload, events

# ---------------------------------------------------------------------------------------------
# Reading values. Every function takes the address `u` of a value's union (the value's address
# + 8). A record's field i has its union at `data + 48*i + 24`, a list's element i at
# `data + 32*i + 8`, where `data` is the record's or list's array.


def _bytes(data: int, size: int) -> bytes:
    return bytes(MEM[data : data + size])


def _str(u: int) -> str:
    size, data = _QQ(MEM, u)
    return str(MEM[data : data + size], "utf-8") if size else ""


def _opt(u: int) -> int:
    """The union address of an option's payload, or 0 for none."""
    ptr = _Q(MEM, u)[0]
    return ptr + 8 if ptr else 0


def _opt_str(u: int) -> Optional[str]:
    ptr = _Q(MEM, u)[0]
    return _str(ptr + 8) if ptr else None


def _opt_u32(u: int) -> Optional[int]:
    ptr = _Q(MEM, u)[0]
    return _I(MEM, ptr + 8)[0] if ptr else None


def _fields(u: int) -> int:
    """A record's field 0 union address; field i is 48*i further."""
    return _Q(MEM, u + 8)[0] + 24


def _case(u: int) -> tuple[int, int]:
    """A variant's case, as (name length << 8 | first letter), and its payload union (0: none)."""
    size, name, payload = _QQQ(MEM, u)
    return (size << 8) | _B(MEM, name)[0], (payload + 8 if payload else 0)


def _enum(u: int) -> str:
    size, data = _QQ(MEM, u)
    return _bytes(data, size).decode("ascii")


def _key(name: str) -> int:
    return (len(name) << 8) | ord(name[0])


def _u32_list(u: int) -> list[int]:
    size, data = _QQ(MEM, u)
    return [_I(MEM, data + VAL * i + 8)[0] for i in range(size)]


DB_ERROR_FIELDS = (
    "severity",
    "severity_nonlocalized",
    "code",
    "message",
    "detail",
    "hint",
    "position",
    "internal_position",
    "internal_query",
    "where",
    "schema",
    "table",
    "column",
    "datatype",
    "constraint",
    "file",
    "line",
    "routine",
)
# How each db-error field is read: s = string, S = option<string>, N = option<u32>.
_DB_ERROR_KINDS = "sSssSSNNSSSSSSSSNS"


def _db_error(u: int) -> DbFields:
    f = _fields(u)
    out: DbFields = {}
    for i, (name, kind) in enumerate(zip(DB_ERROR_FIELDS, _DB_ERROR_KINDS)):
        o = f + ENTRY * i
        if kind == "s":
            out[name] = _str(o)
        elif kind == "S":
            out[name] = _opt_str(o)
        else:
            out[name] = _opt_u32(o)
    return out


def error(u: int) -> GuestError:
    """error record -> (kind, message, db fields or None)."""
    f = _fields(u)
    db = _opt(f + 96)
    return (_enum(f), _str(f + 48), _db_error(db) if db else None)


_K_TCP = _key("tcp")


def _target(u: int) -> Target:
    """target variant -> ('tcp', (host, port)) or ('unix', path)."""
    case, payload = _case(u)
    if case == _K_TCP:
        f = _fields(payload)
        return ("tcp", (_str(f), _H(MEM, f + 48)[0]))
    return ("unix", _str(payload))


# Event tags, as the integers the session dispatches on.
EV_COLUMNS, EV_ROWS, EV_COMPLETE, EV_EMPTY, EV_PREPARED, EV_ERROR = 0, 1, 2, 3, 4, 5
EV_NOTICE, EV_NOTIFICATION, EV_PARAMETER, EV_BACKEND_KEY, EV_READY = 6, 7, 8, 9, 10
_EVENT_NAMES = {
    "columns": EV_COLUMNS,
    "rows": EV_ROWS,
    "complete": EV_COMPLETE,
    "empty-query": EV_EMPTY,
    "prepared": EV_PREPARED,
    "error": EV_ERROR,
    "notice": EV_NOTICE,
    "notification": EV_NOTIFICATION,
    "parameter": EV_PARAMETER,
    "backend-key": EV_BACKEND_KEY,
    "ready": EV_READY,
}
_EVENTS = {_key(name): tag for name, tag in _EVENT_NAMES.items()}

# Actions.
A_OPEN, A_READ, A_DONE, A_CLOSE, A_NEED_PASSWORD = 0, 1, 2, 3, 4
_ACTION_NAMES = {
    "open": A_OPEN,
    "read": A_READ,
    "done": A_DONE,
    "close": A_CLOSE,
    "need-password": A_NEED_PASSWORD,
}
_TX_STATUS = {4: "idle", 14: "in-transaction", 6: "failed"}  # by name length

# The table must stay unambiguous if the contract grows (cases are told apart by name length
# and first letter; `step` tells actions apart by length, then letter).
assert len(_EVENTS) == len(_EVENT_NAMES)
assert len({(len(n), n[0]) for n in _ACTION_NAMES}) == len(_ACTION_NAMES)


# Whole records in one unpack: a record's entries are contiguous, 48 bytes each (name 16, kind
# 1 + padding 7, union 24), so one format string picks every field's union words at once.
_STEP_FIELDS = struct.Struct("<24xQQQ24xQQQ24xQQQ").unpack_from  # send, action, events
_ROWS_FIELDS = struct.Struct("<24xI20x24xB23x24xQQ8x").unpack_from  # count, escaped, data
_COMPLETE_FIELDS = struct.Struct("<24xQQ8x24xQ16x").unpack_from  # tag, rows
_COLUMN_FIELDS = struct.Struct("<24xQQ8x24xI20x24xi20x24xI20x24xh22x24xh22x").unpack_from
_K_R, _K_D = ord("r"), ord("d")


def _columns(u: int) -> list[ColumnInfo]:
    """list<column> -> [(name, type_oid, type_modifier, table_oid, column_id, type_size)]."""
    size, data = _QQ(MEM, u)
    out: list[ColumnInfo] = []
    for i in range(size):
        nsize, ndata, oid, typmod, table, column, tsize = _COLUMN_FIELDS(
            MEM, _Q(MEM, data + VAL * i + 16)[0]
        )
        out.append((str(MEM[ndata : ndata + nsize], "utf-8"), oid, typmod, table, column, tsize))
    return out


def _event(u: int) -> Event:
    size, name, payload = _QQQ(MEM, u)
    tag = _EVENTS[(size << 8) | _B(MEM, name)[0]]
    if tag == EV_ROWS:
        count, escaped, n, data = _ROWS_FIELDS(MEM, _Q(MEM, payload + 16)[0])
        return (tag, (count, escaped != 0, str(MEM[data : data + n], "utf-8")))
    if tag == EV_COMPLETE:
        n, data, rows = _COMPLETE_FIELDS(MEM, _Q(MEM, payload + 16)[0])
        return (tag, (str(MEM[data : data + n], "utf-8"), _Q(MEM, rows + 8)[0] if rows else None))
    p = payload + 8 if payload else 0
    if tag == EV_READY:
        return (tag, _TX_STATUS.get(_Q(MEM, p)[0]) or _enum(p))
    if tag == EV_COLUMNS:
        return (tag, _columns(p))
    if tag == EV_EMPTY:
        return (tag, None)
    if tag == EV_ERROR:
        return (tag, error(p))
    if tag == EV_NOTICE:
        return (tag, _db_error(p))
    if tag == EV_PARAMETER:
        f = _fields(p)
        return (tag, (_str(f), _str(f + 48)))
    if tag == EV_NOTIFICATION:
        f = _fields(p)
        return (tag, (_i(MEM, f)[0], _str(f + 48), _str(f + 96)))
    if tag == EV_BACKEND_KEY:
        f = _fields(p)
        return (tag, (_i(MEM, f)[0], _i(MEM, f + 48)[0]))
    # EV_PREPARED
    f = _fields(p)
    return (tag, (_str(f), _u32_list(f + 48), _columns(f + 96)))


def step(u: int) -> Step:
    """step record -> (bytes to send, action, action payload, events)."""
    (ssize, _sname, spayload, asize, aname, apayload, count, data, _x) = _STEP_FIELDS(
        MEM, _Q(MEM, u + 8)[0]
    )
    # send: payload variant, case "bytes" (5 letters) or "latin1" (6)
    n, sdata = _QQ(MEM, spayload + 8)
    if not n:
        send = b""
    elif ssize == 6:
        send = str(MEM[sdata : sdata + n], "utf-8").encode("latin-1")
    else:  # list<u8>: one 32-byte value per byte, the byte at offset 8
        send = bytes(MEM[sdata : sdata + n * VAL])[8::VAL]
    # action: read, done, open (4 letters), close (5), need-password (13)
    if asize == 4:
        letter = _B(MEM, aname)[0]
        action = A_READ if letter == _K_R else A_DONE if letter == _K_D else A_OPEN
    else:
        action = A_CLOSE if asize == 5 else A_NEED_PASSWORD
    arg: Any = None
    if action == A_OPEN:
        arg = _target(apayload + 8)
    elif action == A_NEED_PASSWORD:
        r = _fields(apayload + 8)
        arg = (_str(r), _H(MEM, r + 48)[0], _str(r + 96), _str(r + 144), _opt_str(r + 192))
    if not count:
        return send, action, arg, []
    return send, action, arg, [_event(data + VAL * i + 8) for i in range(count)]


def conninfo(u: int) -> dict[str, Any]:
    f = _fields(u)
    count, data = _QQ(MEM, f)
    return {
        "targets": [_target(data + VAL * i + 8) for i in range(count)],
        "user": _str(f + 48),
        "dbname": _str(f + 96),
        "connect_timeout": _opt_u32(f + 144),
        "has_password": _B(MEM, f + 192)[0] != 0,
        "passfile": _opt_str(f + 240),
        "sslmode": _str(f + 288),
    }


def result(res: int, conninfo_ok: bool) -> Any:
    """A call's result value at address `res`: a step record -> the step; result<step, error>
    or result<conninfo, error> -> ("ok", step or conninfo dict) or ("error", error)."""
    if _B(MEM, res)[0] == K_RECORD:
        return step(res + 8)
    # result<T, error>: is_ok at +8, the payload value's address at +16
    ok = _B(MEM, res + 8)[0] != 0
    payload = _Q(MEM, res + 16)[0] + 8
    if not ok:
        return ("error", error(payload))
    if conninfo_ok:
        return ("ok", conninfo(payload))
    return ("ok", step(payload))


# ---------------------------------------------------------------------------------------------
# Writing arguments. An argument is lowered into an "arena": the argument slots first, then
# nested value arrays (8-byte aligned), then string bytes. The arena lives in one buffer that
# the sandbox owns and grows; one slice assignment writes it. Arguments are borrowed by
# `wasmtime_component_func_call` (it copies them), so nothing has to be freed afterwards.


class Arena:
    """The arguments of one call as they are lowered: the slots, then what they point to."""

    __slots__ = ("parts", "size")

    def __init__(self, nslots: int) -> None:
        self.parts: list[bytes] = []
        self.size = nslots * VAL

    def add(self, data: bytes) -> int:
        """Appends data (padded to 8 bytes); returns its offset."""
        off = self.size
        self.parts.append(data)
        pad = -len(data) % 8
        if pad:
            self.parts.append(b"\0" * pad)
        self.size += len(data) + pad
        return off


def lower(arena: Arena, base: int, kind: str, value: Any) -> bytes:
    """Lowers one argument; returns its 32-byte slot."""
    if kind == "s":
        data = value.encode("utf-8")
        # An empty string still gets a valid (never read) pointer: Rust slices want non-null.
        return pack_slot(K_STRING, len(data), base + arena.add(data) if data else base, 0)
    if kind == "u32s":
        blob = b"".join([_U32_SLOT.pack(K_U32, v) for v in value])
        return pack_slot(K_LIST, len(value), base + arena.add(blob) if blob else base, 0)
    if kind == "enum":
        data = value.encode("ascii")
        return pack_slot(K_ENUM, len(data), base + arena.add(data), 0)
    if kind == "opt_s":
        if value is None:
            return pack_slot(K_OPTION, 0, 0, 0)
        inner = lower(arena, base, "s", value)
        return pack_slot(K_OPTION, base + arena.add(inner), 0, 0)
    if kind == "pairs":
        # list<tuple<string, string>>: the string slots of each tuple, then the tuple slots.
        tuples: list[bytes] = []
        for k, v in value:
            pair = lower(arena, base, "s", k) + lower(arena, base, "s", v)
            tuples.append(pack_slot(K_TUPLE, 2, base + arena.add(pair), 0))
        blob = b"".join(tuples)
        return pack_slot(K_LIST, len(value), base + arena.add(blob) if blob else base, 0)
    raise AssertionError(kind)
