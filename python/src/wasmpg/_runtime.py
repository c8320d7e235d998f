"""The process-wide runtime: the engine, the compiled guest component (cached on disk across
processes), and the epoch ticker that bounds each call's guest CPU time.

Created once per process (`runtime()`); each session instantiates the component in its own
store (`_sandbox.Sandbox`). The engine is `_capi`'s (our own C declarations) unless the
installed wasmtime does not match them, in which case the public API (`_public`) runs the
guest instead, with a RuntimeWarning; ``WASMPG_FFI=public`` chooses it explicitly,
``WASMPG_FFI=ctypes|cffi`` a C backend (then a mismatch is an ImportError, not a fallback).
"""

from __future__ import annotations

import hashlib
import os
import platform
import threading
import time
import warnings
from typing import Any, Optional

from . import _capi
from ._abi import VERSION
from .errors import InterfaceError

__all__ = [
    "CPU_LIMIT_TICKS",
    "EPOCH",
    "IFACE",
    "TICKS_PER_SECOND",
    "Runtime",
    "backend_name",
    "runtime",
]

TICKS_PER_SECOND = 100
CPU_LIMIT_TICKS = 5 * TICKS_PER_SECOND  # 5 s of guest execution per call, like the Rust host
EPOCH = [0]  # ticks seen by the ticker thread (never ahead of the engine's epoch)

# The exported interface of contract wasmpg:driver@0.2.0 (wit/driver.wit).
IFACE = "wasmpg:driver/packed@0.2.0"

# Memory for the throwaway instance that checks the component at load.
_CHECK_MEMORY = 64 << 20


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


def _make_engine() -> tuple[Any, str]:
    """(engine, backend name): our C declarations, or the public API as the fallback."""
    choice = os.environ.get("WASMPG_FFI", "")
    if choice != "public":
        try:
            engine = _capi.Engine()
            return engine, engine.be.name
        except _capi.Mismatch as e:
            if choice:
                raise ImportError("wasmpg: WASMPG_FFI=%s cannot be used: %s" % (choice, e)) from e
            warnings.warn(
                "wasmpg: %s; running the guest through the wasmtime package's public API "
                "instead (correct, but each call is several times slower)" % e,
                RuntimeWarning,
                stacklevel=4,
            )
    from . import _public

    return _public.Engine(), "public"


class Runtime:
    """The engine and the compiled component: created once per process."""

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
        self.engine, self.backend = _make_engine()
        try:
            self.component = self._load(wasm)
            self._check_component()
        except _capi.Mismatch as e:
            if self.backend == "public" or os.environ.get("WASMPG_FFI"):
                raise
            warnings.warn(
                "wasmpg: %s; falling back to the wasmtime package's public API" % e,
                RuntimeWarning,
                stacklevel=3,
            )
            from . import _public

            self.engine, self.backend = _public.Engine(), "public"
            self.component = self._load(wasm)
            self._check_component()
        self._ticker_pid = 0
        self.start_ticker()

    def _check_component(self) -> None:
        """Calls ``version`` twice on a throwaway instance: the component must implement this
        contract, and a second call must work (a C API that still needed post-return calls,
        or any other call-protocol change the layout checks cannot see, fails here)."""
        try:
            inst = self.component.instantiate(_CHECK_MEMORY)
            version = inst.func(IFACE, "version", nargs=0)
            first, second = version(""), version("")
            inst.close()
        except _capi.WasmtimeError as e:
            if self.backend == "public":
                raise InterfaceError("the wasmpg guest component cannot run: %s" % e) from None
            raise _capi.Mismatch(
                "the guest cannot be called twice through the C API: %s" % e
            ) from None
        if first != VERSION or second != VERSION:
            raise InterfaceError(
                "the guest component implements %r; this package needs %r (reinstall wasmpg)"
                % (first, VERSION)
            )

    def _load(self, wasm: bytes) -> Any:
        """Compiles the component, or loads the artifact an earlier process cached."""
        engine = self.engine
        directory = _cache_dir()
        if not directory:
            return engine.compile(wasm)
        key = hashlib.sha256(wasm).hexdigest()[:24]
        name = "py-guest-%s-wasmtime-%s-%s-epoch.cwasm" % (
            key,
            engine.version,
            platform.machine(),
        )
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            try:
                # wasmtime checks the artifact's header and version: a foreign or stale file
                # fails here and is recompiled and replaced below. Only this package writes
                # into the directory (atomically, by rename).
                with open(path, "rb") as f:
                    return engine.deserialize(f.read())
            except (OSError, _capi.WasmtimeError):
                pass
        component = engine.compile(wasm)
        try:  # caching is an optimisation: failing to write is not an error
            os.makedirs(directory, exist_ok=True)
            tmp = os.path.join(directory, ".%d.%s.tmp" % (os.getpid(), name))
            with open(tmp, "wb") as f:
                f.write(component.serialize())
            os.replace(tmp, path)
        except (OSError, _capi.WasmtimeError):
            pass
        return component

    def start_ticker(self) -> None:
        """Advances the engine's epoch 100 times a second: the CPU bound of each call.

        Threads do not survive fork(): each new sandbox calls this, so a child restarts it."""
        if self._ticker_pid == os.getpid():
            return
        self._ticker_pid = os.getpid()
        increment = self.engine.increment_epoch

        def tick() -> None:
            while True:
                time.sleep(1.0 / TICKS_PER_SECOND)
                increment()
                EPOCH[0] += 1

        threading.Thread(target=tick, name="wasmpg-epoch", daemon=True).start()


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


def backend_name() -> str:
    """How the guest is called: ``ctypes``, ``cffi`` or ``public`` (creates the runtime)."""
    return runtime().backend
