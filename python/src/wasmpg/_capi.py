"""Our own declarations of wasmtime's documented C API, for running the guest component fast.

The ``wasmtime`` package's public component API (``Func.__call__``) converts every value through
Python objects and fetches the function's type on every call: 27-58 µs per small call on
CPython, 70-110 µs on PyPy. The contract (``wit/driver.wit``) is one string in, one string out
per call, so this module calls ``wasmtime_component_func_call`` itself: ctypes on CPython, cffi
in ABI mode (no compiler) on PyPy; about 3 µs (CPython) and 1.5 µs (PyPy) per small call.

Nothing private of the ``wasmtime`` package is used: its shared library is located through the
installed distribution's file list (``importlib.metadata``), the package is never imported here,
and every function is declared below from the C headers (``wasm.h``, ``wasi.h``,
``wasmtime/{config,engine,store,error}.h``, ``wasmtime/component/{component,linker,instance,
func,val}.h``). The declarations are identical in wasmtime 42-50.

Safety: a mismatch must become an exception, never a crash. At load every symbol is resolved,
the wheel's version is checked against the supported range, the value layout is round-tripped
through the library itself (``wasmtime_component_val_clone``), and opaque out-parameters are
written into canary-filled buffers larger than needed; `Mismatch` (an ImportError) reports any
difference, and `_runtime` then falls back to the public API. Every buffer handed to the C API
stays referenced by its owner for as long as the library may read it.

Ownership (``crates/c-api/src/component/func.rs``): call arguments are borrowed (cloned into
Rust values), results are owned by the caller and freed with ``wasmtime_component_val_delete``.
Any error from a call poisons the instance: it is closed at once (one instance per session).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

__all__ = [
    "MAX_VERSION",
    "MIN_VERSION",
    "Component",
    "Engine",
    "Instance",
    "Interrupted",
    "Mismatch",
    "Trap",
    "WasmtimeError",
    "library_path",
    "wasmtime_version",
]

# The wasmtime wheels whose C API matches the declarations below: [MIN, MAX) by major version.
# 40/41 still required post-return after each call; 49 grew wasmtime_component_func_t (handled:
# it is never embedded). Raise MAX only after running the test suite on the new release.
MIN_VERSION = 42
MAX_VERSION = 51

# Documented layout (wasmtime/component/val.h, wasm.h), checked at load.
VAL_SIZE = 32  # sizeof(wasmtime_component_val_t): uint8_t kind, 7 padding bytes, 24-byte union
UNION_OFFSET = 8  # offsetof(wasmtime_component_val_t, of)
K_U8, K_STRING, K_LIST = 2, 12, 13  # WASMTIME_COMPONENT_U8, _STRING, _LIST
VEC_SIZE = 16  # wasm_byte_vec_t / wasm_name_t: size_t size; char *data
INSTANCE_SLOT, INSTANCE_MAX = 32, 16  # wasmtime_component_instance_t: 16 bytes in 42-50
FUNC_SLOT, FUNC_MAX = 64, 32  # wasmtime_component_func_t: 24 bytes in 42-48, 32 in 49-50
CANARY = 0xA5
CLOSED = "the guest instance was closed after an earlier failure"

# Every declared function: (result, arguments). Codes: p void *, s const char *, z size_t,
# Q uint64_t, q int64_t, b bool, v void. Opaque pointers are void *; byte buffers const char *
# (ABI-identical to const uint8_t *, and both backends pass bytes without a copy).
_SIGS: dict[str, tuple[str, str]] = {
    "wasm_config_new": ("p", ""),
    "wasmtime_config_epoch_interruption_set": ("v", "pb"),
    "wasmtime_config_wasm_component_model_set": ("v", "pb"),
    "wasm_engine_new_with_config": ("p", "p"),  # takes ownership of the config
    "wasm_engine_delete": ("v", "p"),
    "wasmtime_engine_increment_epoch": ("v", "p"),
    "wasmtime_store_new": ("p", "ppp"),
    "wasmtime_store_context": ("p", "p"),
    "wasmtime_store_delete": ("v", "p"),
    "wasmtime_store_limiter": ("v", "pqqqqq"),
    "wasmtime_context_set_epoch_deadline": ("v", "pQ"),
    "wasmtime_context_set_wasi": ("p", "pp"),  # takes ownership of the WASI config
    "wasi_config_new": ("p", ""),
    "wasmtime_error_message": ("v", "pp"),
    "wasmtime_error_delete": ("v", "p"),
    "wasm_byte_vec_delete": ("v", "p"),
    "wasmtime_component_new": ("p", "pszp"),
    "wasmtime_component_serialize": ("p", "pp"),
    "wasmtime_component_deserialize": ("p", "pszp"),
    "wasmtime_component_delete": ("v", "p"),
    "wasmtime_component_get_export_index": ("p", "ppsz"),
    "wasmtime_component_export_index_delete": ("v", "p"),
    "wasmtime_component_linker_new": ("p", "p"),
    "wasmtime_component_linker_add_wasip2": ("p", "p"),
    "wasmtime_component_linker_instantiate": ("p", "pppp"),
    "wasmtime_component_linker_delete": ("v", "p"),
    "wasmtime_component_instance_get_func": ("b", "pppp"),
    "wasmtime_component_func_call": ("p", "pppzpz"),
    "wasmtime_component_val_delete": ("v", "p"),
    "wasmtime_component_val_clone": ("v", "pp"),  # the layout self-test only
}


class WasmtimeError(Exception):
    """An error reported by wasmtime (compile, link, instantiate, call)."""


class Trap(WasmtimeError):
    """The guest trapped or a call failed; its instance was closed."""


class Interrupted(Trap):
    """The call ran past its epoch deadline (the CPU bound)."""


class Mismatch(ImportError):
    """The installed wasmtime library does not match these declarations."""


def wasmtime_version() -> str:
    """The installed ``wasmtime`` distribution's version."""
    try:
        return importlib.metadata.version("wasmtime")
    except importlib.metadata.PackageNotFoundError:
        raise ImportError("wasmpg needs the wasmtime package (pip install wasmtime)") from None


