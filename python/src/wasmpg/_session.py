"""The host half of a session: it owns the socket and the files, and performs the actions the
guest asks for, opening and reading only what the policies allow. It mirrors
``host/src/connection.rs``.

Every call into the guest returns a *step* (`_abi`): bytes to send, events, and the next
action. The loop is::

    send step.send; hand the events to the sink; then do the action:
      o open(target, timeout) -> policy check, then connect  -> "o" / "x" kind reason
      r read                  -> recv from the socket        -> "d" bytes / "e" at EOF
      f need-file(path)       -> file policy check, read     -> "Y" bytes / "y" status reason
      p need-password         -> the password callback, if any -> "w" password / "w" (none)
      d done(tx status)       -> the request is complete
      c close                 -> close the socket: the session is over

The loop is written once, as generators (the ``*_steps`` methods) that *yield* the socket
operations they need (`SEND`, `RECV`, `READY`, `OPEN`, `AWAIT`) and are sent the results; they
never touch a socket. Two drivers perform the operations: `drive` on a blocking socket
(`_socket.Channel`, the synchronous `Connection`) and ``_aio.adrive`` on a non-blocking one
under asyncio (``_aio.AsyncChannel``, `AsyncConnection`). psycopg 3 shares its sync and async
code the same way. An operation's error is thrown into the generator at its ``yield``, so the
generator alone decides what a failure means (a lost session, a salvaged COPY error).

COPY: a ``G`` event and the ``i`` action mean COPY FROM STDIN waits for data. Only a sink that
takes COPY data (`Sink.copy_in`) gets it: `copy_write` sends its ``D`` requests, after handing
the guest whatever the server already sent (read without blocking, so a bad row stops the copy
at once), and `copy_end` sends ``F`` or ``f``. Any other sink (``execute``, a drain) has the
COPY aborted at once with ``f``. COPY TO STDOUT's ``D`` events go to the sink like row batches,
and stream the same way.

A request can also be *streamed*: the loop stops as soon as the sink holds rows, and resumes
when they are consumed, so the socket is read only as fast as rows are used (TCP backpressure
then bounds memory). A new request first drains what is left of a streamed one.

Cancelling runs on a fresh guest instance: the session's own instance hands out its cancel
token (``K`` -> ``T`` event) once the connection is up, and ``cancel()`` gives that token to a
new instance (``k``), whose steps open a connection (same policy), send the CancelRequest and
read until the server closes.

The policies are `_policy`, the socket `_socket`, the guest instance `_sandbox`.
"""

from __future__ import annotations

import inspect
import os
import stat
import time
from collections.abc import Generator, Sequence
from typing import Any, Callable, Optional, TypeVar, Union

from . import _abi as A
from . import _env
from ._abi import ColumnInfo, Keepalive, Step, Target
from ._policy import FilePolicy, Policy, default_passfile, default_ssl_dir, describe
from ._runtime import runtime
from ._sandbox import GuestTrap, Sandbox
from ._socket import Channel
from .errors import Diagnostic, Error, InterfaceError, OperationalError, format_notice, from_guest

__all__ = ["DEFAULT_SOCKET_DIR", "Session", "Sink", "Steps", "drive", "cancel_steps"]

BATCH_BYTES = 256 << 10
MAX_NOTICES = 50
MAX_FILE_BYTES = 1 << 20  # a password file or key larger than this is refused
CANCEL_MEMORY = 32 << 20  # the memory bound of the short-lived cancel instance

# libpq's DEFAULT_PGSOCKET_DIR, which the guest uses to match "localhost" password-file lines
# against Unix-socket connections. Debian and Ubuntu build libpq with /var/run/postgresql
# (upstream's default is /tmp); this package follows the Debian build.
DEFAULT_SOCKET_DIR = "/var/run/postgresql"


# ---------------------------------------------------------------------------------------------
# Sinks: where a request's result events go.


class Sink:
    """Receives the result events of one request. The default keeps only the first error."""

    error: Optional[Error] = None
    discarded = False
    # Whether this sink sends COPY FROM STDIN's data (`Session.copy_write`); any other sink
    # has a COPY FROM STDIN aborted at once, with this reason.
    copy_in = False
    copy_refusal = "COPY cannot be used with execute(); use cursor.copy()"
    copied = False  # a COPY began (FROM STDIN or TO STDOUT)

    def copy_begin(self, direction: str, binary: bool, columns: int) -> None:
        """A COPY began: direction ``in`` (FROM STDIN) or ``out`` (TO STDOUT)."""
        self.copied = True

    def copy_data(self, chunk: tuple[str, bool, str]) -> None:
        """COPY TO STDOUT data: (encoding ``t`` or ``l``, escaped, data)."""

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

    copy_refusal = "COPY abandoned: another statement ran on the connection"


