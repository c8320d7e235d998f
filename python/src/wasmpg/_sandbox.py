"""One guest instance per session: its store, the CPU and memory bounds, and the calls into it.

Every call passes one request string to the guest's ``call`` export and decodes the step it
returns (`_abi`). A trap, or running past the CPU bound, discards the instance: the session is
over (GuestTrap), other sessions are unaffected.
"""

from __future__ import annotations

from typing import Optional

from ._abi import Step, decode_step
from ._capi import Interrupted, Trap
from ._runtime import CPU_LIMIT_TICKS, EPOCH, IFACE, TICKS_PER_SECOND, Runtime
from .errors import OperationalError

__all__ = ["GuestTrap", "Sandbox"]


class GuestTrap(OperationalError):
    """The guest trapped (or exceeded its CPU or memory bound); its instance was discarded."""

    def __init__(self, message: str) -> None:
        super().__init__(message, kind="trap")


class Sandbox:
    """One guest instance in its own store (one session of the contract)."""

    def __init__(self, rt: Runtime, memory_limit: int, cpu_limit: Optional[float] = None) -> None:
        rt.start_ticker()
        self._instance = rt.component.instantiate(memory_limit)
        self._call = self._instance.func(IFACE, "call")
        # The bound in epoch ticks (at least one): `cpu_limit` seconds, else the default.
        self._ticks = (
            CPU_LIMIT_TICKS if cpu_limit is None else max(1, round(cpu_limit * TICKS_PER_SECOND))
        )
        self._half = self._ticks // 2
        self._instance.set_epoch_deadline(self._ticks)
        self._deadline_at = EPOCH[0]
        self.poisoned = False

    def call(self, request: str) -> Step:
        """One request (`_abi.req_*`) -> the decoded step."""
        if self.poisoned:
            raise GuestTrap("the driver instance trapped earlier and was discarded")
        # Each call gets between half and all of the CPU bound: the deadline is renewed only
        # once half of it has passed (saves a C call per guest call).
        now = EPOCH[0]
        if now - self._deadline_at > self._half:
            self._instance.set_epoch_deadline(self._ticks)
            self._deadline_at = now
        try:
            out = self._call(request)
        except Interrupted:
            self.poisoned = True
            raise GuestTrap(
                "the guest trapped: it exceeded its CPU time bound (%g s per call); its instance "
                "was discarded" % (self._ticks / TICKS_PER_SECOND)
            ) from None
        except Trap as e:
            self.poisoned = True
            raise GuestTrap(str(e)) from None
        return decode_step(out)

    def close(self) -> None:
        """Frees the store (and the instance in it)."""
        self.poisoned = True
        self._instance.close()