def library_path() -> Path:
    """The C library in the installed ``wasmtime`` wheel, found through the distribution's file
    list (RECORD), else by a look into the package directory importlib reports; the package
    itself is neither imported nor inspected."""
    names = ("_libwasmtime.so", "_libwasmtime.dylib", "_wasmtime.dll", "wasmtime.dll")
    machine = {"AMD64": "x86_64", "arm64": "aarch64", "ARM64": "aarch64"}.get(
        platform.machine(), platform.machine()
    )
    candidates: list[Path] = []
    try:
        for f in importlib.metadata.files("wasmtime") or ():
            if f.name in names:
                candidates.append(Path(str(f.locate())))
    except importlib.metadata.PackageNotFoundError:
        pass
    for c in sorted(candidates, key=lambda c: not c.parent.name.endswith(machine)):
        if c.exists():
            return c
    spec = importlib.util.find_spec("wasmtime")
    for d in (spec.submodule_search_locations or []) if spec else []:
        for name in names:
            hits = sorted(Path(d).glob("*-%s/%s" % (machine, name)))
            if hits:
                return hits[0]
    raise Mismatch("the installed wasmtime distribution has no C library file")


def _check_version(version: str) -> None:
    try:
        major = int(version.split(".")[0])
    except ValueError:
        raise Mismatch("cannot read the wasmtime version %r" % version) from None
    if not MIN_VERSION <= major < MAX_VERSION:
        raise Mismatch(
            "wasmtime %s is outside the range wasmpg's C declarations were checked against "
            "(%d.x to %d.x)" % (version, MIN_VERSION, MAX_VERSION - 1)
        )


# ---------------------------------------------------------------------------------------------
# Backends: the same small interface over ctypes and cffi. Pointers are whatever the backend's
# calls take (int or None for ctypes, cdata for cffi), so they are typed Any.

Caller = Callable[[str], str]