# ---------------------------------------------------------------------------------------------
# Files


# The answer to a ``f`` action: the file's bytes, or (status, reason).
FileAnswer = Union[bytes, tuple[str, str]]

# Where the system's trust store may be (``sslrootcert=system``), after $SSL_CERT_FILE and
# OpenSSL's default: Debian/Ubuntu/Alpine, Fedora/RHEL, openSUSE, FreeBSD, macOS/Homebrew.
_CA_BUNDLES = (
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/usr/local/share/certs/ca-root-nss.crt",
    "/etc/ssl/cert.pem",
)


def file_rule(purpose: str) -> str:
    """The permission rule for a ``f`` action's purpose: ``public`` (certificates and
    revocation lists: anyone may read them), ``key`` (a private key) or ``passfile`` (the
    password file, and any purpose this package does not know)."""
    if purpose in ("sslrootcert", "sslcert", "sslcrl"):
        return "public"
    if purpose == "sslkey":
        return "key"
    return "passfile"


def too_open(purpose: str, st: os.stat_result) -> bool:
    """libpq's permission rules (POSIX only): a password file must give group and others no
    access; a private key owned by the user neither, one owned by root group read at most
    (0640), one owned by anybody else is not checked; public files are never too open."""
    rule = file_rule(purpose)
    if os.name != "posix" or rule == "public":
        return False
    mode = st.st_mode
    if rule == "key":
        if st.st_uid == os.geteuid():
            return bool(mode & 0o077)
        return st.st_uid == 0 and bool(mode & 0o037)
    return bool(mode & 0o077)


def system_roots() -> Optional[str]:
    """The system's CA bundle (``sslrootcert=system``): $SSL_CERT_FILE if set, else the first
    that exists of OpenSSL's default and the usual places; None if there is none."""
    env = os.environ.get("SSL_CERT_FILE")
    if env:
        return env
    import ssl

    candidates = [ssl.get_default_verify_paths().cafile, *_CA_BUNDLES]
    return next((p for p in candidates if p and os.path.isfile(p)), None)


def read_file(policy: FilePolicy, path: str, purpose: str = "passfile") -> FileAnswer:
    """The answer to a ``f`` action: the file's bytes, or (status, reason). Nothing is opened
    unless the policy allows the path. A file holding a secret (the password file, a key)
    that others may access is reported ``too-open`` (`too_open`: libpq's rules). The trust
    store (``sslrootcert`` = ``system``) is public and not the conninfo's path: it is read
    without the policy."""
    if purpose == "sslrootcert" and path == "system":
        store = system_roots()
        if store is None:
            return ("missing", "the system has no CA bundle")
        return _read(store, purpose)
    if not policy.allows(path):
        return ("denied", "reading %s denied by the file policy (%s)" % (path, policy))
    return _read(path, purpose)


def _read(path: str, purpose: str) -> FileAnswer:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return ("missing", "%s does not exist" % path)
    except OSError as e:
        return ("unreadable", "cannot read %s: %s" % (path, e.strerror or e))
    if not stat.S_ISREG(st.st_mode):
        return ("unreadable", "%s is not a regular file" % path)
    if too_open(purpose, st):
        return ("too-open", "%s has group or world access" % path)
    if st.st_size > MAX_FILE_BYTES:
        return ("unreadable", "%s is larger than %d bytes" % (path, MAX_FILE_BYTES))
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        return ("unreadable", "cannot read %s: %s" % (path, e.strerror or e))
    if len(data) > MAX_FILE_BYTES:
        return ("unreadable", "%s is larger than %d bytes" % (path, MAX_FILE_BYTES))
    return data


def _init_options(max_message_size: int, statement_cache: int) -> list[tuple[str, str]]:
    options = [
        ("max_message_size", str(max_message_size)),
        ("batch_bytes", str(BATCH_BYTES)),
        ("statement_cache", str(statement_cache)),
        ("default_socket_dir", DEFAULT_SOCKET_DIR),
    ]
    passfile = default_passfile()
    if passfile:
        options.append(("default_passfile", passfile))
    ssl_dir = default_ssl_dir()
    if ssl_dir:
        options.append(("default_ssl_dir", ssl_dir))
    return options


