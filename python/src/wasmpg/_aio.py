"""The asyncio driver of a session's steps: a non-blocking socket (`AsyncChannel`) and `adrive`,
which performs the operations the session's generators yield (`_session.SEND`, ...) with awaited
socket calls. The generators are the same ones the blocking driver (`_session.drive`) runs:
nothing of the protocol loop is written twice.

A task cancelled while it waits for the server (``asyncio.wait_for``, ``task.cancel()``) does not
abandon the session mid-request: as psycopg 3 does, the driver sends the server a cancel request
for the running statement, reads the request to its end (bounded by `CANCEL_DRAIN_SECONDS`), and
then raises ``CancelledError``. The connection is usable afterwards; if that fails (no answer in
time, a second cancellation) the session is closed, never left half-read.
"""

from __future__ import annotations

import asyncio
import socket
import time
from typing import TYPE_CHECKING, Any, Optional, TypeVar

from ._session import AWAIT, OPEN, READY, RECV, SEND, Session, Steps, cancel_steps
from ._socket import READ_CHUNK, peer_of, set_keepalive, split_addr
from .errors import OperationalError

if TYPE_CHECKING:  # pragma: no cover
    from ._abi import Keepalive, Target
    from ._policy import Policy

__all__ = ["AsyncChannel", "adrive", "acancel", "CANCEL_DRAIN_SECONDS"]

T = TypeVar("T")

# How long a cancelled task waits for the server to end the cancelled statement before the
# session is closed instead.
CANCEL_DRAIN_SECONDS = 5.0

# A read or write that completes at once does not suspend the task: once this many seconds
# passed without a suspension the channel yields to the event loop, so a server that floods
# the connection (or a large COPY the socket always takes) cannot starve the loop's other tasks.
EAGER_SECONDS = 0.005