class _Backend:
    name: str
    lib: Any
    null: Any

    def isnull(self, p: Any) -> bool:
        raise NotImplementedError

    def buf(self, n: int, fill: int = 0) -> tuple[Any, Any]:
        """A zeroed (or `fill`ed) buffer of n bytes: (owner, pointer). Keep the owner."""
        raise NotImplementedError

    def out_ptr(self) -> tuple[Any, Any]:
        """A `void *` out-parameter: (owner, pointer to it)."""
        raise NotImplementedError

    def deref_out(self, owner: Any) -> Any:
        raise NotImplementedError

    def read(self, addr: Any, n: int) -> bytes:
        raise NotImplementedError

    def readbuf(self, owner: Any) -> bytes:
        raise NotImplementedError

    def poke(self, owner: Any, data: bytes) -> None:
        raise NotImplementedError

    def address(self, p: Any) -> int:
        raise NotImplementedError

    def pointer(self, addr: int) -> Any:
        raise NotImplementedError

    def caller(
        self, func: Any, ctx: Any, nargs: int, on_error: Callable[[Any], None], owner: Any
    ) -> Caller:
        """The hot path: ``f(request) -> str`` for a function of `nargs` (0 or 1) string
        arguments returning a string. `on_error(err)` is called with a wasmtime_error_t and
        must raise. Once ``owner.closed`` (the instance) is true, `f` raises Trap without
        entering the library."""
        raise NotImplementedError

    def vec_read(self, owner: Any) -> bytes:
        size, data = struct.unpack_from("<QQ", self.readbuf(owner))
        return self.read(self.pointer(data), size) if size else b""


class _Ctypes(_Backend):
    """ctypes: the standard library's FFI; the fastest choice on CPython."""

    name = "ctypes"

    def __init__(self, path: Path) -> None:
        import ctypes

        self._ct = ctypes
        codes: dict[str, Any] = {
            "p": ctypes.c_void_p,
            "s": ctypes.c_char_p,
            "z": ctypes.c_size_t,
            "Q": ctypes.c_uint64,
            "q": ctypes.c_int64,
            "b": ctypes.c_bool,
            "v": None,
        }
        try:
            dll = ctypes.CDLL(str(path))
        except OSError as e:
            raise Mismatch("cannot load %s: %s" % (path, e)) from None
        funcs: dict[str, Any] = {}
        for name, (res, args) in _SIGS.items():
            try:
                f = dll[name]
            except AttributeError:
                raise Mismatch("the wasmtime C library lacks %s" % name) from None
            f.restype = codes[res]
            f.argtypes = [codes[a] for a in args]
            funcs[name] = f
        self.lib = type("Lib", (), funcs)
        self.null = None
        self._dll = dll

        class ResultVal(ctypes.Structure):  # wasmtime_component_val_t, string/list arm
            _fields_ = (
                ("kind", ctypes.c_uint8),
                ("size", ctypes.c_size_t),
                ("data", ctypes.c_void_p),
                ("rest", ctypes.c_uint64),
            )

        class ArgVal(ctypes.Structure):  # the same; data as c_char_p to borrow a bytes object
            _fields_ = (
                ("kind", ctypes.c_uint8),
                ("size", ctypes.c_size_t),
                ("data", ctypes.c_char_p),
                ("rest", ctypes.c_uint64),
            )

        if not (
            ctypes.sizeof(ResultVal) == VAL_SIZE
            and ctypes.sizeof(ArgVal) == VAL_SIZE
            and ResultVal.size.offset == UNION_OFFSET
            and ArgVal.data.offset == UNION_OFFSET + 8
        ):
            raise Mismatch("ctypes lays out wasmtime_component_val_t unlike val.h")
        self._result_val = ResultVal
        self._arg_val = ArgVal

    def isnull(self, p: Any) -> bool:
        return not p

    def buf(self, n: int, fill: int = 0) -> tuple[Any, Any]:
        b = (self._ct.c_uint8 * n)()
        if fill:
            self._ct.memset(b, fill, n)
        return b, self._ct.addressof(b)

    def out_ptr(self) -> tuple[Any, Any]:
        o = self._ct.c_void_p()
        return o, self._ct.byref(o)

    def deref_out(self, owner: Any) -> Any:
        return owner.value

    def read(self, addr: Any, n: int) -> bytes:
        return self._ct.string_at(addr, n) if n else b""

    def readbuf(self, owner: Any) -> bytes:
        return bytes(owner)

    def poke(self, owner: Any, data: bytes) -> None:
        self._ct.memmove(owner, data, len(data))

    def address(self, p: Any) -> int:
        return int(p or 0)

    def pointer(self, addr: int) -> Any:
        return addr

    def caller(
        self, func: Any, ctx: Any, nargs: int, on_error: Callable[[Any], None], owner: Any
    ) -> Caller:
        ct = self._ct
        # The hot path avoids ctypes' per-call conversions: the call goes through handles of
        # the same two functions without argtypes, given ctypes instances of the declared
        # types (c_void_p, c_size_t) made once, which ctypes passes as those C types; the
        # result's kind and size are read with one struct.unpack_from, its string through a
        # char pointer aliasing the result's data field (slicing copies the bytes: no
        # string_at, which is a foreign call of its own).
        dll = self._dll
        fcall = dll["wasmtime_component_func_call"]
        fcall.restype = ct.c_void_p
        vdel = dll["wasmtime_component_val_delete"]
        vdel.restype = None
        # Both structures live as long as the closure: the C API reads `arg` and writes `res`.
        arg = self._arg_val()
        arg.kind = K_STRING
        res = self._result_val()
        data_ptr = ct.POINTER(ct.c_char).from_buffer(res, UNION_OFFSET + 8)  # keeps `res`
        head = struct.Struct("=B7xQ").unpack_from  # kind, size (layout checked at load)
        view = memoryview(res).cast("B")
        args = (
            ct.c_void_p(self.address(func)),
            ct.c_void_p(self.address(ctx)),
            ct.c_void_p(ct.addressof(arg) if nargs else None),
            ct.c_size_t(nargs),
            ct.c_void_p(ct.addressof(res)),
            ct.c_size_t(1),
        )
        resp = args[4]

        def call(request: str) -> str:
            if owner.closed:
                raise Trap(CLOSED)
            if nargs:
                data = request.encode("utf-8")  # raises on lone surrogates, before any C call
                arg.size = len(data)
                arg.data = data  # borrowed: `arg` keeps a reference (ctypes' _objects)
            err = fcall(*args)
            if err:
                on_error(err)
            kind, size = head(view)
            if kind != K_STRING:
                vdel(resp)
                raise WasmtimeError("the guest returned a value of kind %d, not a string" % kind)
            out = data_ptr[:size] if size else b""
            vdel(resp)
            return out.decode("utf-8")

        return call


