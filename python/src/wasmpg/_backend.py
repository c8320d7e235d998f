"""The FFI backend: direct calls into wasmtime's C API for the hot path, and native memory.

The `wasmtime` PyPI package offers a generic component API (`Func.__call__`) that inspects the
function's type through the C API on every call and converts every value through Python objects.
That costs tens of microseconds per call on CPython and hundreds on PyPy, and the driver calls
into the guest about twice per round trip. So every call after the set-up goes straight to
`wasmtime_component_func_call` (see `_sandbox`), made by one of two backends: ctypes on CPython
(standard library), and cffi in ABI mode on PyPy (built into PyPy, no compiler; its calls are
visible to the JIT, where ctypes calls are slow). `WASMPG_FFI=ctypes|cffi` overrides the choice.

The layout of component values (a one-byte kind, then an 8-byte-aligned union at offset 8; 32
bytes in all; record entries of 48 bytes) is checked against the wasmtime package's own ctypes
declarations at import, so a layout change fails loudly instead of misreading memory.

This module reaches into the wasmtime package's private `_ffi` module (its ctypes declarations
and its library handle): a known limitation, to be replaced by public interfaces.
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct
from typing import Any, Callable

from wasmtime import _ffi as _wffi

# ---------------------------------------------------------------------------------------------
# Memory layout of wasmtime_component_val_t (checked below against wasmtime's declarations).

VAL = 32  # sizeof(wasmtime_component_val_t)
ENTRY = 48  # sizeof(wasmtime_component_valrecord_entry_t): name (16 bytes), then the value

# Value kinds (wasmtime/component/val.h).
K_U32, K_STRING, K_LIST, K_RECORD, K_TUPLE = 6, 12, 13, 14, 15
K_VARIANT, K_ENUM, K_OPTION, K_RESULT, K_RESOURCE = 16, 17, 18, 19, 21


def _check_layout() -> None:
    v = _wffi.wasmtime_component_val_t
    ok = (
        ctypes.sizeof(v) == VAL
        and v.of.offset == 8
        and ctypes.sizeof(_wffi.wasmtime_component_valrecord_entry) == ENTRY
        and _wffi.wasmtime_component_valrecord_entry.val.offset == 16
        # (the package annotates these two fields as pointers; as class attributes they are
        # ctypes field descriptors, with an offset)
        and _wffi.wasmtime_component_valvariant_t.val.offset == 16  # type: ignore[attr-defined]
        and _wffi.wasmtime_component_valresult_t.val.offset == 8  # type: ignore[attr-defined]
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

# ---------------------------------------------------------------------------------------------
# Memory access and the C functions of the hot path.
#
# Reading many small pieces of native memory one FFI call at a time (ctypes.string_at) costs
# about half a microsecond each. Instead, `MEM` is one buffer object spanning the process's
# whole address space (a ctypes array at address 0 on CPython, a cffi buffer on PyPy), so a
# field is read with `struct.unpack_from(MEM, address)` and a string with `MEM[a:b]`: no FFI
# call at all. Only addresses that wasmtime just handed back are ever read.

_ADDRESS_SPACE = 1 << 47 if struct.calcsize("P") == 8 else 1 << 31

_CHOICE = os.environ.get("WASMPG_FFI") or (
    "cffi" if platform.python_implementation() == "PyPy" else "ctypes"
)


class Backend:
    """What both backends provide. Pointers are whatever the backend's calls accept (ints for
    ctypes, cdata for cffi); `mem` is a memoryview (ctypes) or a cffi buffer: both support
    `struct.unpack_from`, slicing and slice assignment."""

    name: str
    mem: Any
    # call(func, context, args, nargs, results, nresults) -> the wasmtime_error_t address, or 0
    call: Callable[[Any, Any, Any, int, Any, int], int]
    val_delete: Callable[[Any], None]
    set_deadline: Callable[[Any, int], None]

    def alloc(self, n: int) -> tuple[Any, int]:
        """A zeroed, 8-byte-aligned buffer of at least n bytes: (owner, address)."""
        raise NotImplementedError

    def pointer(self, addr: int) -> Any:
        """An address as the backend's calls take it."""
        raise NotImplementedError


class _CtypesBackend(Backend):
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

    def alloc(self, n: int) -> tuple[Any, int]:
        buf = (ctypes.c_uint64 * ((n + 7) // 8))()
        return buf, ctypes.addressof(buf)

    def pointer(self, addr: int) -> int:
        return addr


class _CffiBackend(Backend):
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
        # The library's functions are attributes made from the cdef above: dynamic.
        lib: Any = ffi.dlopen(str(_wffi.filename))
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

    def alloc(self, n: int) -> tuple[Any, int]:
        buf = self._ffi.new("uint64_t[]", (n + 7) // 8)
        return buf, int(self._ffi.cast("uintptr_t", buf))

    def pointer(self, addr: int) -> Any:
        return self._ffi.cast("char *", addr)


def _make_backend() -> Backend:
    if _CHOICE == "cffi":
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


BACKEND = _make_backend()
MEM = BACKEND.mem
