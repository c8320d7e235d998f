"""The host half of a session: it owns the socket and performs the effects the guest asks for,
opening only what the policy allows. It mirrors ``host/src/connection.rs``.

Every call into the guest returns a *step*: bytes to send, the next action and the events
produced. The loop is::

    send step.send; hand step.events to the sink; then do step.action:
      open(target)   -> policy check, connect      -> opened() / open-failed(kind, reason)
      read           -> recv from the socket       -> feed-latin1(data) / eof()
      need-password  -> look in the password file  -> password(...)
      done           -> the request is complete
      close          -> close the socket: the session is over

A request can also be *streamed*: the loop stops as soon as the sink holds rows, and resumes
when they are consumed, so the socket is read only as fast as rows are used (TCP backpressure
then bounds memory). A new request first drains what is left of a streamed one.

The policy itself is `_policy`, the socket `_socket`, the guest instance `_sandbox`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Callable, Optional

from . import _abi as A
from . import _env
from ._abi import ColumnInfo, Step, Target
from ._policy import Policy, describe
from ._runtime import runtime
from ._sandbox import GuestTrap, Sandbox
from ._socket import Channel, send_cancel
from .errors import Diagnostic, Error, InterfaceError, OperationalError, format_notice, from_guest

__all__ = ["Session", "Sink"]

BATCH_BYTES = 256 << 10
MAX_NOTICES = 50


# ---------------------------------------------------------------------------------------------
# Sinks: where a request's result events go.


class Sink:
    """Receives the result events of one request. The default keeps only the first error."""

    error: Optional[Error] = None
    discarded = False

    def columns(self, cols: list[ColumnInfo]) -> None:
        pass

    def rows(self, batch: tuple[int, bool, str]) -> None:
        pass

    def complete(self, tag: str, rows: Optional[int]) -> None:
        pass

    def empty(self) -> None:
        pass

    def has_rows(self) -> bool:
        """While streaming: True stops reading from the socket."""
        return False

    def fail(self, error: Error) -> None:
        if self.error is None:
            self.error = error


class _Discard(Sink):
    """Where the rest of a drained stream goes."""


# ---------------------------------------------------------------------------------------------
# The session


class Session:
    """One connection: a sandboxed guest, its session resource and the socket."""

    def __init__(
        self,
        conninfo: str,
        allow: Optional[Sequence[str]] = None,
        read_timeout: Optional[float] = None,
        connect_timeout: Optional[float] = None,
        statement_cache: int = 256,
        max_message_size: int = 64 << 20,
        memory_limit: int = 256 << 20,
    ) -> None:
        self.closed = True
        self._io = Channel()
        self.parameters: dict[str, str] = {}
        self.backend_key: Optional[tuple[int, int]] = None
        self.tx_status = "idle"
        self.notices: list[str] = []
        self.notice_handlers: list[Callable[[Diagnostic], None]] = []
        self.notifies: list[tuple[int, str, str]] = []
        self.read_timeout = read_timeout
        self._action = A.A_DONE
        self._action_arg: Any = None
        self._sink: Sink = Sink()
        self.target: Optional[Target] = None  # the target connected to
        policy = Policy.parse(allow) if allow is not None else None

        sb = Sandbox(runtime(), memory_limit)
        self._sb = sb
        try:
            defaults = _env.defaults()
            tag, info = sb.parse_conninfo(conninfo, defaults)
            if tag == "error":
                raise from_guest(*info)
            # The default policy comes from the user's conninfo, before any byte from a
            # server has reached the guest.
            self.policy = policy if policy is not None else Policy.from_targets(info["targets"])
            timeout = connect_timeout
            if info["connect_timeout"] is not None and info["connect_timeout"] > 0:
                # libpq: values below 2 seconds are raised to 2.
                timeout = float(max(info["connect_timeout"], 2))
            sb.new_session(max_message_size, BATCH_BYTES, statement_cache)
            tag, step = sb.call("connect", ("s", conninfo), ("pairs", defaults))
            if tag == "error":
                raise from_guest(*step)
            self.closed = False
            self._io.deadline = time.monotonic() + timeout if timeout else None
            sink = Sink()
            self._sink = sink
            self._process(step)
            self._run(sink, stream=False)
            self._io.deadline = None
            if sink.error is not None:
                raise sink.error
            if self.closed:
                raise OperationalError(
                    "the server closed the connection during startup", kind="closed"
                )
            if self._io.sock is not None:
                self._io.sock.settimeout(read_timeout)
        except BaseException:
            self._close_socket()
            sb.close()
            raise

    # -- requests --

    def busy(self) -> bool:
        """True while a (streamed) request is not complete."""
        return self._action not in (A.A_DONE, A.A_CLOSE)

    def drain(self) -> None:
        """Reads and discards the rest of a streamed request."""
        if self.closed or not self.busy():
            return
        old = self._sink
        old.discarded = True
        sink = _Discard()
        self._sink = sink
        self._run(sink, stream=False)

    def _begin(self, sink: Sink) -> None:
        if self.closed:
            raise InterfaceError("the connection is closed", kind="closed")
        if self.busy():
            self.drain()
            if self.closed:
                raise OperationalError("the connection was lost", kind="closed")
        self._sink = sink

    def simple_query(self, sql: str, sink: Sink, stream: bool = False) -> None:
        """Simple query protocol (one or more statements)."""
        self._begin(sink)
        step = self._guarded(self._sb.call_str, "simple-query", sql)
        self._process(step)
        self._run(sink, stream)

    def query(
        self, sql: str, types: list[int], params: str, sink: Sink, stream: bool = False
    ) -> None:
        """Extended protocol: one or more parameter rows, one round trip."""
        self._begin(sink)
        step = self._guarded(self._sb.call, "query", ("s", sql), ("u32s", types), ("s", params))
        self._process(step)
        self._run(sink, stream)

    def resume(self, sink: Sink) -> None:
        """Continues a streamed request until the sink has rows again, or it completes."""
        if self._sink is not sink or not self.busy():
            return
        self._run(sink, stream=True)

    def terminate(self) -> None:
        """Sends Terminate (best effort) and closes the socket and the guest."""
        if not self.closed:
            try:
                step = self._sb.call_none("terminate")
                sock = self._io.sock
                if step[0] and sock is not None:
                    sock.settimeout(1.0)
                    sock.sendall(step[0])
            except (OSError, Error):
                pass
        self._close_socket()
        self._sb.close()

    def abandon(self) -> None:
        """Closes the socket without calling into the guest (for finalizers)."""
        self._close_socket()

    # -- the loop --

    def _guarded(self, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except GuestTrap:
            self._close_socket()
            raise

    def _run(self, sink: Sink, stream: bool) -> None:
        try:
            while True:
                action = self._action
                if action == A.A_DONE:
                    return
                if action == A.A_CLOSE:
                    self._close_socket()
                    if sink.error is None:
                        sink.fail(OperationalError("the session ended", kind="closed"))
                    return
                if stream and sink.has_rows():
                    return
                self._advance()
        except BaseException as e:
            # A failure (or an interrupt) in the middle of a request leaves the protocol state
            # unknown: the session cannot continue.
            self._close_socket()
            self._action = A.A_CLOSE
            if isinstance(e, (OSError, ValueError)) and not isinstance(e, Error):
                raise OperationalError(str(e), kind="io") from None
            raise

    def _advance(self) -> None:
        sb = self._sb
        action = self._action
        if action == A.A_READ:
            data = self._io.recv()
            if data:
                step = self._guarded(sb.call_str, "feed-latin1", data.decode("latin-1"))
            else:
                step = self._guarded(sb.call_none, "eof")
        elif action == A.A_OPEN:
            failure = self._open(self._action_arg)
            if failure is None:
                step = self._guarded(sb.call_none, "opened")
            else:
                step = self._guarded(
                    sb.call, "open-failed", ("enum", failure[0]), ("s", failure[1])
                )
        elif action == A.A_NEED_PASSWORD:
            host, port, dbname, user, passfile = self._action_arg
            password = _env.passfile_password(passfile, host, port, dbname, user)
            step = self._guarded(sb.call, "password", ("opt_s", password))
        else:  # pragma: no cover - DONE and CLOSE never reach here
            raise AssertionError(action)
        self._process(step)

    def _process(self, step: Step) -> None:
        send, action, arg, events = step
        if send:
            self._io.send(send)
        if events:
            sink = self._sink
            for tag, payload in events:
                if tag == A.EV_ROWS:
                    sink.rows(payload)
                elif tag == A.EV_COLUMNS:
                    sink.columns(payload)
                elif tag == A.EV_COMPLETE:
                    sink.complete(payload[0], payload[1])
                elif tag == A.EV_READY:
                    self.tx_status = payload
                elif tag == A.EV_ERROR:
                    sink.fail(from_guest(*payload))
                elif tag == A.EV_EMPTY:
                    sink.empty()
                elif tag == A.EV_PARAMETER:
                    self.parameters[payload[0]] = payload[1]
                elif tag == A.EV_NOTICE:
                    self._notice(payload)
                elif tag == A.EV_NOTIFICATION:
                    if len(self.notifies) < 10000:
                        self.notifies.append(payload)
                elif tag == A.EV_BACKEND_KEY:
                    self.backend_key = payload
        self._action = action
        self._action_arg = arg

    def _notice(self, fields: dict[str, Any]) -> None:
        self.notices.append(format_notice(fields))
        if len(self.notices) > MAX_NOTICES:
            del self.notices[: len(self.notices) - MAX_NOTICES]
        if self.notice_handlers:
            diag = Diagnostic(fields)
            for handler in list(self.notice_handlers):
                handler(diag)

    # -- sockets --

    def _open(self, target: Target) -> Optional[tuple[str, str]]:
        """Opens the target if the policy allows it: None, or (error kind, reason). Nothing is
        sent to a denied target: the check happens before any socket exists."""
        self._close_socket(keep_session=True)
        if not self.policy.allows(target):
            return (
                "policy-denied",
                "connection to %s denied by policy (%s)" % (describe(target), self.policy),
            )
        failure = self._io.connect(target)
        if failure is None:
            self.target = target
        return failure

    def cancel(self, timeout: float = 10.0) -> None:
        """Sends a CancelRequest for the running statement, on a new connection to the same
        target (which the policy allowed). Safe to call from another thread."""
        key, target = self.backend_key, self.target
        if self.closed or key is None or target is None:
            raise InterfaceError("the connection is closed or was never established")
        send_cancel(target, key, timeout)

    def _close_socket(self, keep_session: bool = False) -> None:
        self._io.close()
        if not keep_session:
            self.closed = True
