"""The slow but safe way to run the guest: the ``wasmtime`` package's public component API.

Used when the installed wasmtime does not match `_capi`'s declarations (the load-time checks
fail; a RuntimeWarning says so) or when ``WASMPG_FFI=public`` asks for it. It offers the same
small interface as `_capi` (engine, component, instance, ``func(...)(request) -> str``), with
wasmtime's errors mapped onto `_capi`'s exception classes, so the rest of the package does not
know which one runs. A call costs tens of microseconds here instead of a few.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import wasmtime
from wasmtime import component as wc

from ._capi import Interrupted, Trap, WasmtimeError, wasmtime_version

__all__ = ["Component", "Engine", "Instance"]


class Engine:
    """An engine with epoch interruption, and a linker with WASI p2."""

    def __init__(self) -> None:
        self.version = wasmtime_version()
        config = wasmtime.Config()
        config.epoch_interruption = True
        self._engine = wasmtime.Engine(config)
        self._linker = wc.Linker(self._engine)
        self._linker.add_wasip2()
        self.increment_epoch: Callable[[], None] = self._engine.increment_epoch

    def compile(self, wasm: bytes) -> Component:
        try:
            return Component(self, wc.Component(self._engine, wasm))
        except wasmtime.WasmtimeError as e:
            raise WasmtimeError("compiling the guest component: %s" % e) from None

    def deserialize(self, blob: bytes) -> Component:
        try:
            return Component(self, wc.Component.deserialize(self._engine, blob))
        except wasmtime.WasmtimeError as e:
            raise WasmtimeError("loading the cached guest component: %s" % e) from None


class Component:
    def __init__(self, engine: Engine, component: wc.Component) -> None:
        self.engine = engine
        self._component = component

    def serialize(self) -> bytes:
        return bytes(self._component.serialize())

    def export_index(self, *path: str) -> Any:
        index = None
        for name in path:
            index = self._component.get_export_index(name, index)
            if index is None:
                raise WasmtimeError("the guest component does not export %s" % "/".join(path))
        return index

    def instantiate(self, memory_limit: int) -> Instance:
        return Instance(self, memory_limit)


class Instance:
    """One store and one instance; closed after any call error."""

    def __init__(self, component: Component, memory_limit: int) -> None:
        self._component = component
        store = wasmtime.Store(component.engine._engine)
        store.set_wasi(wasmtime.WasiConfig())  # grants nothing
        store.set_limits(memory_size=memory_limit)
        store.set_epoch_deadline(1 << 40)
        self._store = store
        try:
            self._instance = component.engine._linker.instantiate(store, component._component)
        except wasmtime.WasmtimeError as e:
            raise WasmtimeError("instantiating the guest: %s" % e) from None
        self.closed = False

    def func(self, *path: str, nargs: int = 1) -> Callable[[str], str]:
        if self.closed:
            raise Trap("the guest instance was closed")
        f = self._instance.get_func(self._store, self._component.export_index(*path))
        if f is None:
            raise WasmtimeError("the guest export %s is not a function" % "/".join(path))
        store = self._store
        what = "/".join(path)
        instance = self

        def call(request: str) -> str:
            if instance.closed:
                raise Trap("the guest instance was closed after an earlier failure")
            try:
                out = f(store, request) if nargs else f(store)
            except (wasmtime.WasmtimeError, wasmtime.Trap) as e:
                instance.close()
                message = str(e).strip()
                cls = Interrupted if "interrupt" in message else Trap
                raise cls("the guest failed in %s: %s" % (what, message)) from None
            if not isinstance(out, str):
                instance.close()
                raise WasmtimeError("the guest returned %s, not a string" % type(out).__name__)
            return out

        return call

    def set_epoch_deadline(self, ticks: int) -> None:
        if not self.closed:
            self._store.set_epoch_deadline(ticks)

    def close(self) -> None:
        """Frees the store (and the instance in it). Idempotent."""
        if not self.closed:
            self.closed = True
            self._store.close()
