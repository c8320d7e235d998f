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
"""

from __future__ import annotations

import ipaddress
import select
import socket
import struct
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from . import _env
from . import _runtime as R
from .errors import Diagnostic, Error, InterfaceError, OperationalError, from_guest, format_notice

__all__ = ["Policy", "Session", "Sink"]

READ_CHUNK = 256 << 10
BATCH_BYTES = 256 << 10
MAX_NOTICES = 50


# ---------------------------------------------------------------------------------------------
# Policy


def _normalize_host(host: str) -> str:
    """Host names compare case-insensitively; IPv6 literals compare without brackets."""
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host.lower()


class Policy:
    """Which connections the host opens for the guest: an allow-list, deny by default.

    A TCP entry allows a host name or address and a port. A connection to a name is allowed
    only when the name itself is listed (it is then resolved), one to an address literal only
    when that literal is listed: a name resolving somewhere unexpected never widens the list.
    """

    def __init__(self) -> None:
        self.entries: List[Tuple[str, Any]] = []

    @classmethod
    def from_targets(cls, targets: Sequence[Tuple[str, Any]]) -> "Policy":
        """Exactly the targets a conninfo names."""
        p = cls()
        for kind, value in targets:
            if kind == "tcp":
                p.entries.append(("tcp", (_normalize_host(value[0]), value[1])))
            else:
                p.entries.append(("unix", value))
        return p

    @classmethod
    def parse(cls, entries: Sequence[str]) -> "Policy":
        """``HOST:PORT``, ``[V6]:PORT`` and absolute socket paths."""
        if isinstance(entries, (str, bytes)) or not hasattr(entries, "__iter__"):
            raise InterfaceError(
                "allow must be a list of entries such as ['db.example:5432'], not %s"
                % type(entries).__name__
            )
        p = cls()
        for entry in entries:
            p.entries.append(cls._parse_entry(entry))
        return p

    @staticmethod
    def _parse_entry(entry: Any) -> Tuple[str, Any]:
        bad = InterfaceError(
            "invalid allow-list entry %r: expected HOST:PORT, [IPV6]:PORT or an absolute "
            "socket path" % (entry,)
        )
        if not isinstance(entry, str):
            raise bad
        if entry.startswith("/"):
            return ("unix", entry)
        host, sep, port_s = entry.rpartition(":")
        if not sep or not host or (":" in host and not host.startswith("[")):
            raise bad
        if not port_s.isdigit() or not 0 < int(port_s) < 65536:
            raise bad
        return ("tcp", (_normalize_host(host), int(port_s)))

    def allows(self, target: Tuple[str, Any]) -> bool:
        kind, value = target
        if kind == "tcp":
            wanted = ("tcp", (_normalize_host(value[0]), value[1]))
        else:
            wanted = ("unix", value)
        return wanted in self.entries

    def __str__(self) -> str:
        if not self.entries:
            return "deny all"
        return "allow " + ", ".join(describe(t) for t in self.entries)


def describe(target: Tuple[str, Any]) -> str:
    kind, value = target
    if kind == "tcp":
        host, port = value
        return ("[%s]:%d" if ":" in host else "%s:%d") % (host, port)
    return value


# ---------------------------------------------------------------------------------------------
# Sinks: where a request's result events go.


class Sink:
    """Receives the result events of one request. The default keeps only the first error."""

    error: Optional[Error] = None
    discarded = False

    def columns(self, cols: List[tuple]) -> None:
        pass

    def rows(self, batch: Tuple[int, bool, str]) -> None:
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
        self.sock: Optional[socket.socket] = None
        self.parameters: Dict[str, str] = {}
        self.backend_key: Optional[Tuple[int, int]] = None
        self.tx_status = "idle"
        self.notices: List[str] = []
        self.notice_handlers: List[Callable[[Diagnostic], None]] = []
        self.notifies: List[Tuple[int, str, str]] = []
        self.read_timeout = read_timeout
        self._action = R.A_DONE
        self._action_arg: Any = None
        self._sink: Sink = Sink()
        self._stash: List[bytes] = []
        self._deadline: Optional[float] = None
        self.target: Optional[Tuple[str, Any]] = None  # the target connected to
        policy = Policy.parse(allow) if allow is not None else None

        sb = R.runtime().instantiate(memory_limit)
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
            self._deadline = time.monotonic() + timeout if timeout else None
            sink = Sink()
            self._sink = sink
            self._process(step)
            self._run(sink, stream=False)
            self._deadline = None
            if sink.error is not None:
                raise sink.error
            if self.closed:
                raise OperationalError(
                    "the server closed the connection during startup", kind="closed"
                )
            if self.sock is not None:
                self.sock.settimeout(read_timeout)
        except BaseException:
            self._close_socket()
            sb.close()
            raise

    # -- requests --

    def busy(self) -> bool:
        """True while a (streamed) request is not complete."""
        return self._action not in (R.A_DONE, R.A_CLOSE)

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
        self, sql: str, types: List[int], params: str, sink: Sink, stream: bool = False
    ) -> None:
        """Extended protocol: one or more parameter rows, one round trip."""
        self._begin(sink)
        step = self._guarded(
            self._sb.call, "query", ("s", sql), ("u32s", types), ("s", params)
        )
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
                if step[0] and self.sock is not None:
                    self.sock.settimeout(1.0)
                    self.sock.sendall(step[0])
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
        except R.GuestTrap:
            self._close_socket()
            raise

    def _run(self, sink: Sink, stream: bool) -> None:
        try:
            while True:
                action = self._action
                if action == R.A_DONE:
                    return
                if action == R.A_CLOSE:
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
            self._action = R.A_CLOSE
            if isinstance(e, (OSError, ValueError)) and not isinstance(e, Error):
                raise OperationalError(str(e), kind="io") from None
            raise

    def _advance(self) -> None:
        sb = self._sb
        action = self._action
        if action == R.A_READ:
            data = self._recv()
            if data:
                step = self._guarded(sb.call_str, "feed-latin1", data.decode("latin-1"))
            else:
                step = self._guarded(sb.call_none, "eof")
        elif action == R.A_OPEN:
            failure = self._open(self._action_arg)
            if failure is None:
                step = self._guarded(sb.call_none, "opened")
            else:
                step = self._guarded(
                    sb.call, "open-failed", ("enum", failure[0]), ("s", failure[1])
                )
        elif action == R.A_NEED_PASSWORD:
            host, port, dbname, user, passfile = self._action_arg
            password = _env.passfile_password(passfile, host, port, dbname, user)
            step = self._guarded(sb.call, "password", ("opt_s", password))
        else:  # pragma: no cover - DONE and CLOSE never reach here
            raise AssertionError(action)
        self._process(step)

    def _process(self, step: Tuple[bytes, int, Any, list]) -> None:
        send, action, arg, events = step
        if send:
            self._send(send)
        if events:
            sink = self._sink
            for tag, payload in events:
                if tag == R.EV_ROWS:
                    sink.rows(payload)
                elif tag == R.EV_COLUMNS:
                    sink.columns(payload)
                elif tag == R.EV_COMPLETE:
                    sink.complete(payload[0], payload[1])
                elif tag == R.EV_READY:
                    self.tx_status = payload
                elif tag == R.EV_ERROR:
                    sink.fail(from_guest(*payload))
                elif tag == R.EV_EMPTY:
                    sink.empty()
                elif tag == R.EV_PARAMETER:
                    self.parameters[payload[0]] = payload[1]
                elif tag == R.EV_NOTICE:
                    self._notice(payload)
                elif tag == R.EV_NOTIFICATION:
                    if len(self.notifies) < 10000:
                        self.notifies.append(payload)
                elif tag == R.EV_BACKEND_KEY:
                    self.backend_key = payload
        self._action = action
        self._action_arg = arg

    def _notice(self, fields: Dict[str, Any]) -> None:
        self.notices.append(format_notice(fields))
        if len(self.notices) > MAX_NOTICES:
            del self.notices[: len(self.notices) - MAX_NOTICES]
        if self.notice_handlers:
            diag = Diagnostic(fields)
            for handler in list(self.notice_handlers):
                handler(diag)

    # -- sockets --

    def _open(self, target: Tuple[str, Any]) -> Optional[Tuple[str, str]]:
        """Opens the target if the policy allows it: None, or (error kind, reason). Nothing is
        sent to a denied target: the check happens before any socket exists."""
        self._close_socket(keep_session=True)
        if not self.policy.allows(target):
            return (
                "policy-denied",
                "connection to %s denied by policy (%s)" % (describe(target), self.policy),
            )
        timeout = self._remaining()
        kind, value = target
        try:
            if kind == "tcp":
                self.sock = _connect_tcp(value[0], value[1], timeout)
            else:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    s.settimeout(timeout)
                    s.connect(value)
                except BaseException:
                    s.close()
                    raise
                self.sock = s
        except socket.timeout:
            return ("timeout", "timeout expired connecting to %s" % describe(target))
        except OSError as e:
            return (
                "connection-refused",
                "cannot connect to %s: %s" % (describe(target), e.strerror or e),
            )
        self.target = target
        return None

    def cancel(self, timeout: float = 10.0) -> None:
        """Sends a CancelRequest for the running statement, on a new connection to the same
        target (which the policy allowed). Safe to call from another thread."""
        key, target = self.backend_key, self.target
        if self.closed or key is None or target is None:
            raise InterfaceError("the connection is closed or was never established")
        kind, value = target
        message = struct.pack("!iiii", 16, 80877102, key[0], key[1])
        try:
            if kind == "tcp":
                s = _connect_tcp(value[0], value[1], timeout)
            else:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(timeout)
                s.connect(value)
            try:
                s.sendall(message)
                s.settimeout(timeout)
                s.recv(1)  # the server closes the connection when it has the request
            finally:
                s.close()
        except OSError as e:
            raise OperationalError("cannot send the cancel request: %s" % e, kind="io") from None

    def _remaining(self) -> Optional[float]:
        if self._deadline is None:
            return None
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise OperationalError("connect_timeout expired while connecting", kind="timeout")
        return left

    def _recv(self) -> bytes:
        if self._stash:
            return self._stash.pop(0)
        sock = self.sock
        if sock is None:
            raise OperationalError("no connection to read from", kind="closed")
        if self._deadline is not None:
            sock.settimeout(self._remaining())
        try:
            return sock.recv(READ_CHUNK)
        except socket.timeout:
            what = (
                "connect_timeout expired while connecting"
                if self._deadline is not None
                else "read timeout expired waiting for the server"
            )
            raise OperationalError(what, kind="timeout") from None
        except InterruptedError:  # pragma: no cover - Python retries EINTR itself
            return self._recv()
        except OSError as e:
            raise OperationalError(
                "cannot read from the server: %s" % (e.strerror or e), kind="io"
            ) from None

    def _send(self, data: bytes) -> None:
        sock = self.sock
        if sock is None:
            raise OperationalError("no connection to send on", kind="closed")
        try:
            if len(data) <= 65536:
                sock.sendall(data)
            else:
                self._send_large(sock, data)
        except socket.timeout:
            raise OperationalError("timeout writing to the server", kind="timeout") from None
        except OSError as e:
            raise OperationalError(
                "cannot write to the server: %s" % (e.strerror or e), kind="io"
            ) from None

    def _send_large(self, sock: socket.socket, data: bytes) -> None:
        """Writes a big pipeline while reading whatever the server answers meanwhile: the
        server may block writing replies to us, and stop reading, while we still write."""
        view = memoryview(data)
        timeout = sock.gettimeout()
        poller = select.poll()
        poller.register(sock, select.POLLIN | select.POLLOUT)
        sock.setblocking(False)
        try:
            while view:
                ready = poller.poll(None if timeout is None else int(timeout * 1000))
                if not ready:
                    raise socket.timeout()
                events = ready[0][1]
                if events & (select.POLLIN | select.POLLHUP | select.POLLERR):
                    try:
                        chunk = sock.recv(READ_CHUNK)
                    except BlockingIOError:
                        chunk = None
                    if chunk == b"":
                        break  # EOF: the read loop reports it
                    if chunk:
                        self._stash.append(chunk)
                if events & select.POLLOUT:
                    try:
                        n = sock.send(view[:262144])
                    except BlockingIOError:
                        continue
                    view = view[n:]
        finally:
            sock.settimeout(timeout)

    def _close_socket(self, keep_session: bool = False) -> None:
        sock, self.sock = self.sock, None
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass
        if not keep_session:
            self.closed = True


def _connect_tcp(host: str, port: int, timeout: Optional[float]) -> socket.socket:
    """Connects to the first address of ``host`` that accepts; TCP_NODELAY set."""
    addrs = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    if not addrs:
        raise OSError("%s resolved to no address" % host)
    last: Optional[OSError] = None
    for family, stype, proto, _name, addr in addrs:
        s = socket.socket(family, stype, proto)
        try:
            s.settimeout(timeout)
            s.connect(addr)
        except OSError as e:
            s.close()
            last = e
            continue
        # Small request/reply messages: never wait for Nagle.
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s
    assert last is not None
    raise last