def _raise_errors(events: list[A.Event]) -> None:
    for tag, payload in events:
        if tag == "E":
            raise from_guest(*payload)


# ---------------------------------------------------------------------------------------------
# The steps: the operations a session's generators ask their driver to perform

SEND = 0  # arg: bytes to write, all of them                        -> None
RECV = 1  # arg: None; the next bytes from the server (b"" at EOF)  -> bytes
READY = 2  # arg: seconds (None: no limit); what came by then       -> bytes, b"" or None
OPEN = 3  # arg: (target, addr, keepalive); connect (policy passed)  -> None or (kind, reason)
AWAIT = 4  # arg: an awaitable (an async password_callback's)         -> its result

_RECV = (RECV, None)
_IDLE = ("d", "c")  # the actions after which no request is in progress

T = TypeVar("T")
# A session's work: a generator that yields (operation, argument) and is sent the result.
Steps = Generator[tuple[int, Any], Any, T]


def drive(steps: Steps[T], io: Channel) -> T:
    """Performs a generator's operations on a blocking socket: the synchronous driver. An
    error of an operation is thrown into the generator, which decides what it means."""
    value: Any = None
    error: Optional[BaseException] = None
    while True:
        try:
            if error is None:
                op, arg = steps.send(value)
            else:
                e, error = error, None
                op, arg = steps.throw(e)
        except StopIteration as stop:
            result: T = stop.value
            return result
        try:
            if op == RECV:
                value = io.recv()
            elif op == SEND:
                io.send(arg)
                value = None
            elif op == READY:
                value = io.recv_ready(arg)
            elif op == OPEN:
                value = io.connect(*arg)
            else:
                if hasattr(arg, "close"):
                    arg.close()  # the coroutine is never awaited: no warning about it
                raise InterfaceError(
                    "password_callback returned an awaitable: use AsyncConnection for an "
                    "async callback"
                )
        except BaseException as e:
            error = e
            value = None


# ---------------------------------------------------------------------------------------------
# The session


