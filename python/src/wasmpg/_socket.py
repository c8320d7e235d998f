"""The socket of a session: connecting (TCP or Unix), reading and writing with the errors the
driver reports, and large writes interleaved with reads."""

from __future__ import annotations

import select
import socket
import time
from typing import TYPE_CHECKING, Optional

from ._policy import describe
from .errors import OperationalError

if TYPE_CHECKING:  # pragma: no cover
    from ._abi import Keepalive, Target

__all__ = ["Channel", "set_keepalive", "peer_of", "split_addr", "READ_CHUNK"]

READ_CHUNK = 256 << 10


class Channel:
    """One session's socket (None until opened and after closing), the deadline of the
    connection attempt in progress, and the replies read ahead while a large write went out."""

    def __init__(self) -> None:
        self.sock: Optional[socket.socket] = None
        self.deadline: Optional[float] = None  # a time.monotonic() value, while connecting
        self._stash: list[bytes] = []

    def connect(
        self,
        target: Target,
        addr: Optional[str] = None,
        keepalive: Optional[Keepalive] = None,
    ) -> Optional[tuple[str, str]]:
        """Connects to the target (the policy allowed it): None, or (error kind, reason).
        With `addr` (``"ip:port"``, ``"[v6]:port"``), a TCP target connects to that address
        only if the target's host name still resolves to it (a cancel request must reach the
        server the session is on), else as usual. `keepalive`: the TCP keepalives the guest
        asked for (None: the system's default)."""
        timeout = self.remaining()
        kind, value = target
        try:
            if kind == "tcp":
                self.sock = _connect_tcp(value[0], value[1], timeout, addr)
                if keepalive is not None:
                    set_keepalive(self.sock, keepalive)
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
        return None

    def peer(self) -> Optional[str]:
        """The address of a TCP connection's server (``ip:port``, ``[v6]:port``), else None."""
        return peer_of(self.sock)

    def set_read_timeout(self, timeout: Optional[float]) -> None:
        """Seconds each later read (and write) may wait (None: no limit)."""
        if self.sock is not None:
            self.sock.settimeout(timeout)

    def send_nowait(self, data: bytes) -> None:
        """Best effort, for Terminate: a short write that waits at most a second."""
        sock = self.sock
        if sock is not None:
            try:
                sock.settimeout(1.0)
                sock.sendall(data)
            except OSError:
                pass

    def remaining(self) -> Optional[float]:
        """Seconds left before the deadline (None: no deadline); raises once it has passed."""
        if self.deadline is None:
            return None
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise OperationalError("connect_timeout expired while connecting", kind="timeout")
        return left

    def recv(self) -> bytes:
        """The next bytes from the server (b"" at EOF)."""
        if self._stash:
            return self._stash.pop(0)
        sock = self.sock
        if sock is None:
            raise OperationalError("no connection to read from", kind="closed")
        if self.deadline is not None:
            sock.settimeout(self.remaining())
        try:
            return sock.recv(READ_CHUNK)
        except socket.timeout:
            what = (
                "connect_timeout expired while connecting"
                if self.deadline is not None
                else "read timeout expired waiting for the server"
            )
            raise OperationalError(what, kind="timeout") from None
        except InterruptedError:  # pragma: no cover - Python retries EINTR itself
            return self.recv()
        except OSError as e:
            raise OperationalError(
                "cannot read from the server: %s" % (e.strerror or e), kind="io"
            ) from None

    def recv_ready(self, timeout: Optional[float] = 0.0) -> Optional[bytes]:
        """What the server sent, without waiting longer than ``timeout`` seconds (by default
        not at all; None: as long as it takes): the bytes, b"" at EOF, or None when nothing
        came."""
        if self._stash:
            return self._stash.pop(0)
        sock = self.sock
        if sock is None:
            raise OperationalError("no connection to read from", kind="closed")
        try:
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            if not poller.poll(None if timeout is None else int(timeout * 1000)):
                return None
            previous = sock.gettimeout()
            sock.setblocking(False)
            try:
                return sock.recv(READ_CHUNK)
            finally:
                sock.settimeout(previous)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError as e:
            raise OperationalError(
                "cannot read from the server: %s" % (e.strerror or e), kind="io"
            ) from None

    def send(self, data: bytes) -> None:
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
                        chunk: Optional[bytes] = sock.recv(READ_CHUNK)
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

    def close(self) -> None:
        sock, self.sock = self.sock, None
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass


# The socket options of keepalive's idle time, interval and probe count, where the platform has
# them (macOS names the idle time TCP_KEEPALIVE).
_KEEPIDLE: Optional[int] = getattr(socket, "TCP_KEEPIDLE", getattr(socket, "TCP_KEEPALIVE", None))
_KEEPINTVL: Optional[int] = getattr(socket, "TCP_KEEPINTVL", None)
_KEEPCNT: Optional[int] = getattr(socket, "TCP_KEEPCNT", None)


def set_keepalive(sock: socket.socket, keepalive: Keepalive) -> None:
    """Sets a TCP socket's keepalives as the ``o`` action asked (libpq's ``keepalives*``):
    SO_KEEPALIVE on or off; when on, the idle time, interval and probe count that are given
    and that the platform can set. Best effort, as in the Rust host: a setting the platform
    refuses keeps the system's default."""
    on, idle, interval, count = keepalive
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1 if on else 0)
    except OSError:
        return
    if not on:
        return
    for option, value in ((_KEEPIDLE, idle), (_KEEPINTVL, interval), (_KEEPCNT, count)):
        # (A number beyond a C int is not something setsockopt can take: skipped too.)
        if option is None or value is None or value > 0x7FFFFFFF:
            continue
        try:
            sock.setsockopt(socket.IPPROTO_TCP, option, value)
        except OSError:
            pass


def peer_of(sock: Optional[socket.socket]) -> Optional[str]:
    """The address of a TCP socket's server (``ip:port``, ``[v6]:port``), else None."""
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return None
    try:
        name = sock.getpeername()
    except OSError:
        return None
    host, port = name[0], name[1]
    return ("[%s]:%d" if ":" in host else "%s:%d") % (host, port)


def split_addr(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port) if port.isdigit() else -1


def _connect_tcp(
    host: str, port: int, timeout: Optional[float], prefer: Optional[str] = None
) -> socket.socket:
    """Connects to the first address of ``host`` that accepts (only to `prefer`, if ``host``
    resolves to it); TCP_NODELAY set."""
    addrs = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    if not addrs:
        raise OSError("%s resolved to no address" % host)
    if prefer:
        want = split_addr(prefer)
        chosen = [a for a in addrs if (a[4][0], a[4][1]) == want]
        if chosen:
            addrs = chosen[:1]
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
