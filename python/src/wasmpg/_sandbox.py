"""One guest instance per connection: its store, its session resource, and the calls into it.

Only the set-up goes through the wasmtime package's public API (store, instantiation, the
session constructor). Every later call goes straight to `wasmtime_component_func_call` through
the FFI backend (`_backend`): the arguments are lowered into an arena this sandbox owns and the
result is decoded in place (`_abi`); the result tree stays owned by its slot until the next
call replaces it (see `Sandbox._invoke`).

Like `_backend`, this reaches past the wasmtime package's public API (the store's context, a
function's C handle, errors from a raw pointer): a known limitation, to be replaced.
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from typing import Any

import wasmtime
from wasmtime import _ffi as _wffi
from wasmtime import component as _wc

from ._abi import Arena, Step, lower, pack_slot, result, step
from ._backend import BACKEND, K_RESOURCE, K_STRING, MEM, VAL
from ._runtime import CPU_LIMIT_TICKS, EPOCH, Runtime
from .errors import InterfaceError, OperationalError

__all__ = ["GuestTrap", "Sandbox"]


class GuestTrap(OperationalError):
    """The guest trapped (or exceeded its CPU or memory bound); its instance was discarded."""

    def __init__(self, message: str) -> None:
        super().__init__(message, kind="trap")


def _address(ptr: Any, what: str) -> int:
    """The address a ctypes pointer from wasmtime holds (never null for a live object)."""
    addr = ctypes.cast(ptr, ctypes.c_void_p).value
    if addr is None:
        raise InterfaceError("wasmtime returned a null %s" % what)
    return addr


class Sandbox:
    """One guest instance in its own store, plus one session resource of it."""

    def __init__(self, rt: Runtime, memory_limit: int) -> None:
        rt.start_ticker()
        self._rt = rt
        store = wasmtime.Store(rt.engine)
        # No preopens, no environment, no arguments, no inherited stdio; no sockets either
        # (the wasmtime package's WASI context has no switch that would allow them).
        store.set_wasi(wasmtime.WasiConfig())
        store.set_limits(memory_size=memory_limit)
        store.set_epoch_deadline(CPU_LIMIT_TICKS)
        self._store = store
        self._instance = rt.linker.instantiate(store, rt.component)
        self._ctx_addr = _address(store._context(), "store context")
        self._ctx = BACKEND.pointer(self._ctx_addr)
        self._deadline_at = EPOCH[0]
        # Function handles, looked up once; addresses of their wasmtime_component_func_t.
        self._funcs: dict[str, Any] = {}
        self._func_ptrs: dict[str, Any] = {}
        for name, index in rt.exports.items():
            func = self._instance.get_func(store, index)
            if func is None:
                raise InterfaceError("the guest component does not export %s" % name)
            self._funcs[name] = func
            short = name.rsplit(".", 1)[-1]
            self._func_ptrs[short] = BACKEND.pointer(ctypes.addressof(func._func))
        self._res_owner, self._res_addr = BACKEND.alloc(VAL)
        self._res = BACKEND.pointer(self._res_addr)
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
        self._arena_owner, self._arena_addr = BACKEND.alloc(cap)
        self._arena_ptr = BACKEND.pointer(self._arena_addr)
        self._arena_cap = cap

    # -- calls through the public API (once per connection) --

    def _guard(self) -> None:
        if self.poisoned:
            raise GuestTrap("the driver instance trapped earlier and was discarded")

    def parse_conninfo(self, conninfo: str, defaults: Sequence[tuple[str, str]]) -> Any:
        """parse-conninfo: a dict (see `_conninfo`) or an error tuple (kind, message, db)."""
        return self._call_raw(
            "parse-conninfo", [("s", conninfo), ("pairs", list(defaults))], self_arg=False
        )

    def new_session(self, max_message_size: int, batch_bytes: int, statement_cache: int) -> None:
        """Constructs the session resource (io: latin1)."""
        self._guard()
        options = _wc.Record()
        fields = (
            ("max-message-size", max_message_size),
            ("batch-bytes", batch_bytes),
            ("io", "latin1"),
            ("statement-cache", statement_cache),
        )
        for name, value in fields:
            setattr(options, name, value)
        try:
            self._refresh_deadline(force=True)
            self._session = self._funcs["[constructor]session"](self._store, options)
        except wasmtime.WasmtimeError as e:
            self.poisoned = True
            raise GuestTrap("the guest trapped in the session constructor: %s" % e) from None
        ptr = _address(self._session.ptr(), "session resource")
        self._self_slot = pack_slot(K_RESOURCE, ptr, 0, 0)

    # -- the fast path --

    def _refresh_deadline(self, force: bool = False) -> None:
        now = EPOCH[0]
        if force or now - self._deadline_at > CPU_LIMIT_TICKS // 2:
            BACKEND.set_deadline(self._ctx, CPU_LIMIT_TICKS)
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
        if EPOCH[0] - self._deadline_at > CPU_LIMIT_TICKS // 2:
            self._refresh_deadline(force=True)
        err = BACKEND.call(self._func_ptrs[method], self._ctx, self._arena_ptr, nargs, self._res, 1)
        if err:
            self.poisoned = True
            message = str(
                wasmtime.WasmtimeError._from_ptr(
                    ctypes.cast(err, ctypes.POINTER(_wffi.wasmtime_error_t))
                )
            )
            raise GuestTrap("the guest trapped in %s: %s" % (method, message.strip()))

    def _call_raw(self, method: str, args: list[tuple[str, Any]], self_arg: bool = True) -> Any:
        """Generic lowering; decodes a step, result<step, error> or result<conninfo, error>."""
        self._guard()
        nslots = len(args) + (1 if self_arg else 0)
        # Lower twice at most: the first pass sizes the arena, the second uses its address.
        for _attempt in range(2):
            arena = Arena(nslots)
            base = self._arena_addr
            slots = [self._self_slot] if self_arg else []
            slots += [lower(arena, base, kind, value) for kind, value in args]
            if arena.size <= self._arena_cap:
                break
            self._grow(arena.size)
        blob = b"".join(slots + arena.parts)
        base = self._arena_addr
        MEM[base : base + len(blob)] = blob
        self._invoke(method, nslots)
        # The result stays owned by the slot until the next call replaces it.
        return result(self._res_addr, method == "parse-conninfo")

    def call(self, method: str, *args: tuple[str, Any]) -> Any:
        """A session method returning `step`, or `result<step, error>` for connect."""
        return self._call_raw(method, list(args))

    def call_str(self, method: str, text: str) -> Step:
        """The hot path: a session method taking one string (feed-latin1, simple-query)."""
        if self.poisoned:
            self._guard()
        data = text.encode("utf-8")
        n = len(data)
        if n + 64 > self._arena_cap:
            self._grow(n + 64)
        addr = self._arena_addr
        MEM[addr : addr + 64] = self._self_slot + pack_slot(K_STRING, n, addr + 64, 0)
        if n:
            MEM[addr + 64 : addr + 64 + n] = data
        self._invoke(method, 2)
        return step(self._res_addr + 8)

    def call_none(self, method: str) -> Step:
        """A session method without arguments (opened, eof, terminate)."""
        if self.poisoned:
            self._guard()
        addr = self._arena_addr
        MEM[addr : addr + VAL] = self._self_slot
        self._invoke(method, 1)
        return step(self._res_addr + 8)

    def __del__(self) -> None:
        # Frees the last result tree (plain Rust allocations: no store access).
        try:
            if not self._res_freed:
                self._res_freed = True
                BACKEND.val_delete(self._res)
        except (AttributeError, TypeError):
            pass

    def close(self) -> None:
        """Frees the store (and with it the instance and the session)."""
        self.poisoned = True
        if not self._res_freed:
            # The last result is still owned by the slot (see `_invoke`).
            self._res_freed = True
            BACKEND.val_delete(self._res)
            MEM[self._res_addr : self._res_addr + VAL] = b"\0" * VAL
        session, self._session = self._session, None
        if session is not None:
            session.close()
        self._store.close()
