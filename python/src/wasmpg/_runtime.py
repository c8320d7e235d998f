"""The process-wide runtime: the engine, the compiled guest component (cached on disk across
processes), the linker, and the epoch ticker that bounds each call's guest CPU time.

Created once per process (`runtime()`); each connection instantiates the component in its own
store (`_sandbox.Sandbox`). The contract the component implements is `wit/driver.wit`.
"""

from __future__ import annotations

import hashlib
import os
import platform
import threading
import time
from typing import Any, Optional

import wasmtime
from wasmtime import _ffi as _wffi
from wasmtime import component as _wc

from ._backend import BACKEND
from .errors import InterfaceError

__all__ = ["CPU_LIMIT_TICKS", "EPOCH", "Runtime", "runtime"]

# The FFI backend in use (the test harness reports its name).
_B_ = BACKEND

TICKS_PER_SECOND = 100
CPU_LIMIT_TICKS = 5 * TICKS_PER_SECOND  # 5 s of guest execution per call, like the Rust host
EPOCH = [0]  # ticks seen by the ticker thread (never ahead of the engine's epoch)

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
        self.exports: dict[str, Any] = {}
        for name in names:
            index = self.component.get_export_index(name, iface)
            if index is None:
                raise InterfaceError("the guest component does not export %s" % name)
            self.exports[name] = index
        self._iface = iface
        self._ticker_pid = 0
        self.start_ticker()

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

    def start_ticker(self) -> None:
        """Advances the engine's epoch 100 times a second: the CPU bound of each call.

        Threads do not survive fork(): each new sandbox calls this, so a child restarts it."""
        if self._ticker_pid == os.getpid():
            return
        self._ticker_pid = os.getpid()
        engine = self.engine

        def tick() -> None:
            while True:
                time.sleep(1.0 / TICKS_PER_SECOND)
                engine.increment_epoch()
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