class _Cffi(_Backend):
    """cffi in ABI mode (no compiler): built into PyPy, where its calls are JIT-friendly."""

    name = "cffi"

    def __init__(self, path: Path) -> None:
        try:
            import cffi
        except ImportError:
            raise Mismatch("WASMPG_FFI=cffi needs the cffi package") from None
        ffi = cffi.FFI()
        ctype = {
            "p": "void *",
            "s": "const char *",
            "z": "size_t",
            "Q": "uint64_t",
            "q": "int64_t",
            "b": "_Bool",
            "v": "void",
        }
        decls = [
            "%s %s(%s);" % (ctype[res], name, ", ".join(ctype[a] for a in args) or "void")
            for name, (res, args) in _SIGS.items()
        ]
        decls.append(
            "typedef struct { uint8_t kind; size_t size; char *data; uint64_t rest; } wasmpg_val;"
        )
        ffi.cdef("\n".join(decls))
        if ffi.sizeof("wasmpg_val") != VAL_SIZE or ffi.offsetof("wasmpg_val", "size") != 8:
            raise Mismatch("cffi lays out wasmtime_component_val_t unlike val.h")
        try:
            lib: Any = ffi.dlopen(str(path))
        except OSError as e:
            raise Mismatch("cannot load %s: %s" % (path, e)) from None
        for name in _SIGS:  # resolve every symbol now: a missing one fails at load
            try:
                getattr(lib, name)
            except AttributeError:
                raise Mismatch("the wasmtime C library lacks %s" % name) from None
        self._cffi = ffi
        self.lib = lib
        self.null = ffi.NULL

    def isnull(self, p: Any) -> bool:
        return bool(p == self._cffi.NULL)

    def buf(self, n: int, fill: int = 0) -> tuple[Any, Any]:
        b = self._cffi.new("uint8_t[]", n)
        if fill:
            self._cffi.memmove(b, bytes([fill]) * n, n)
        return b, b

    def out_ptr(self) -> tuple[Any, Any]:
        o = self._cffi.new("void **")
        return o, o

    def deref_out(self, owner: Any) -> Any:
        return owner[0]

    def read(self, addr: Any, n: int) -> bytes:
        if not n:
            return b""
        data: bytes = self._cffi.buffer(self._cffi.cast("char *", addr), n)[:]
        return data

    def readbuf(self, owner: Any) -> bytes:
        return bytes(self._cffi.buffer(owner)[:])

    def poke(self, owner: Any, data: bytes) -> None:
        self._cffi.memmove(owner, data, len(data))

    def address(self, p: Any) -> int:
        return int(self._cffi.cast("uintptr_t", p))

    def pointer(self, addr: int) -> Any:
        return self._cffi.cast("void *", addr)

    def caller(
        self, func: Any, ctx: Any, nargs: int, on_error: Callable[[Any], None], owner: Any
    ) -> Caller:
        ffi = self._cffi
        fcall = self.lib.wasmtime_component_func_call
        vdel = self.lib.wasmtime_component_val_delete
        unpack = ffi.unpack
        from_buffer = ffi.from_buffer
        null = ffi.NULL
        arg = ffi.new("wasmpg_val *")
        arg.kind = K_STRING
        argp = arg if nargs else null
        res = ffi.new("wasmpg_val *")

        def call(request: str) -> str:
            if owner.closed:
                raise Trap(CLOSED)
            keep = None
            if nargs:
                data = request.encode("utf-8")
                keep = from_buffer(data)  # borrowed for the call, no copy; alive until return
                arg.size = len(data)
                arg.data = keep
            err = fcall(func, ctx, argp, nargs, res, 1)
            del keep
            if err != null:
                on_error(err)
            if res.kind != K_STRING:
                vdel(res)
                raise WasmtimeError(
                    "the guest returned a value of kind %d, not a string" % res.kind
                )
            n = res.size
            out: Any = unpack(res.data, n) if n else b""
            vdel(res)
            # PyPy's ASCII decoder is several times faster than its UTF-8 one; steps are
            # mostly ASCII.
            try:
                text: str = out.decode("ascii")
            except UnicodeDecodeError:
                text = out.decode("utf-8")
            return text

        return call