class Session:
    """One connection: a sandboxed guest instance and the socket.

    The work is in generators (the ``*_steps`` methods) that a driver runs: `drive` on a
    blocking `Channel` (the methods without the suffix), or ``_aio.adrive`` on an
    ``_aio.AsyncChannel`` for the asyncio connection. Created with ``io=None`` the session
    connects at once, synchronously; with an `io` it does not, and its driver runs
    `start_steps`."""

    def __init__(
        self,
        conninfo: str,
        allow: Optional[Sequence[str]] = None,
        allow_files: Optional[Sequence[str]] = None,
        read_timeout: Optional[float] = None,
        statement_cache: int = 256,
        max_message_size: int = 64 << 20,
        memory_limit: int = 256 << 20,
        cpu_limit: float = 5.0,
        password_callback: Optional[Callable[[dict[str, Any]], Any]] = None,
        io: Optional[Any] = None,
    ) -> None:
        self.closed = True
        self._password_callback = password_callback
        self._io: Any = Channel() if io is None else io
        self.parameters: dict[str, str] = {}
        self.backend_pid: Optional[int] = None
        self.tx_status = "idle"
        self.notices: list[str] = []
        self.notice_handlers: list[Callable[[Diagnostic], None]] = []
        self.notifies: list[tuple[int, str, str]] = []
        self.read_timeout = read_timeout
        self._action = "d"
        self._action_arg: Any = None
        self._sink: Sink = Sink()
        self._cancel_token: Optional[str] = None
        self.target: Optional[Target] = None  # the target connected to
        policy = Policy.parse(allow) if allow is not None else None
        self.file_policy = FilePolicy.default(allow_files)
        self._options = _init_options(max_message_size, statement_cache)

        sb = Sandbox(runtime(), memory_limit, cpu_limit)
        self._sb = sb
        try:
            self._defaults = _env.defaults()
            self._conninfo = conninfo
            _send, _action, _arg, events = sb.call(A.req_init(self._options))
            _raise_errors(events)
            _send, _action, _arg, events = sb.call(A.req_parse_conninfo(self._defaults, conninfo))
            _raise_errors(events)
            info = next((p for t, p in events if t == "I"), None)
            if info is None:
                raise InterfaceError("the guest did not report the parsed conninfo")
            # The default policy comes from the user's conninfo, before any byte from a
            # server has reached the guest.
            self.policy = policy if policy is not None else Policy.from_targets(info["targets"])
        except BaseException:
            sb.close()
            raise
        if io is None:
            drive(self.start_steps(), self._io)

    def start_steps(self) -> Steps[None]:
        """Connects: the startup, authentication and the cancel token. On failure the socket
        and the guest instance are closed."""
        sb = self._sb
        try:
            step = sb.call(A.req_connect(self._defaults, self._conninfo))
            self.closed = False
            sink = Sink()
            self._sink = sink
            send = self._process(step)
            if send:
                yield SEND, send
            yield from self._run(sink, stream=False)
            self._io.deadline = None
            if sink.error is not None:
                raise sink.error
            if self.closed:
                raise OperationalError(
                    "the server closed the connection during startup", kind="closed"
                )
            self._io.set_read_timeout(self.read_timeout)
            # The cancel token, asked for now: cancel() runs on another thread, which must
            # not enter this session's instance while its own thread may be inside it.
            token_sink = Sink()
            self._sink = token_sink
            self._step(A.REQ_CANCEL_TOKEN)
            self._sink = Sink()
        except BaseException:
            self._close_socket()
            sb.close()
            raise

    # -- requests --

    def busy(self) -> bool:
        """True while a (streamed) request is not complete."""
        return self._action not in _IDLE

    def drain_steps(self) -> Steps[None]:
        """Reads and discards the rest of a streamed request (a COPY FROM STDIN in progress is
        aborted)."""
        if self.closed or not self.busy():
            return
        old = self._sink
        old.discarded = True
        sink = _Discard()
        self._sink = sink
        yield from self._run(sink, stream=False)

    def _begin(self, sink: Sink) -> Steps[None]:
        if self.closed:
            raise InterfaceError("the connection is closed", kind="closed")
        if self.busy():
            yield from self.drain_steps()
            if self.closed:
                raise OperationalError("the connection was lost", kind="closed")
        self._sink = sink

    def simple_query_steps(self, sql: str, sink: Sink, stream: bool = False) -> Steps[None]:
        """Simple query protocol (one or more statements)."""
        return self.request_steps(A.req_simple_query(sql), sink, stream)

    def query_steps(
        self, sql: str, types: list[int], params: str, sink: Sink, stream: bool = False
    ) -> Steps[None]:
        """Extended protocol: one or more parameter rows, one round trip."""
        return self.request_steps(A.req_query(types, params, sql), sink, stream)

    def request_steps(self, request: str, sink: Sink, stream: bool) -> Steps[None]:
        """A query request (`A.req_simple_query`, `A.req_query`) run to its end (streamed:
        until the sink holds rows)."""
        if self._action not in _IDLE or self.closed:
            yield from self._begin(sink)
        self._sink = sink
        send = self._step(request)
        if send:
            yield SEND, send
        yield from self._run(sink, stream)

    def poll_idle_steps(self, timeout: Optional[float]) -> Steps[bool]:
        """While no request runs: waits up to ``timeout`` seconds (None: as long as it takes)
        for the server to send something (a notification, a notice, a parameter, or the error
        that ends the session), hands it to the guest, and returns whether anything came. An
        error the server sent, or the socket's, is raised; the session is over then. An
        interrupt of the wait (KeyboardInterrupt, a cancelled task) leaves the session as it
        was: nothing had been read."""
        yield from self._begin(Sink())
        sink = self._sink
        try:
            data = yield READY, timeout
        except Exception:
            self._close_socket()
            self._action = "c"
            raise
        if data is None:
            return False
        yield from self._feed(data)
        yield from self._run(sink, stream=False)
        if sink.error is not None:
            raise sink.error
        return True

    def copy_start_steps(self, sql: str, sink: Sink) -> Steps[None]:
        """Runs a COPY statement (simple query protocol) until the server waits for COPY FROM
        STDIN's data (the ``i`` action), COPY TO STDOUT's first data is in the sink, or the
        request is complete."""
        yield from self._begin(sink)
        send = self._step(A.req_simple_query(sql))
        if send:
            yield SEND, send
        yield from self._run(sink, stream=True)

    def copy_write_steps(self, data: bytes) -> Steps[bool]:
        """Sends COPY FROM STDIN data. First hands the guest what the server already sent
        (without waiting): an error the server raised meanwhile ends the copy before more data
        goes. True while the copy goes on; False once the server ended it (its error is in the
        sink): the request has then run to its end."""
        sink = self._sink
        try:
            while self._action == "i":
                ready = yield READY, 0.0
                if ready is None:
                    break
                yield from self._feed(ready)
                if not ready:
                    break
            if self._action == "i":
                try:
                    send = self._step(A.req_copy_data(data))
                    if send:
                        yield SEND, send
                except OperationalError as e:
                    if e.kind != "io" or not (yield from self._salvage(sink)):
                        raise
        except BaseException as e:
            raise self._lost(e) from None
        if self._action == "i":
            return True
        yield from self._run(sink, stream=False)
        return False

    def copy_end_steps(self, reason: Optional[str] = None) -> Steps[None]:
        """Ends COPY FROM STDIN: CopyDone, or with a reason CopyFail (the server then fails the
        COPY with SQLSTATE 57014); then runs the request to its end (a COPY TO STDOUT's rest
        goes to the sink)."""
        sink = self._sink
        if self._action == "i":
            request = A.REQ_COPY_DONE if reason is None else A.req_copy_fail(reason)
            try:
                try:
                    send = self._step(request)
                    if send:
                        yield SEND, send
                except OperationalError as e:
                    if e.kind != "io" or not (yield from self._salvage(sink)):
                        raise
            except BaseException as e:
                raise self._lost(e) from None
        if not self.closed:
            yield from self._run(sink, stream=False)

    def resume_steps(self, sink: Sink) -> Steps[None]:
        """Continues a streamed request until the sink has rows again, or it completes."""
        if self._sink is not sink or not self.busy():
            return
        yield from self._run(sink, stream=True)

    # The synchronous forms, on the session's blocking channel.

    def drain(self) -> None:
        drive(self.drain_steps(), self._io)

    def simple_query(self, sql: str, sink: Sink, stream: bool = False) -> None:
        self.request(A.req_simple_query(sql), sink, stream)

    def request(self, request: str, sink: Sink, stream: bool = False) -> None:
        """`request_steps` on the blocking channel. The hot path of every synchronous
        statement: while the guest only asks to send and to read (its ``r`` action, until
        ``d``), this loop makes the same calls in the same order as the generators, without
        them (each generator step costs CPython about a microsecond); anything else (a busy
        session, streaming, COPY, the session's end) is left to the generators."""
        if stream or self._action not in _IDLE or self.closed:
            drive(self.request_steps(request, sink, stream), self._io)
            return
        self._sink = sink
        io = self._io
        call, process = self._sb.call, self._process
        # `_step`, inline here and below (in the loop a trap reaches `_lost`, which closes the
        # socket too).
        try:
            step = call(request)
        except GuestTrap:
            self._close_socket()
            raise
        send = process(step)
        if send:
            io.send(send)
        recv, read = io.recv, A.req_read
        try:
            while self._action == "r":
                send = process(call(read(recv())))
                if send:
                    io.send(send)
        except BaseException as e:
            raise self._lost(e) from None
        if self._action != "d":
            drive(self._run(sink, False), io)

    def poll_idle(self, timeout: Optional[float]) -> bool:
        return drive(self.poll_idle_steps(timeout), self._io)

    def copy_start(self, sql: str, sink: Sink) -> None:
        drive(self.copy_start_steps(sql, sink), self._io)

    def copy_write(self, data: bytes) -> bool:
        return drive(self.copy_write_steps(data), self._io)

    def copy_end(self, reason: Optional[str] = None) -> None:
        drive(self.copy_end_steps(reason), self._io)

    def resume(self, sink: Sink) -> None:
        drive(self.resume_steps(sink), self._io)

    def _feed(self, data: bytes) -> Steps[None]:
        """Hands what a read of the socket gave (b"": the end of the stream) to the guest."""
        send = self._step(A.req_read(data))
        if send:
            yield SEND, send

    def _salvage(self, sink: Sink) -> Steps[bool]:
        """After a write failed (the server closed the connection): hands the guest what the
        server sent before closing, so its error (a terminated backend) is the one reported.
        True if the sink then holds an error."""
        try:
            for _ in range(64):
                if self._action in ("c", "d"):
                    break
                data = yield READY, 0.5
                if data is None:
                    break
                yield from self._feed(data)
                if not data:
                    break
        except (Error, OSError):
            pass
        if sink.error is None:
            return False
        self._close_socket()
        self._action = "c"
        return True

    def terminate(self) -> None:
        """Sends Terminate (best effort, without waiting) and closes the socket and the
        guest."""
        if not self.closed:
            try:
                send = self._sb.call(A.REQ_TERMINATE)[0]
                if send:
                    self._io.send_nowait(send)
            except (OSError, Error):
                pass
        self._close_socket()
        self._sb.close()

    def abandon(self) -> None:
        """Closes the socket without calling into the guest (for finalizers)."""
        self._close_socket()

    # -- the loop --

    def _step(self, request: str) -> bytes:
        """Calls the guest with a request and takes its step (`_process`): the bytes to send.
        A trap closes the socket: the session is over."""
        try:
            step = self._sb.call(request)
        except GuestTrap:
            self._close_socket()
            raise
        return self._process(step)

    def _run(self, sink: Sink, stream: bool) -> Steps[None]:
        try:
            while True:
                action = self._action
                if action == "r":
                    if stream and sink.has_rows():
                        return
                    # Waiting for the server.
                    data = yield _RECV
                    send = self._step(A.req_read(data))
                    if send:
                        yield SEND, send
                    continue
                if action == "d":
                    return
                if action == "i":
                    if sink.copy_in:
                        return
                    # COPY FROM STDIN where no data can come from: aborted at once.
                    reason = sink.copy_refusal
                    send = self._step(A.req_copy_fail(reason))
                    if send:
                        yield SEND, send
                    continue
                if action == "c":
                    self._close_socket()
                    if sink.error is None:
                        sink.fail(OperationalError("the session ended", kind="closed"))
                    return
                if stream and sink.has_rows():
                    return
                yield from self._advance()
        except BaseException as e:
            raise self._lost(e) from None

    def _lost(self, e: BaseException) -> BaseException:
        """A failure (or an interrupt) in the middle of a request leaves the protocol state
        unknown: the session cannot continue. The exception to raise."""
        self._close_socket()
        self._action = "c"
        if isinstance(e, (OSError, ValueError)) and not isinstance(e, Error):
            return OperationalError(str(e), kind="io")
        return e

    def _advance(self) -> Steps[None]:
        """Performs the actions other than reading: open, file, password."""
        action = self._action
        if action == "o":
            target, timeout_ms, addr, keepalive = self._action_arg
            failure = yield from self._open(target, timeout_ms, addr, keepalive)
            if failure is None:
                request = A.req_opened_at(self._io.peer(), int(time.time()))
            else:
                request = A.req_open_failed(*failure)
        elif action == "f":
            purpose, path = self._action_arg
            answer = read_file(self.file_policy, path, purpose)
            if isinstance(answer, bytes):
                request = A.req_file_bytes(answer)
            else:
                request = A.req_file(*answer)
        elif action == "p":
            # The conninfo, PGPASSWORD and the password file had none: the connection's
            # password callback (short-lived tokens), if any, is the last source.
            password = None
            if self._password_callback is not None:
                host, port, dbname, user = self._action_arg
                password = self._password_callback(
                    {"host": host, "port": port, "dbname": dbname, "user": user}
                )
                if inspect.isawaitable(password):
                    password = yield AWAIT, password
                if password is not None and not isinstance(password, str):
                    raise InterfaceError(
                        "password_callback must return a str or None, not %s"
                        % type(password).__name__
                    )
            request = A.req_password(password)
        else:
            raise InterfaceError("unexpected action %r from the guest" % action)
        send = self._step(request)
        if send:
            yield SEND, send

    def _process(self, step: Step) -> bytes:
        """Takes a step's events and action; returns its bytes to send."""
        send, action, arg, events = step
        if events:
            sink = self._sink
            for tag, payload in events:
                if tag == "R":
                    sink.rows(payload)
                elif tag == "C":
                    sink.columns(payload)
                elif tag == "K":
                    sink.complete(payload[0], payload[1])
                elif tag == "E":
                    sink.fail(from_guest(*payload))
                elif tag == "Q":
                    sink.empty()
                elif tag == "D":
                    sink.copy_data(payload)
                elif tag == "G":
                    sink.copy_begin("in", payload[0], payload[1])
                elif tag == "H":
                    sink.copy_begin("out", payload[0], payload[1])
                elif tag == "S":
                    self.parameters[payload[0]] = payload[1]
                elif tag == "N":
                    self._notice(payload)
                elif tag == "A":
                    if len(self.notifies) < 10000:
                        self.notifies.append(payload)
                elif tag == "B":
                    self.backend_pid = payload
                elif tag == "T":
                    self._cancel_token = payload
        if action == "d":
            self.tx_status = arg
        self._action = action
        self._action_arg = arg
        return send

    def _notice(self, fields: dict[str, Any]) -> None:
        self.notices.append(format_notice(fields))
        if len(self.notices) > MAX_NOTICES:
            del self.notices[: len(self.notices) - MAX_NOTICES]
        if self.notice_handlers:
            diag = Diagnostic(fields)
            for handler in list(self.notice_handlers):
                handler(diag)

    # -- sockets --

    def _open(
        self,
        target: Target,
        timeout_ms: Optional[int],
        addr: Optional[str],
        keepalive: Optional[Keepalive] = None,
    ) -> Steps[Optional[tuple[str, str]]]:
        """Opens the target if the policy allows it: None, or (error kind, reason). Nothing is
        sent to a denied target: the check happens before any socket exists. The timeout
        covers the attempt: connecting and the whole handshake that follows."""
        self._close_socket(keep_session=True)
        if not self.policy.allows(target):
            return (
                "policy-denied",
                "connection to %s denied by policy (%s)" % (describe(target), self.policy),
            )
        self._io.deadline = time.monotonic() + timeout_ms / 1000.0 if timeout_ms else None
        failure: Optional[tuple[str, str]] = yield OPEN, (target, addr, keepalive)
        if failure is None:
            self.target = target
        return failure

    def cancel_token(self) -> str:
        """The token a cancel request needs (`cancel_steps`); InterfaceError if the session is
        closed or was never established."""
        token = self._cancel_token
        if self.closed or token is None:
            raise InterfaceError("the connection is closed or was never established")
        return token

    def cancel(self, timeout: float = 10.0) -> None:
        """Sends a CancelRequest for the running statement from a fresh guest instance, to the
        server this session is connected to (the same policy applies). Safe to call from
        another thread."""
        run_cancel(self.cancel_token(), self.policy, timeout)

    def _close_socket(self, keep_session: bool = False) -> None:
        self._io.close()
        if not keep_session:
            self.closed = True