class AsyncChannel:
    """One session's non-blocking socket under the running event loop: the same operations as
    `_socket.Channel`, awaited. Timeouts (the connection attempt's deadline, ``read_timeout``)
    are asyncio timeouts: the loop is never blocked."""

    def __init__(self) -> None:
        self.sock: Optional[socket.socket] = None
        self.deadline: Optional[float] = None  # a time.monotonic() value, while connecting
        self.read_timeout: Optional[float] = None
        self._stash: list[bytes] = []
        self._awake_since = 0.0  # when the task last suspended in this channel

    # -- connecting --

    async def connect(
        self,
        target: Target,
        addr: Optional[str] = None,
        keepalive: Optional[Keepalive] = None,
    ) -> Optional[tuple[str, str]]:
        """Connects to the target (the policy allowed it): None, or (error kind, reason)."""
        from ._policy import describe

        timeout = self.remaining()
        kind, value = target
        try:
            if kind == "tcp":
                coro = _connect_tcp(value[0], value[1], addr)
                sock = await (coro if timeout is None else asyncio.wait_for(coro, timeout))
                self.sock = sock
                if keepalive is not None:
                    set_keepalive(sock, keepalive)
            else:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    s.setblocking(False)
                    conn = asyncio.get_running_loop().sock_connect(s, value)
                    await (conn if timeout is None else asyncio.wait_for(conn, timeout))
                except BaseException:
                    s.close()
                    raise
                self.sock = s
        except asyncio.TimeoutError:
            return ("timeout", "timeout expired connecting to %s" % describe(target))
        except OSError as e:
            return (
                "connection-refused",
                "cannot connect to %s: %s" % (describe(target), e.strerror or e),
            )
        return None

    def peer(self) -> Optional[str]:
        return peer_of(self.sock)

    def remaining(self) -> Optional[float]:
        """Seconds left before the deadline (None: no deadline); raises once it has passed."""
        if self.deadline is None:
            return None
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise OperationalError("connect_timeout expired while connecting", kind="timeout")
        return left

    def set_read_timeout(self, timeout: Optional[float]) -> None:
        self.read_timeout = timeout

    # -- reading --

    async def _fairness(self) -> None:
        """After an operation that did not suspend: yields to the loop once `EAGER_SECONDS`
        passed since the last suspension."""
        now = time.monotonic()
        if now - self._awake_since > EAGER_SECONDS:
            await asyncio.sleep(0)
            self._awake_since = time.monotonic()

    def _sock(self) -> socket.socket:
        sock = self.sock
        if sock is None:
            raise OperationalError("no connection to read from", kind="closed")
        return sock

    async def recv(self) -> bytes:
        """The next bytes from the server (b"" at EOF)."""
        if self._stash:
            await self._fairness()
            return self._stash.pop(0)
        sock = self._sock()
        timeout = self.remaining() if self.deadline is not None else self.read_timeout
        try:
            # A reply already there is taken without a trip through the loop's selector.
            data = sock.recv(READ_CHUNK)
        except (BlockingIOError, InterruptedError):
            pass
        except OSError as e:
            raise _read_error(e) from None
        else:
            await self._fairness()
            return data
        loop = asyncio.get_running_loop()
        try:
            if timeout is None:
                data = await loop.sock_recv(sock, READ_CHUNK)
            else:
                data = await asyncio.wait_for(loop.sock_recv(sock, READ_CHUNK), timeout)
            self._awake_since = time.monotonic()
            return data
        except asyncio.TimeoutError:
            what = (
                "connect_timeout expired while connecting"
                if self.deadline is not None
                else "read timeout expired waiting for the server"
            )
            raise OperationalError(what, kind="timeout") from None
        except OSError as e:
            raise _read_error(e) from None

    async def recv_ready(self, timeout: Optional[float] = 0.0) -> Optional[bytes]:
        """What the server sent, without waiting longer than ``timeout`` seconds (None: as long
        as it takes): the bytes, b"" at EOF, or None when nothing came."""
        if self._stash:
            return self._stash.pop(0)
        sock = self._sock()
        try:
            return sock.recv(READ_CHUNK)
        except (BlockingIOError, InterruptedError):
            pass
        except OSError as e:
            raise _read_error(e) from None
        if timeout is not None and timeout <= 0:
            return None
        loop = asyncio.get_running_loop()
        ready = loop.create_future()
        fd = sock.fileno()
        loop.add_reader(fd, _set_once, ready, None)
        try:
            if timeout is None:
                await ready
            else:
                await asyncio.wait_for(ready, timeout)
        except asyncio.TimeoutError:
            return None
        finally:
            loop.remove_reader(fd)
        try:
            return sock.recv(READ_CHUNK)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError as e:
            raise _read_error(e) from None

    # -- writing --

    async def send(self, data: bytes) -> None:
        sock = self.sock
        if sock is None:
            raise OperationalError("no connection to send on", kind="closed")
        try:
            try:
                sent = sock.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            if sent == len(data):
                await self._fairness()
                return
            await self._send_rest(sock, memoryview(data)[sent:])
        except asyncio.TimeoutError:
            raise OperationalError("timeout writing to the server", kind="timeout") from None
        except OSError as e:
            raise OperationalError(
                "cannot write to the server: %s" % (e.strerror or e), kind="io"
            ) from None

    async def _send_rest(self, sock: socket.socket, view: memoryview) -> None:
        """Writes the rest while reading whatever the server answers meanwhile (kept for the
        next reads): the server may block writing replies to us, and stop reading, while we
        still write."""
        loop = asyncio.get_running_loop()
        fd = sock.fileno()
        while view:
            ready = loop.create_future()
            loop.add_writer(fd, _set_once, ready, "w")
            loop.add_reader(fd, _set_once, ready, "r")
            try:
                if self.read_timeout is None:
                    which = await ready
                else:
                    which = await asyncio.wait_for(ready, self.read_timeout)
            finally:
                loop.remove_writer(fd)
                loop.remove_reader(fd)
            if which == "r":
                try:
                    chunk = sock.recv(READ_CHUNK)
                except (BlockingIOError, InterruptedError):
                    continue
                if not chunk:
                    return  # EOF: the read loop reports it
                self._stash.append(chunk)
                continue
            try:
                n = sock.send(view[:262144])
            except (BlockingIOError, InterruptedError):
                continue
            view = view[n:]

    def send_nowait(self, data: bytes) -> None:
        """Best effort, for Terminate: whatever the socket takes at once."""
        sock = self.sock
        if sock is not None:
            try:
                sock.send(data)
            except OSError:
                pass

    def close(self) -> None:
        sock, self.sock = self.sock, None
        self._stash.clear()
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass


def _set_once(fut: asyncio.Future[Any], value: Any) -> None:
    if not fut.done():
        fut.set_result(value)


def _read_error(e: OSError) -> OperationalError:
    return OperationalError("cannot read from the server: %s" % (e.strerror or e), kind="io")


async def _connect_tcp(host: str, port: int, prefer: Optional[str]) -> socket.socket:
    """Connects to the first address of ``host`` that accepts (only to `prefer`, if ``host``
    resolves to it); non-blocking, TCP_NODELAY set."""
    loop = asyncio.get_running_loop()
    addrs = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
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
            s.setblocking(False)
            await loop.sock_connect(s, addr)
        except OSError as e:
            s.close()
            last = e
            continue
        except BaseException:
            s.close()
            raise
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s
    assert last is not None
    raise last


async def adrive(steps: Steps[T], io: AsyncChannel, session: Optional[Session] = None) -> T:
    """Performs a generator's operations with awaited socket calls: the asyncio driver. An
    operation's error is thrown into the generator, as `_session.drive` does.

    With a `session`, a cancellation that arrives while a request waits for the server sends a
    cancel request and reads the request to its end before ``CancelledError`` is raised (see
    the module's comment)."""
    value: Any = None
    error: Optional[BaseException] = None
    interrupted: Optional[BaseException] = None
    drain_until = 0.0
    while True:
        try:
            if error is None:
                op, arg = steps.send(value)
            else:
                e, error = error, None
                op, arg = steps.throw(e)
        except StopIteration as stop:
            if interrupted is not None:
                raise interrupted from None
            result: T = stop.value
            return result
        except BaseException:
            if interrupted is not None:
                raise interrupted from None
            raise
        value = None
        while True:  # the operation; again after a cancellation was turned into a cancel request
            try:
                if op == RECV:
                    if interrupted is None:
                        value = await io.recv()
                    else:
                        left = drain_until - time.monotonic()
                        if left <= 0:
                            raise interrupted
                        value = await asyncio.wait_for(io.recv(), left)
                elif op == SEND:
                    await io.send(arg)
                elif op == READY:
                    value = await io.recv_ready(arg)
                elif op == OPEN:
                    value = await io.connect(*arg)
                elif op == AWAIT:
                    value = await arg
                else:  # pragma: no cover - the generators yield only the operations above
                    raise AssertionError("unknown operation %r" % op)
            except asyncio.CancelledError as e:
                if (
                    interrupted is None
                    and op == RECV
                    and session is not None
                    and session.busy()
                    and not session.closed
                ):
                    # Cancel the statement server-side and finish the request, so the session
                    # stays usable; the cancellation is raised once it is read to its end.
                    interrupted = e
                    if not await _send_cancel(session):
                        error = e
                        break
                    drain_until = time.monotonic() + CANCEL_DRAIN_SECONDS
                    continue
                error = interrupted if interrupted is not None else e
            except BaseException as e:
                error = interrupted if interrupted is not None else e
            break


async def _send_cancel(session: Session) -> bool:
    """Sends a cancel request for the session's running statement; False if this task was
    cancelled again meanwhile (the session must then be given up)."""
    try:
        await asyncio.wait_for(
            acancel(session.cancel_token(), session.policy, CANCEL_DRAIN_SECONDS),
            CANCEL_DRAIN_SECONDS,
        )
    except asyncio.CancelledError:
        return False
    except Exception:
        pass  # the server may still end the statement on its own
    return True


async def acancel(token: str, policy: Policy, timeout: float) -> None:
    """A cancel request (`_session.cancel_steps`) on a non-blocking channel of its own."""
    io = AsyncChannel()
    await adrive(cancel_steps(io, token, policy, timeout), io)