def _backend(path: Path) -> _Backend:
    want = os.environ.get("WASMPG_FFI") or (
        "cffi" if platform.python_implementation() == "PyPy" else "ctypes"
    )
    if want == "cffi":
        return _Cffi(path)
    if want == "ctypes":
        return _Ctypes(path)
    raise Mismatch("WASMPG_FFI=%s: expected ctypes, cffi or public" % want)


# ---------------------------------------------------------------------------------------------
# Errors


def _error_text(be: _Backend, err: Any) -> str:
    """The message of a wasmtime_error_t, which is freed."""
    vec, vecp = be.buf(VEC_SIZE)
    be.lib.wasmtime_error_message(err, vecp)
    text = be.vec_read(vec).decode("utf-8", "replace")
    be.lib.wasm_byte_vec_delete(vecp)
    be.lib.wasmtime_error_delete(err)
    return text


def _check(be: _Backend, err: Any, what: str) -> None:
    if not be.isnull(err):
        raise WasmtimeError("%s: %s" % (what, _error_text(be, err)))


def _check_extent(be: _Backend, owner: Any, used_max: int, what: str) -> None:
    raw = be.readbuf(owner)
    if any(x != CANARY for x in raw[used_max:]):
        raise Mismatch(
            "wasmtime wrote more than %d bytes into a %s: its layout changed" % (used_max, what)
        )


# ---------------------------------------------------------------------------------------------
# Engine, component, instance


