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

import os
import stat
import time
from collections.abc import Sequence
from typing import Any, Callable, Optional, Union

from . import _abi as A
from . import _env
from ._abi import ColumnInfo, Keepalive, Step, Target
from ._policy import FilePolicy, Policy, default_passfile, default_ssl_dir, describe
from ._runtime import runtime
from ._sandbox import GuestTrap, Sandbox
from ._socket import Channel
from .errors import Diagnostic, Error, InterfaceError, OperationalError, format_notice, from_guest

__all__ = ["DEFAULT_SOCKET_DIR", "Session", "Sink"]

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
# The session


class Session:
    """One connection: a sandboxed guest instance and the socket."""

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
        password_callback: Optional[Callable[[dict[str, Any]], Optional[str]]] = None,
    ) -> None:
        self.closed = True
        self._password_callback = password_callback
        self._io = Channel()
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
            defaults = _env.defaults()
            _send, _action, _arg, events = sb.call(A.req_init(self._options))
            _raise_errors(events)
            _send, _action, _arg, events = sb.call(A.req_parse_conninfo(defaults, conninfo))
            _raise_errors(events)
            info = next((p for t, p in events if t == "I"), None)
            if info is None:
                raise InterfaceError("the guest did not report the parsed conninfo")
            # The default policy comes from the user's conninfo, before any byte from a
            # server has reached the guest.
            self.policy = policy if policy is not None else Policy.from_targets(info["targets"])
            step = sb.call(A.req_connect(defaults, conninfo))
            self.closed = False
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
            # The cancel token, asked for now: cancel() runs on another thread, which must
            # not enter this session's instance while its own thread may be inside it.
            token_sink = Sink()
            self._sink = token_sink
            self._process(self._guarded(sb.call, A.REQ_CANCEL_TOKEN))
            self._sink = Sink()
        except BaseException:
            self._close_socket()
            sb.close()
            raise

    # -- requests --

    def busy(self) -> bool:
        """True while a (streamed) request is not complete."""
        return self._action not in ("d", "c")

    def drain(self) -> None:
        """Reads and discards the rest of a streamed request (a COPY FROM STDIN in progress is
        aborted)."""
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
        self._process(self._guarded(self._sb.call, A.req_simple_query(sql)))
        self._run(sink, stream)

    def query(
        self, sql: str, types: list[int], params: str, sink: Sink, stream: bool = False
    ) -> None:
        """Extended protocol: one or more parameter rows, one round trip."""
        self._begin(sink)
        self._process(self._guarded(self._sb.call, A.req_query(types, params, sql)))
        self._run(sink, stream)

    def poll_idle(self, timeout: Optional[float]) -> bool:
        """While no request runs: waits up to ``timeout`` seconds (None: as long as it takes)
        for the server to send something (a notification, a notice, a parameter, or the error
        that ends the session), hands it to the guest, and returns whether anything came. An
        error the server sent, or the socket's, is raised; the session is over then."""
        self._begin(Sink())
        sink = self._sink
        try:
            data = self._io.recv_ready(timeout)
        except BaseException:
            self._close_socket()
            self._action = "c"
            raise
        if data is None:
            return False
        self._feed(data)
        self._run(sink, stream=False)
        if sink.error is not None:
            raise sink.error
        return True

    def copy_start(self, sql: str, sink: Sink) -> None:
        """Runs a COPY statement (simple query protocol) until the server waits for COPY FROM
        STDIN's data (the ``i`` action), COPY TO STDOUT's first data is in the sink, or the
        request is complete."""
        self._begin(sink)
        self._process(self._guarded(self._sb.call, A.req_simple_query(sql)))
        self._run(sink, stream=True)

    def copy_write(self, data: bytes) -> bool:
        """Sends COPY FROM STDIN data. First hands the guest what the server already sent
        (without waiting): an error the server raised meanwhile ends the copy before more data
        goes. True while the copy goes on; False once the server ended it (its error is in the
        sink): the request has then run to its end."""
        sink = self._sink
        call = self._sb.call
        try:
            while self._action == "i":
                ready = self._io.recv_ready()
                if ready is None:
                    break
                self._feed(ready)
                if not ready:
                    break
            if self._action == "i":
                try:
                    self._process(self._guarded(call, A.req_copy_data(data)))
                except OperationalError as e:
                    if e.kind != "io" or not self._salvage(sink):
                        raise
        except BaseException as e:
            raise self._lost(e) from None
        if self._action == "i":
            return True
        self._run(sink, stream=False)
        return False

    def copy_end(self, reason: Optional[str] = None) -> None:
        """Ends COPY FROM STDIN: CopyDone, or with a reason CopyFail (the server then fails the
        COPY with SQLSTATE 57014); then runs the request to its end (a COPY TO STDOUT's rest
        goes to the sink)."""
        sink = self._sink
        if self._action == "i":
            request = A.REQ_COPY_DONE if reason is None else A.req_copy_fail(reason)
            try:
                try:
                    self._process(self._guarded(self._sb.call, request))
                except OperationalError as e:
                    if e.kind != "io" or not self._salvage(sink):
                        raise
            except BaseException as e:
                raise self._lost(e) from None
        if not self.closed:
            self._run(sink, stream=False)

    def _feed(self, data: bytes) -> None:
        """Hands what a read of the socket gave (b"": the end of the stream) to the guest."""
        self._process(self._guarded(self._sb.call, A.req_read(data)))

    def _salvage(self, sink: Sink) -> bool:
        """After a write failed (the server closed the connection): hands the guest what the
        server sent before closing, so its error (a terminated backend) is the one reported.
        True if the sink then holds an error."""
        try:
            for _ in range(64):
                if self._action in ("c", "d"):
                    break
                data = self._io.recv_ready(0.5)
                if data is None:
                    break
                self._feed(data)
                if not data:
                    break
        except (Error, OSError):
            pass
        if sink.error is None:
            return False
        self._close_socket()
        self._action = "c"
        return True

    def resume(self, sink: Sink) -> None:
        """Continues a streamed request until the sink has rows again, or it completes."""
        if self._sink is not sink or not self.busy():
            return
        self._run(sink, stream=True)

    def terminate(self) -> None:
        """Sends Terminate (best effort) and closes the socket and the guest."""
        if not self.closed:
            try:
                send = self._sb.call(A.REQ_TERMINATE)[0]
                sock = self._io.sock
                if send and sock is not None:
                    sock.settimeout(1.0)
                    sock.sendall(send)
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
                if action == "d":
                    return
                if action == "i":
                    if sink.copy_in:
                        return
                    # COPY FROM STDIN where no data can come from: aborted at once.
                    reason = sink.copy_refusal
                    self._process(self._guarded(self._sb.call, A.req_copy_fail(reason)))
                    continue
                if action == "c":
                    self._close_socket()
                    if sink.error is None:
                        sink.fail(OperationalError("the session ended", kind="closed"))
                    return
                if stream and sink.has_rows():
                    return
                self._advance()
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

    def _advance(self) -> None:
        call = self._sb.call
        action = self._action
        if action == "r":
            data = self._io.recv()
            step = self._guarded(call, A.req_read(data))
        elif action == "o":
            target, timeout_ms, addr, keepalive = self._action_arg
            failure = self._open(target, timeout_ms, addr, keepalive)
            if failure is None:
                step = self._guarded(call, A.req_opened_at(self._io.peer(), int(time.time())))
            else:
                step = self._guarded(call, A.req_open_failed(*failure))
        elif action == "f":
            purpose, path = self._action_arg
            answer = read_file(self.file_policy, path, purpose)
            if isinstance(answer, bytes):
                step = self._guarded(call, A.req_file_bytes(answer))
            else:
                step = self._guarded(call, A.req_file(*answer))
        elif action == "p":
            # The conninfo, PGPASSWORD and the password file had none: the connection's
            # password callback (short-lived tokens), if any, is the last source.
            password = None
            if self._password_callback is not None:
                host, port, dbname, user = self._action_arg
                password = self._password_callback(
                    {"host": host, "port": port, "dbname": dbname, "user": user}
                )
                if password is not None and not isinstance(password, str):
                    raise InterfaceError(
                        "password_callback must return a str or None, not %s"
                        % type(password).__name__
                    )
            step = self._guarded(call, A.req_password(password))
        else:
            raise InterfaceError("unexpected action %r from the guest" % action)
        self._process(step)

    def _process(self, step: Step) -> None:
        send, action, arg, events = step
        if send:
            self._io.send(send)
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
    ) -> Optional[tuple[str, str]]:
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
        failure = self._io.connect(target, addr, keepalive)
        if failure is None:
            self.target = target
        return failure

    def cancel(self, timeout: float = 10.0) -> None:
        """Sends a CancelRequest for the running statement from a fresh guest instance, to the
        server this session is connected to (the same policy applies). Safe to call from
        another thread."""
        token = self._cancel_token
        if self.closed or token is None:
            raise InterfaceError("the connection is closed or was never established")
        run_cancel(token, self.policy, timeout)

    def _close_socket(self, keep_session: bool = False) -> None:
        self._io.close()
        if not keep_session:
            self.closed = True


def run_cancel(token: str, policy: Policy, timeout: float) -> None:
    """Runs a cancel request on a new guest instance: ``k`` + token as its first request (no
    ``n``: the instance delivers the cancel request and nothing else), then its steps."""
    sb = Sandbox(runtime(), CANCEL_MEMORY)
    io = Channel()
    io.deadline = time.monotonic() + timeout
    try:
        step = sb.call(A.req_cancel(token))
        for _ in range(1000):
            send, action, arg, events = step
            if send:
                io.send(send)
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
                failure = io.connect(target, addr, keepalive)
                # With the clock: a cancel request over TLS validates the certificate at it.
                opened = A.req_opened_at(None, int(time.time()))
                step = sb.call(A.req_open_failed(*failure) if failure else opened)
            elif action == "r":
                data = io.recv()
                step = sb.call(A.req_read(data))
            else:
                raise InterfaceError("unexpected action %r while cancelling" % action)
        raise InterfaceError("the cancel request did not finish")
    except OSError as e:
        raise OperationalError("cannot send the cancel request: %s" % e, kind="io") from None
    finally:
        io.close()
        sb.close()