def cancel_steps(io: Any, token: str, policy: Policy, timeout: float) -> Steps[None]:
    """A cancel request on a new guest instance: ``k`` + token as its first request (no
    ``n``: the instance delivers the cancel request and nothing else), then its steps, on
    `io` (a channel of its own)."""
    sb = Sandbox(runtime(), CANCEL_MEMORY)
    io.deadline = time.monotonic() + timeout
    try:
        step = sb.call(A.req_cancel(token))
        for _ in range(1000):
            send, action, arg, events = step
            if send:
                yield SEND, send
            _raise_errors(events)
            if action in ("c", "d"):
                return
            if action == "o":
                target, _timeout_ms, addr, keepalive = arg
                io.close()
                if not policy.allows(target):
                    reason = "connection to %s denied by policy (%s)" % (describe(target), policy)
                    step = sb.call(A.req_open_failed("policy-denied", reason))
                    continue
                failure = yield OPEN, (target, addr, keepalive)
                # With the clock: a cancel request over TLS validates the certificate at it.
                opened = A.req_opened_at(None, int(time.time()))
                step = sb.call(A.req_open_failed(*failure) if failure else opened)
            elif action == "r":
                data = yield _RECV
                step = sb.call(A.req_read(data))
            else:
                raise InterfaceError("unexpected action %r while cancelling" % action)
        raise InterfaceError("the cancel request did not finish")
    except OSError as e:
        raise OperationalError("cannot send the cancel request: %s" % e, kind="io") from None
    finally:
        io.close()
        sb.close()


def run_cancel(token: str, policy: Policy, timeout: float) -> None:
    """Runs a cancel request (`cancel_steps`) on a blocking channel of its own."""
    io = Channel()
    drive(cancel_steps(io, token, policy, timeout), io)