class Engine:
    """The library, an engine with epoch interruption and the component model, and a linker
    with WASI p2 (each store's WASI context grants nothing). One per process."""

    def __init__(self, path: Optional[Path] = None) -> None:
        self.version = wasmtime_version()
        _check_version(self.version)
        self.path = path or library_path()
        be = self.be = _backend(self.path)
        lib = be.lib
        _selftest_layout(be)
        cfg = lib.wasm_config_new()
        lib.wasmtime_config_epoch_interruption_set(cfg, True)
        lib.wasmtime_config_wasm_component_model_set(cfg, True)
        self._engine = lib.wasm_engine_new_with_config(cfg)
        self._linker = lib.wasmtime_component_linker_new(self._engine)
        _check(be, lib.wasmtime_component_linker_add_wasip2(self._linker), "add_wasip2")
        self.increment_epoch: Callable[[], None] = lambda: lib.wasmtime_engine_increment_epoch(
            self._engine
        )

    def compile(self, wasm: bytes) -> Component:
        owner, out = self.be.out_ptr()
        err = self.be.lib.wasmtime_component_new(self._engine, wasm, len(wasm), out)
        _check(self.be, err, "compiling the guest component")
        return Component(self, self.be.deref_out(owner))

    def deserialize(self, blob: bytes) -> Component:
        """Only for bytes `Component.serialize` wrote (this package's own cache)."""
        owner, out = self.be.out_ptr()
        err = self.be.lib.wasmtime_component_deserialize(self._engine, blob, len(blob), out)
        _check(self.be, err, "loading the cached guest component")
        return Component(self, self.be.deref_out(owner))


class Component:
    """A compiled component and the export indices taken from it (valid for every instance)."""

    def __init__(self, engine: Engine, ptr: Any) -> None:
        self.engine = engine
        self._ptr = ptr
        self._indices: dict[tuple[str, ...], Any] = {}

    def serialize(self) -> bytes:
        be = self.engine.be
        vec, vecp = be.buf(VEC_SIZE)
        _check(be, be.lib.wasmtime_component_serialize(self._ptr, vecp), "serializing")
        out = be.vec_read(vec)
        be.lib.wasm_byte_vec_delete(vecp)
        return out

    def export_index(self, *path: str) -> Any:
        """The index of a (nested) export: ``export_index("iface", "func")``."""
        idx = self._indices.get(path)
        if idx is None:
            be = self.engine.be
            parent = be.null
            if len(path) > 1:
                parent = self.export_index(*path[:-1])
            name = path[-1].encode("utf-8")
            idx = be.lib.wasmtime_component_get_export_index(self._ptr, parent, name, len(name))
            if be.isnull(idx):
                raise WasmtimeError("the guest component does not export %s" % "/".join(path))
            self._indices[path] = idx
        return idx

    def instantiate(self, memory_limit: int) -> Instance:
        return Instance(self, memory_limit)


