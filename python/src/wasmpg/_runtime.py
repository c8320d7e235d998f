"""The sandbox: the guest component compiled once per process, one store per connection.

The `wasmtime` PyPI package offers a generic component API (`Func.__call__`) that inspects the
function's type through the C API on every call and converts every value through Python objects.
That costs tens of microseconds per call on CPython and hundreds on PyPy, and the driver calls
into the guest about twice per round trip. So only the one-time set-up goes through the public
API (engine, component, linker, instantiation, the session constructor). Every later call goes
straight to `wasmtime_component_func_call` of the C API:

* arguments are laid out by hand (32-byte `wasmtime_component_val_t` slots, then nested arrays
  and string bytes) in a buffer this module owns; the C API only borrows them;
* the result tree is read in place, through one buffer object spanning the address space
  (`MEM`), with `struct.unpack_from` and slices: no FFI call per field;
* the result stays owned by its slot: the next call's assignment frees it (see `_invoke`).

The layout of component values (a one-byte kind, then an 8-byte-aligned union at offset 8; 32
bytes in all; record entries of 48 bytes) is checked against the package's own ctypes
declarations at import, so a layout change fails loudly instead of misreading memory.

Two FFI backends make the calls: ctypes on CPython (standard library), and cffi in ABI mode on
PyPy (built into PyPy, no compiler; its calls are visible to the JIT, where ctypes calls are
slow). `WASMPG_FFI=ctypes|cffi` overrides the choice.

Only this module knows about wasmtime. The contract it implements is `wit/driver.wit`.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import struct
import threading
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

import wasmtime
from wasmtime import _ffi as _wffi
from wasmtime import component as _wc

from .errors import InterfaceError, OperationalError

__all__ = ["Runtime", "Sandbox", "GuestTrap", "runtime"]

# ---------------------------------------------------------------------------------------------
# Memory layout of wasmtime_component_val_t (checked below against wasmtime's declarations).

_VAL = 32  # sizeof(wasmtime_component_val_t)
_ENTRY = 48  # sizeof(wasmtime_component_valrecord_entry_t): name (16 bytes), then the value

# Value kinds (wasmtime/component/val.h).
K_U32, K_STRING, K_LIST, K_RECORD, K_TUPLE = 6, 12, 13, 14, 15
K_VARIANT, K_ENUM, K_OPTION, K_RESULT, K_RESOURCE = 16, 17, 18, 19, 21


def _check_layout() -> None:
    v = _wffi.wasmtime_component_val_t
    ok = (
        ctypes.sizeof(v) == _VAL
        and v.of.offset == 8
        and ctypes.sizeof(_wffi.wasmtime_component_valrecord_entry) == _ENTRY
        and _wffi.wasmtime_component_valrecord_entry.val.offset == 16
        and _wffi.wasmtime_component_valvariant_t.val.offset == 16
        and _wffi.wasmtime_component_valresult_t.val.offset == 8
        and _wffi.WASMTIME_COMPONENT_STRING.value == K_STRING
        and _wffi.WASMTIME_COMPONENT_RESOURCE.value == K_RESOURCE
        and _wffi.WASMTIME_COMPONENT_VARIANT.value == K_VARIANT
    )
    if not ok:
        raise ImportError(
            "wasmpg: this version of the wasmtime package lays out component values differently "
            "from the one wasmpg was written for; install the wasmtime version pinned by wasmpg"
        )


_check_layout()

_Q = struct.Struct("<Q").unpack_from
_QQ = struct.Struct("<QQ").unpack_from
_QQQ = struct.Struct("<QQQ").unpack_from
_I = struct.Struct("<I").unpack_from
_i = struct.Struct("<i").unpack_from
_H = struct.Struct("<H").unpack_from
_B = struct.Struct("<B").unpack_from

# One value slot: kind, 7 bytes padding, then up to three 8-byte words.
_SLOT = struct.Struct("<B7xQQQ")
_pack_slot = _SLOT.pack
_U32_SLOT = struct.Struct("<B7xI20x")

# ---------------------------------------------------------------------------------------------
# Memory access and the C functions of the hot path.
#
# Reading many small pieces of native memory one FFI call at a time (ctypes.string_at) costs
# about half a microsecond each. Instead, `MEM` is one buffer object spanning the process's
# whole address space (a ctypes array at address 0 on CPython, a cffi buffer on PyPy), so a
# field is read with `struct.unpack_from(MEM, address)` and a string with `MEM[a:b]`: no FFI
# call at all. Only addresses that wasmtime just handed back are ever read.

_ADDRESS_SPACE = 1 << 47 if struct.calcsize("P") == 8 else 1 << 31

_BACKEND = os.environ.get("WASMPG_FFI") or (
    "cffi" if platform.python_implementation() == "PyPy" else "ctypes"
)


class _CtypesBackend:
    """ctypes: the standard library's FFI, fast enough on CPython."""

    name = "ctypes"

    def __init__(self) -> None:
        dll = _wffi.dll
        # Fresh function pointers (dll[name] is not cached), so the wasmtime package's own
        # prototypes are left alone.
        call = dll["wasmtime_component_func_call"]
        call.restype = ctypes.c_void_p
        call.argtypes = [
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_void_p,
            ctypes.c_size_t,
        ]
        self.call = call
        delete = dll["wasmtime_component_val_delete"]
        delete.restype = None
        delete.argtypes = [ctypes.c_void_p]
        self.val_delete = delete
        deadline = dll["wasmtime_context_set_epoch_deadline"]
        deadline.restype = None
        deadline.argtypes = [ctypes.c_void_p, ctypes.c_uint64]
        self.set_deadline = deadline
        whole = (ctypes.c_char * _ADDRESS_SPACE).from_address(0)
        self.mem = memoryview(whole).cast("B")

    def alloc(self, n: int) -> Tuple[Any, int]:
        """A zeroed, 8-byte-aligned buffer: (owner, address)."""
        buf = (ctypes.c_uint64 * ((n + 7) // 8))()
        return buf, ctypes.addressof(buf)

    def pointer(self, addr: int) -> int:
        return addr


class _CffiBackend:
    """cffi in ABI mode (no compiler): built into PyPy, where its calls are JIT-friendly."""

    name = "cffi"

    def __init__(self) -> None:
        import cffi  # PyPy ships it; on CPython it is an optional extra

        ffi = cffi.FFI()
        ffi.cdef(
            """
            void *wasmtime_component_func_call(void *func, void *context, void *args,
                                               size_t nargs, void *results, size_t nresults);
            void wasmtime_component_val_delete(void *value);
            void wasmtime_context_set_epoch_deadline(void *context, uint64_t ticks);
            """
        )
        lib = ffi.dlopen(str(_wffi.filename))
        self._ffi = ffi
        self._lib = lib
        cast = ffi.cast
        null = ffi.NULL
        f_call = lib.wasmtime_component_func_call

        def call(func: Any, ctx: Any, args: Any, nargs: int, res: Any, nres: int) -> int:
            err = f_call(func, ctx, args, nargs, res, nres)
            return int(cast("uintptr_t", err)) if err != null else 0

        self.call = call
        self.val_delete = lib.wasmtime_component_val_delete
        self.set_deadline = lib.wasmtime_context_set_epoch_deadline
        self.mem = ffi.buffer(cast("char *", 0), _ADDRESS_SPACE)

    def alloc(self, n: int) -> Tuple[Any, int]:
        buf = self._ffi.new("uint64_t[]", (n + 7) // 8)
        return buf, int(self._ffi.cast("uintptr_t", buf))

    def pointer(self, addr: int) -> Any:
        return self._ffi.cast("char *", addr)


def _make_backend() -> Any:
    if _BACKEND == "cffi":
        try:
            return _CffiBackend()
        except ImportError:
            if os.environ.get("WASMPG_FFI") == "cffi":
                raise
    try:
        return _CtypesBackend()
    except (MemoryError, ValueError, OverflowError) as e:
        raise ImportError(
            "wasmpg: cannot map native memory with ctypes on this interpreter (%s); "
            "install cffi" % e
        ) from None


_B_ = _make_backend()
MEM = _B_.mem

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


def _case(u: int) -> Tuple[int, int]:
    """A variant's case, as (name length << 8 | first letter), and its payload union (0: none)."""
    size, name, payload = _QQQ(MEM, u)
    return (size << 8) | _B(MEM, name)[0], (payload + 8 if payload else 0)


def _enum(u: int) -> str:
    size, data = _QQ(MEM, u)
    return _bytes(data, size).decode("ascii")


def _key(name: str) -> int:
    return (len(name) << 8) | ord(name[0])


def _u32_list(u: int) -> List[int]:
    size, data = _QQ(MEM, u)
    return [_I(MEM, data + _VAL * i + 8)[0] for i in range(size)]


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


def _db_error(u: int) -> Dict[str, Any]:
    f = _fields(u)
    out: Dict[str, Any] = {}
    for i, (name, kind) in enumerate(zip(DB_ERROR_FIELDS, _DB_ERROR_KINDS)):
        o = f + _ENTRY * i
        if kind == "s":
            out[name] = _str(o)
        elif kind == "S":
            out[name] = _opt_str(o)
        else:
            out[name] = _opt_u32(o)
    return out


def _error(u: int) -> Tuple[str, str, Optional[Dict[str, Any]]]:
    """error record -> (kind, message, db fields or None)."""
    f = _fields(u)
    db = _opt(f + 96)
    return (_enum(f), _str(f + 48), _db_error(db) if db else None)


_K_TCP = _key("tcp")


def _target(u: int) -> Tuple[str, Any]:
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
# and first letter; `_step` tells actions apart by length, then letter).
assert len(_EVENTS) == len(_EVENT_NAMES)
assert len({(len(n), n[0]) for n in _ACTION_NAMES}) == len(_ACTION_NAMES)


# Whole records in one unpack: a record's entries are contiguous, 48 bytes each (name 16, kind
# 1 + padding 7, union 24), so one format string picks every field's union words at once.
_STEP_FIELDS = struct.Struct("<24xQQQ24xQQQ24xQQQ").unpack_from  # send, action, events
_ROWS_FIELDS = struct.Struct("<24xI20x24xB23x24xQQ8x").unpack_from  # count, escaped, data
_COMPLETE_FIELDS = struct.Struct("<24xQQ8x24xQ16x").unpack_from  # tag, rows
_COLUMN_FIELDS = struct.Struct("<24xQQ8x24xI20x24xi20x24xI20x24xh22x24xh22x").unpack_from
_K_R, _K_D = ord("r"), ord("d")


def _columns(u: int) -> List[tuple]:
    """list<column> -> [(name, type_oid, type_modifier, table_oid, column_id, type_size)]."""
    size, data = _QQ(MEM, u)
    out = []
    for i in range(size):
        nsize, ndata, oid, typmod, table, column, tsize = _COLUMN_FIELDS(
            MEM, _Q(MEM, data + _VAL * i + 16)[0]
        )
        out.append((str(MEM[ndata : ndata + nsize], "utf-8"), oid, typmod, table, column, tsize))
    return out


def _event(u: int) -> Tuple[int, Any]:
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
        return (tag, _error(p))
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


def _step(u: int) -> Tuple[bytes, int, Any, list]:
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
        send = bytes(MEM[sdata : sdata + n * _VAL])[8::_VAL]
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
    return send, action, arg, [_event(data + _VAL * i + 8) for i in range(count)]


def _conninfo(u: int) -> Dict[str, Any]:
    f = _fields(u)
    count, data = _QQ(MEM, f)
    return {
        "targets": [_target(data + _VAL * i + 8) for i in range(count)],
        "user": _str(f + 48),
        "dbname": _str(f + 96),
        "connect_timeout": _opt_u32(f + 144),
        "has_password": _B(MEM, f + 192)[0] != 0,
        "passfile": _opt_str(f + 240),
        "sslmode": _str(f + 288),
    }


# ---------------------------------------------------------------------------------------------
# Writing arguments. An argument is lowered into an "arena": the argument slots first, then
# nested value arrays (8-byte aligned), then string bytes. The arena lives in one buffer that
# the sandbox owns and grows; one slice assignment writes it. Arguments are borrowed by
# `wasmtime_component_func_call` (it copies them), so nothing has to be freed afterwards.


class _Arena:
    __slots__ = ("parts", "size")

    def __init__(self, nslots: int) -> None:
        self.parts: List[bytes] = []
        self.size = nslots * _VAL

    def add(self, data: bytes) -> int:
        """Appends data (padded to 8 bytes); returns its offset."""
        off = self.size
        self.parts.append(data)
        pad = -len(data) % 8
        if pad:
            self.parts.append(b"\0" * pad)
        self.size += len(data) + pad
        return off


def _lower(arena: _Arena, base: int, kind: str, value: Any) -> bytes:
    """Lowers one argument; returns its 32-byte slot."""
    if kind == "s":
        data = value.encode("utf-8")
        # An empty string still gets a valid (never read) pointer: Rust slices want non-null.
        return _pack_slot(K_STRING, len(data), base + arena.add(data) if data else base, 0)
    if kind == "u32s":
        blob = b"".join([_U32_SLOT.pack(K_U32, v) for v in value])
        return _pack_slot(K_LIST, len(value), base + arena.add(blob) if blob else base, 0)
    if kind == "enum":
        data = value.encode("ascii")
        return _pack_slot(K_ENUM, len(data), base + arena.add(data), 0)
    if kind == "opt_s":
        if value is None:
            return _pack_slot(K_OPTION, 0, 0, 0)
        inner = _lower(arena, base, "s", value)
        return _pack_slot(K_OPTION, base + arena.add(inner), 0, 0)
    if kind == "pairs":
        # list<tuple<string, string>>: the string slots of each tuple, then the tuple slots.
        tuples = []
        for k, v in value:
            pair = _lower(arena, base, "s", k) + _lower(arena, base, "s", v)
            tuples.append(_pack_slot(K_TUPLE, 2, base + arena.add(pair), 0))
        blob = b"".join(tuples)
        return _pack_slot(K_LIST, len(value), base + arena.add(blob) if blob else base, 0)
    raise AssertionError(kind)


# ---------------------------------------------------------------------------------------------
# The process-wide runtime.

_TICKS_PER_SECOND = 100
_CPU_LIMIT_TICKS = 5 * _TICKS_PER_SECOND  # 5 s of guest execution per call, like the Rust host
_epoch = [0]  # ticks seen by the ticker thread (never ahead of the engine's epoch)


class GuestTrap(OperationalError):
    """The guest trapped (or exceeded its CPU or memory bound); its instance was discarded."""

    def __init__(self, message: str) -> None:
        super().__init__(message, kind="trap")


_SESSION_IFACE = "wasmpg:driver/session@0.1.0"
_METHODS = (
    "connect",
    "opened",
    "open-failed",
    "password",
    "feed",
    "feed-latin1",
    "eof",
    "simple-query",
    "query",
    "prepare",
    "execute",
    "close-statement",
    "terminate",
)


def _wasm_path() -> str:
    override = os.environ.get("WASMPG_GUEST_WASM")
    if override:
        return override
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "wasmpg_guest.wasm")


def _cache_dir() -> Optional[str]:
    for var, sub in (("WASMPG_CACHE_DIR", ""), ("XDG_CACHE_HOME", "wasmpg")):
        value = os.environ.get(var)
        if value:
            return os.path.join(value, sub) if sub else value
    home = os.environ.get("HOME")
    return os.path.join(home, ".cache", "wasmpg") if home else None


def _wasmtime_version() -> str:
    try:
        from importlib.metadata import version

        return version("wasmtime")
    except ImportError:  # no metadata (odd installs): key by the library file instead
        st = os.stat(str(_wffi.filename))
        return "so-%d-%d" % (st.st_size, int(st.st_mtime))


class Runtime:
    """The engine, the compiled component and the linker: created once per process."""

    def __init__(self) -> None:
        path = _wasm_path()
        try:
            with open(path, "rb") as f:
                wasm = f.read()
        except OSError as e:
            raise InterfaceError(
                "cannot read the wasmpg guest component %s: %s (was the package built with the "
                "component? see python/setup.py)" % (path, e)
            ) from None
        config = wasmtime.Config()
        config.epoch_interruption = True
        self.engine = wasmtime.Engine(config)
        self.component = self._load(wasm)
        self.linker = _wc.Linker(self.engine)
        # Rust's standard library imports a few WASI interfaces (clocks, random, cli); each
        # store's WASI context grants none of the capabilities behind them.
        self.linker.add_wasip2()
        iface = self.component.get_export_index(_SESSION_IFACE)
        if iface is None:
            raise InterfaceError("the guest component does not export %s" % _SESSION_IFACE)
        names = ["parse-conninfo", "[constructor]session"]
        names += ["[method]session." + m for m in _METHODS]
        self.exports = {}
        for name in names:
            index = self.component.get_export_index(name, iface)
            if index is None:
                raise InterfaceError("the guest component does not export %s" % name)
            self.exports[name] = index
        self._iface = iface
        self._ticker_pid = 0
        self._start_ticker()

    def _load(self, wasm: bytes) -> Any:
        """Compiles the component, or loads the artifact an earlier process cached."""
        directory = _cache_dir()
        if not directory:
            return _wc.Component(self.engine, wasm)
        key = hashlib.sha256(wasm).hexdigest()[:24]
        name = "py-guest-%s-wasmtime-%s-%s-epoch.cwasm" % (
            key,
            _wasmtime_version(),
            platform.machine(),
        )
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            try:
                # wasmtime checks the artifact's header and version: a foreign or stale file
                # fails here and is recompiled and replaced below. Only this package writes
                # into the directory (atomically, by rename).
                return _wc.Component.deserialize_file(self.engine, path)
            except wasmtime.WasmtimeError:
                pass
        component = _wc.Component(self.engine, wasm)
        try:  # caching is an optimisation: failing to write is not an error
            os.makedirs(directory, exist_ok=True)
            tmp = os.path.join(directory, ".%d.%s.tmp" % (os.getpid(), name))
            with open(tmp, "wb") as f:
                f.write(component.serialize())
            os.replace(tmp, path)
        except (OSError, wasmtime.WasmtimeError):
            pass
        return component

    def _start_ticker(self) -> None:
        """Advances the engine's epoch 100 times a second: the CPU bound of each call."""
        if self._ticker_pid == os.getpid():
            return
        self._ticker_pid = os.getpid()
        engine = self.engine

        def tick() -> None:
            while True:
                time.sleep(1.0 / _TICKS_PER_SECOND)
                engine.increment_epoch()
                _epoch[0] += 1

        threading.Thread(target=tick, name="wasmpg-epoch", daemon=True).start()

    def instantiate(self, memory_limit: int = 256 << 20) -> "Sandbox":
        # Threads do not survive fork(): a child restarts the ticker.
        self._start_ticker()
        return Sandbox(self, memory_limit)


_runtime: Optional[Runtime] = None
_runtime_lock = threading.Lock()


def runtime() -> Runtime:
    """The process-wide runtime, created on first use."""
    global _runtime
    if _runtime is None:
        with _runtime_lock:
            if _runtime is None:
                _runtime = Runtime()
    return _runtime


class Sandbox:
    """One guest instance in its own store, plus one session resource of it."""

    def __init__(self, rt: Runtime, memory_limit: int) -> None:
        self._rt = rt
        store = wasmtime.Store(rt.engine)
        # No preopens, no environment, no arguments, no inherited stdio; no sockets either
        # (the wasmtime package's WASI context has no switch that would allow them).
        store.set_wasi(wasmtime.WasiConfig())
        store.set_limits(memory_size=memory_limit)
        store.set_epoch_deadline(_CPU_LIMIT_TICKS)
        self._store = store
        self._instance = rt.linker.instantiate(store, rt.component)
        self._ctx_addr = ctypes.cast(store._context(), ctypes.c_void_p).value
        self._ctx = _B_.pointer(self._ctx_addr)
        self._deadline_at = _epoch[0]
        # Function handles, looked up once; addresses of their wasmtime_component_func_t.
        self._funcs: Dict[str, Any] = {}
        self._func_ptrs: Dict[str, Any] = {}
        for name, index in rt.exports.items():
            func = self._instance.get_func(store, index)
            if func is None:
                raise InterfaceError("the guest component does not export %s" % name)
            self._funcs[name] = func
            short = name.rsplit(".", 1)[-1]
            self._func_ptrs[short] = _B_.pointer(ctypes.addressof(func._func))
        self._res_owner, self._res_addr = _B_.alloc(_VAL)
        self._res = _B_.pointer(self._res_addr)
        self._arena_owner: Any = None
        self._arena_cap = 0
        self._arena_addr = 0
        self._arena_ptr: Any = None
        self._grow(64 << 10)
        self._res_freed = False
        self._session: Any = None  # the ResourceAny, kept alive
        self._self_slot = b""
        self.poisoned = False

    def _grow(self, need: int) -> None:
        cap = max(need, self._arena_cap * 2)
        self._arena_owner, self._arena_addr = _B_.alloc(cap)
        self._arena_ptr = _B_.pointer(self._arena_addr)
        self._arena_cap = cap

    # -- calls through the public API (once per connection) --

    def _guard(self) -> None:
        if self.poisoned:
            raise GuestTrap("the driver instance trapped earlier and was discarded")

    def parse_conninfo(self, conninfo: str, defaults: Sequence[Tuple[str, str]]) -> Any:
        """parse-conninfo: a dict (see `_conninfo`) or an error tuple (kind, message, db)."""
        return self._call_raw(
            "parse-conninfo", [("s", conninfo), ("pairs", list(defaults))], self_arg=False
        )

    def new_session(self, max_message_size: int, batch_bytes: int, statement_cache: int) -> None:
        """Constructs the session resource (io: latin1)."""
        self._guard()
        options = _wc.Record()
        setattr(options, "max-message-size", max_message_size)
        setattr(options, "batch-bytes", batch_bytes)
        setattr(options, "io", "latin1")
        setattr(options, "statement-cache", statement_cache)
        try:
            self._refresh_deadline(force=True)
            self._session = self._funcs["[constructor]session"](self._store, options)
        except wasmtime.WasmtimeError as e:
            self.poisoned = True
            raise GuestTrap("the guest trapped in the session constructor: %s" % e) from None
        ptr = ctypes.cast(self._session.ptr(), ctypes.c_void_p).value
        self._self_slot = _pack_slot(K_RESOURCE, ptr, 0, 0)

    # -- the fast path --

    def _refresh_deadline(self, force: bool = False) -> None:
        now = _epoch[0]
        if force or now - self._deadline_at > _CPU_LIMIT_TICKS // 2:
            _B_.set_deadline(self._ctx, _CPU_LIMIT_TICKS)
            self._deadline_at = now

    def _invoke(self, method: str, nargs: int) -> None:
        """Calls `method` with the arguments already in the arena; the result lands in the
        result slot.

        The C API assigns the result with Rust's `*slot = value`, which drops the previous
        contents of the slot first: so the previous call's result tree is freed by this call,
        and exactly one `wasmtime_component_val_delete` is needed, when the sandbox closes.
        (Freeing each result right away would need that call plus resetting the slot's kind,
        or the next assignment would free the tree a second time.)
        """
        if _epoch[0] - self._deadline_at > _CPU_LIMIT_TICKS // 2:
            self._refresh_deadline(force=True)
        err = _B_.call(self._func_ptrs[method], self._ctx, self._arena_ptr, nargs, self._res, 1)
        if err:
            self.poisoned = True
            message = str(
                wasmtime.WasmtimeError._from_ptr(
                    ctypes.cast(err, ctypes.POINTER(_wffi.wasmtime_error_t))
                )
            )
            raise GuestTrap("the guest trapped in %s: %s" % (method, message.strip()))

    def _call_raw(self, method: str, args: List[Tuple[str, Any]], self_arg: bool = True) -> Any:
        """Generic lowering; decodes a step, result<step, error> or result<conninfo, error>."""
        self._guard()
        nslots = len(args) + (1 if self_arg else 0)
        # Lower twice at most: the first pass sizes the arena, the second uses its address.
        for _attempt in range(2):
            arena = _Arena(nslots)
            base = self._arena_addr
            slots = [self._self_slot] if self_arg else []
            slots += [_lower(arena, base, kind, value) for kind, value in args]
            if arena.size <= self._arena_cap:
                break
            self._grow(arena.size)
        blob = b"".join(slots + arena.parts)
        base = self._arena_addr
        MEM[base : base + len(blob)] = blob
        self._invoke(method, nslots)
        # The result stays owned by the slot until the next call replaces it.
        res = self._res_addr
        if _B(MEM, res)[0] == K_RECORD:
            return _step(res + 8)
        # result<T, error>: is_ok at +8, the payload value's address at +16
        ok = _B(MEM, res + 8)[0] != 0
        payload = _Q(MEM, res + 16)[0] + 8
        if not ok:
            return ("error", _error(payload))
        if method == "parse-conninfo":
            return ("ok", _conninfo(payload))
        return ("ok", _step(payload))

    def call(self, method: str, *args: Tuple[str, Any]) -> Any:
        """A session method returning `step`, or `result<step, error>` for connect."""
        return self._call_raw(method, list(args))

    def call_str(self, method: str, text: str) -> Tuple[bytes, int, Any, list]:
        """The hot path: a session method taking one string (feed-latin1, simple-query)."""
        if self.poisoned:
            self._guard()
        data = text.encode("utf-8")
        n = len(data)
        if n + 64 > self._arena_cap:
            self._grow(n + 64)
        addr = self._arena_addr
        MEM[addr : addr + 64] = self._self_slot + _pack_slot(K_STRING, n, addr + 64, 0)
        if n:
            MEM[addr + 64 : addr + 64 + n] = data
        self._invoke(method, 2)
        return _step(self._res_addr + 8)

    def call_none(self, method: str) -> Tuple[bytes, int, Any, list]:
        """A session method without arguments (opened, eof, terminate)."""
        if self.poisoned:
            self._guard()
        addr = self._arena_addr
        MEM[addr : addr + _VAL] = self._self_slot
        self._invoke(method, 1)
        return _step(self._res_addr + 8)

    def __del__(self) -> None:
        # Frees the last result tree (plain Rust allocations: no store access).
        try:
            if not self._res_freed:
                self._res_freed = True
                _B_.val_delete(self._res)
        except (AttributeError, TypeError):
            pass

    def close(self) -> None:
        """Frees the store (and with it the instance and the session)."""
        self.poisoned = True
        if not self._res_freed:
            # The last result is still owned by the slot (see `_invoke`).
            self._res_freed = True
            _B_.val_delete(self._res)
            MEM[self._res_addr : self._res_addr + _VAL] = b"\0" * _VAL
        session, self._session = self._session, None
        if session is not None:
            session.close()
        self._store.close()