class Instance:
    """One store and one instance of the component: one guest session. Not thread-safe (one
    thread at a time); ctypes and cffi release the GIL during C calls, so the epoch ticker
    thread runs while the guest does. After any call error the instance is closed."""

    def __init__(self, component: Component, memory_limit: int) -> None:
        engine = component.engine
        be = self._be = engine.be
        lib = be.lib
        self._component = component  # keeps the export indices alive
        self._store = lib.wasmtime_store_new(engine._engine, be.null, be.null)
        self._ctx = lib.wasmtime_store_context(self._store)
        lib.wasmtime_store_limiter(self._store, memory_limit, -1, -1, -1, -1)
        # An empty WASI config (no arguments, environment, preopens, stdio or network). It must
        # be set: the linker's WASI functions expect the store to have one.
        _check(be, lib.wasmtime_context_set_wasi(self._ctx, lib.wasi_config_new()), "set_wasi")
        lib.wasmtime_context_set_epoch_deadline(self._ctx, 1 << 40)
        self._inst, instp = be.buf(INSTANCE_SLOT, CANARY)
        err = lib.wasmtime_component_linker_instantiate(
            engine._linker, self._ctx, component._ptr, instp
        )
        if not be.isnull(err):
            message = _error_text(be, err)
            self.close()
            raise WasmtimeError("instantiating the guest: %s" % message)
        _check_extent(be, self._inst, INSTANCE_MAX, "wasmtime_component_instance_t")
        self._instp = instp
        self._funcs: list[Any] = []  # the func_t buffers, kept alive with the instance
        self.closed = False

    def func(self, *path: str, nargs: int = 1) -> Caller:
        """A caller for an exported ``func(string) -> string`` (or ``func() -> string``)."""
        if self.closed:
            raise Trap("the guest instance was closed")
        be = self._be
        owner, fp = be.buf(FUNC_SLOT, CANARY)
        index = self._component.export_index(*path)
        if not be.lib.wasmtime_component_instance_get_func(self._instp, self._ctx, index, fp):
            raise WasmtimeError("the guest export %s is not a function" % "/".join(path))
        _check_extent(be, owner, FUNC_MAX, "wasmtime_component_func_t")
        self._funcs.append(owner)
        what = "/".join(path)

        def on_error(err: Any) -> None:
            message = _error_text(be, err).strip()
            self.close()
            cls = Interrupted if "interrupt" in message else Trap
            raise cls("the guest failed in %s: %s" % (what, message))

        return be.caller(fp, self._ctx, nargs, on_error, self)

    def set_epoch_deadline(self, ticks: int) -> None:
        if not self.closed:
            self._be.lib.wasmtime_context_set_epoch_deadline(self._ctx, ticks)

    def close(self) -> None:
        """Frees the store (and the instance in it). Idempotent."""
        self.closed = True
        store, self._store = self._store, None
        if store is not None:
            self._be.lib.wasmtime_store_delete(store)

    def __del__(self) -> None:
        try:
            self.close()
        except (AttributeError, TypeError):  # interpreter shutdown
            pass


# ---------------------------------------------------------------------------------------------
# The load-time layout self-test (no guest needed)


def _selftest_layout(be: _Backend) -> None:
    """Lays out a string value and a list<u8> value by our declarations, has the library clone
    them (``wasmtime_component_val_clone`` writes a value laid out by the library itself), and
    reads the clones back by our declarations: kind, union offset, the string and list arms and
    the element stride must round-trip, and nothing may be written past 32 bytes."""
    lib = be.lib
    keep: list[Any] = []

    def value(kind: int, size: int, data: bytes) -> Any:
        payload, payload_p = be.buf(len(data))
        be.poke(payload, data)
        owner, p = be.buf(VAL_SIZE)
        be.poke(owner, struct.pack("<B7xQQQ", kind, size, be.address(payload_p), 0))
        keep.extend((payload, owner))
        return p

    def cloned(src: Any) -> tuple[int, int, bytes, bool]:
        dst, dstp = be.buf(2 * VAL_SIZE, CANARY)
        lib.wasmtime_component_val_clone(src, dstp)
        raw = be.readbuf(dst)
        kind, size, data = struct.unpack_from("<B7xQQ", raw)
        n = size * VAL_SIZE if kind == K_LIST else size
        content = be.read(be.pointer(data), n) if kind in (K_STRING, K_LIST) and data else b""
        intact = all(x == CANARY for x in raw[VAL_SIZE:])
        lib.wasmtime_component_val_delete(dstp)
        return kind, size, content, intact

    text = b"wasmpg-layout-check"
    kind, size, content, intact = cloned(value(K_STRING, len(text), text))
    if not (kind == K_STRING and size == len(text) and content == text and intact):
        raise Mismatch("wasmtime_component_val_t (string) is laid out unlike val.h")
    elems = bytearray(3 * VAL_SIZE)
    elems[0::VAL_SIZE] = bytes([K_U8]) * 3
    elems[UNION_OFFSET::VAL_SIZE] = b"\x07\x08\x09"
    kind, size, content, intact = cloned(value(K_LIST, 3, bytes(elems)))
    ok = kind == K_LIST and size == 3 and intact
    if not (
        ok
        and content[0::VAL_SIZE] == bytes([K_U8]) * 3
        and content[UNION_OFFSET::VAL_SIZE] == b"\x07\x08\x09"
    ):
        raise Mismatch("wasmtime_component_val_t (list<u8>) is laid out unlike val.h")
