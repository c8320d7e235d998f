"""COPY (psycopg 3's ``cursor.copy()``): ``Copy``, the object ``with cur.copy(sql) as copy:``
gives.

COPY FROM STDIN: ``write(data)`` and ``write_row(row)`` fill a buffer that goes to the server
(a ``D`` request, `_session.Session.copy_write`) once it holds `BUFFER_SIZE` bytes. Before each
send, what the server already sent is handed to the guest without waiting, so a server error (a
bad row) stops the copy at once and is raised from ``write``. Leaving the block sends the rest
and CopyDone, and waits for the server's answer (``cursor.rowcount`` is then the number of rows
copied); an exception inside the block sends CopyFail with its text instead, waits for the
server, and is re-raised: nothing is copied, and the connection stays usable.

COPY TO STDOUT: ``read()``, iteration, ``rows()`` and ``read_row()`` take the data chunk by chunk
as the guest hands it over (whole rows for text and CSV, at most 256 KiB each); the socket is
read only when the chunks received are used up, so memory stays bounded however large the
output. Leaving the block early discards the rest.

``write_row``, ``rows`` and ``read_row`` use the text format (tab-separated, ``\\N`` for NULL,
backslash escapes); values go in their PostgreSQL text input form, adapted as parameters are.
The binary format is written with ``write`` (for example the data of a binary COPY TO STDOUT).
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import AsyncIterator, Generator, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Optional, Union

from . import _sql
from ._abi import unescape_data
from ._literal import literal, text_of
from ._session import Sink
from .errors import DataError, Error, InterfaceError, NotSupportedError, ProgrammingError

if TYPE_CHECKING:  # pragma: no cover
    from .cursor import Cursor

__all__ = ["BUFFER_SIZE", "Copy", "AsyncCopy", "astart"]

# Data written is sent once the buffer holds this much; a larger write goes in pieces of at
# most MAX_PIECE bytes (the guest frames them as CopyData messages of at most 1 MiB).
BUFFER_SIZE = 64 << 10
MAX_PIECE = 1 << 20

Buffer = Union[bytes, bytearray, memoryview, str]


def merge(statement: str, params: Any) -> str:
    """The statement with its ``%s`` / ``%(name)s`` placeholders replaced by literals
    (psycopg merges COPY's parameters client-side too: the server binds none for COPY)."""
    return _sql.interpolate(statement, params, literal)


# -- the COPY text format --

_ESCAPE_SEQ = re.compile(r"\\(?:([0-7]{1,3})|x([0-9A-Fa-f]{1,2})|(.))", re.S)
_SIMPLE = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def _unescape_seq(m: re.Match[str]) -> str:
    if m.group(1) is not None:
        return chr(int(m.group(1), 8))
    if m.group(2) is not None:
        return chr(int(m.group(2), 16))
    c = m.group(3)
    return _SIMPLE.get(c, c)


def _escaped(text: str) -> str:
    """The COPY text format's escapes; four substring tests (memchr) decide, as most values
    need none."""
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        return (
            text.replace("\\", "\\\\")
            .replace("\t", "\\t")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
        )
    return text


def format_row(row: Sequence[Any]) -> str:
    """One row in the COPY text format, with its newline. Strings and integers, the common
    case, skip the adapters (their text input form is themselves); this runs once per value."""
    parts: list[str] = []
    append = parts.append
    for value in row:
        kind = type(value)
        if kind is str:
            if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
                value = _escaped(value)
            append(value)
        elif kind is int:
            append(str(value))
        else:
            text = text_of(value)
            append("\\N" if text is None else _escaped(text))
    return "\t".join(parts) + "\n"


def parse_row(line: str) -> tuple[Optional[str], ...]:
    """One line of the COPY text format (without its newline) as a tuple of str or None."""
    return tuple(
        None if f == "\\N" else (_ESCAPE_SEQ.sub(_unescape_seq, f) if "\\" in f else f)
        for f in line.split("\t")
    )


class _CopySink(Sink):
    """A COPY's sink: what began, the data chunks not yet read, the command's tag."""

    copy_in = True
    copy_refusal = "COPY aborted"

    def __init__(self) -> None:
        self.error: Optional[Error] = None
        self.direction: Optional[str] = None
        self.binary = False
        self.ncolumns = 0
        self.chunks: deque[tuple[str, bool, str]] = deque()
        self.dropping = False  # the rest of a COPY TO STDOUT is discarded
        self.tag: Optional[str] = None
        self.count: Optional[int] = None
        self.other = False  # a result that is not a COPY came

    def copy_begin(self, direction: str, binary: bool, columns: int) -> None:
        self.copied = True
        if self.direction is None:
            self.direction = direction
            self.binary = binary
            self.ncolumns = columns

    def copy_data(self, chunk: tuple[str, bool, str]) -> None:
        if not self.dropping:
            self.chunks.append(chunk)

    def columns(self, cols: Any) -> None:
        self.other = True

    def complete(self, tag: str, rows: Optional[int]) -> None:
        if self.tag is None or tag.startswith("COPY"):
            self.tag = tag
            self.count = rows

    def has_rows(self) -> bool:
        return bool(self.chunks)


class _CopyBase:
    """What `Copy` and `AsyncCopy` share: the buffers and the state, nothing that waits."""

    def __init__(self, cursor: Any, sink: _CopySink, complete: bool = False) -> None:
        self._cursor = cursor
        self._sink = sink
        assert sink.direction is not None
        self.direction: str = sink.direction
        self.binary = sink.binary
        self.columns = sink.ncolumns
        self._buf = bytearray()
        # Rows of write_row() not yet in _buf, and their length in characters: encoded in one
        # go when sent (or before data from write(), which follows them).
        self._rows: list[str] = []
        self._rows_len = 0
        self._finished = False
        # The request is complete (only COPY TO STDOUT's data may be left in the sink).
        self._complete = complete
        self._partial = ""  # an unfinished line of text data (rows() / read_row())
        self._lines: deque[str] = deque()

    # -- common --

    def _conn(self) -> Any:
        conn = self._cursor._conn
        if conn is None or conn.closed:
            raise InterfaceError("the connection is closed")
        return conn

    def _check_session(self, session: Any) -> None:
        if self._sink.discarded or session._sink is not self._sink:
            self._finished = True
            raise ProgrammingError(
                "the COPY was abandoned: another statement ran on the connection"
            )

    def _done(self) -> None:
        """The request is complete: the cursor's rowcount, or the error."""
        self._finished = True
        sink = self._sink
        cur = self._cursor
        cur.statusmessage = sink.tag
        cur.rowcount = -1 if sink.count is None else sink.count
        if sink.error is not None:
            raise sink.error

    # -- COPY FROM STDIN --

    def _check_in(self) -> None:
        if self.direction != "in":
            raise ProgrammingError("this COPY sends data TO STDOUT: read it, do not write")
        if self._finished:
            raise ProgrammingError("the COPY is finished")

    def _append(self, buffer: Buffer) -> bool:
        """write()'s buffering; True when the buffer is to be sent."""
        self._check_in()
        if self._rows:
            self._take_rows()
        if isinstance(buffer, str):
            self._buf += buffer.encode("utf-8")
        elif isinstance(buffer, (bytes, bytearray, memoryview)):
            self._buf += buffer
        else:
            raise TypeError("COPY data must be bytes or str, not %s" % type(buffer).__name__)
        return len(self._buf) >= BUFFER_SIZE

    def _append_row(self, row: Sequence[Any]) -> bool:
        """write_row()'s buffering; True when the buffer is to be sent."""
        self._check_in()
        if self.binary:
            raise NotSupportedError(
                "write_row() writes the text format only; send binary COPY data with write()"
            )
        kind = type(row)
        if (
            kind is not tuple
            and kind is not list
            and (isinstance(row, (str, bytes)) or not isinstance(row, Sequence))
        ):
            raise ProgrammingError("write_row() needs a sequence of values, not %r" % (row,))
        line = format_row(row)
        self._rows.append(line)
        self._rows_len += len(line)
        return self._rows_len >= BUFFER_SIZE

    def _take_rows(self) -> None:
        self._buf += "".join(self._rows).encode("utf-8")
        self._rows.clear()
        self._rows_len = 0

    def _pieces(self) -> list[bytes]:
        """What is buffered, taken, in pieces of at most MAX_PIECE bytes."""
        if self._rows:
            self._take_rows()
        if not self._buf:
            return []
        data = bytes(self._buf)
        self._buf.clear()
        return [data[start : start + MAX_PIECE] for start in range(0, len(data), MAX_PIECE)]

    def _ended_early(self) -> Error:
        self._done()
        return InterfaceError("the server ended the COPY without an error")

    # -- COPY TO STDOUT --

    def _check_out(self) -> None:
        if self.direction != "out":
            raise ProgrammingError("this COPY takes data FROM STDIN: write it, do not read")

    def _chunk_now(self) -> tuple[bool, Optional[tuple[str, bool, str]]]:
        """(True, the next chunk or None at the end) from what was received, or (False, None)
        when more must be read."""
        self._check_out()
        sink = self._sink
        while True:
            if sink.chunks:
                return True, sink.chunks.popleft()
            if self._finished:
                return True, None
            if self._complete:
                self._done()
                continue
            return False, None

    def _out_conn(self) -> Any:
        conn = self._cursor._conn
        if conn is None or conn._closed:
            raise InterfaceError("the connection is closed")
        return conn

    @staticmethod
    def _bytes(chunk: Optional[tuple[str, bool, str]]) -> bytes:
        if chunk is None:
            return b""
        encoding, escaped, data = chunk
        if escaped:
            data = unescape_data(data)
        return data.encode("utf-8" if encoding == "t" else "latin-1")

    def _check_text(self) -> None:
        if self.binary:
            raise NotSupportedError(
                "rows() and read_row() parse the text format only; read binary data with read()"
            )

    def _split_lines(self, chunk: Optional[tuple[str, bool, str]]) -> bool:
        """Adds a chunk's lines; False at the end (the last unfinished line, if any, is then
        a line)."""
        if chunk is None:
            if self._partial:
                self._lines.append(self._partial)
                self._partial = ""
                return True
            return False
        encoding, escaped, data = chunk
        if escaped:
            data = unescape_data(data)
        if encoding != "t":
            try:
                data = data.encode("latin-1").decode("utf-8")
            except UnicodeDecodeError:
                raise DataError("the COPY data is not UTF-8 text") from None
        lines = data.split("\n")
        if self._partial:
            lines[0] = self._partial + lines[0]
        self._partial = lines.pop()
        self._lines.extend(lines)
        return True

    def _drop_out(self) -> None:
        self._sink.dropping = True
        self._sink.chunks.clear()
        self._lines.clear()
        self._partial = ""

    def _clear_in(self) -> None:
        self._buf.clear()
        self._rows.clear()
        self._rows_len = 0

    def _swallow(self, e: Error) -> None:
        """abort()'s end: the server's 57014 for the aborted COPY is expected."""
        conn = self._cursor._conn
        if getattr(e, "sqlstate", None) != "57014" or conn is None or conn.closed:
            raise e

    @staticmethod
    def _reason(exc_type: Any, exc: Any) -> str:
        text = str(exc) if exc is not None else ""
        reason = "%s: %s" % (exc_type.__name__, text) if text else exc_type.__name__
        return "error from Python: " + reason

    def __repr__(self) -> str:
        state = "finished" if self._finished else "active"
        return "<wasmpg.%s %s %s>" % (
            type(self).__name__,
            "FROM STDIN" if self.direction == "in" else "TO STDOUT",
            state,
        )


class Copy(_CopyBase):
    """A COPY in progress: use it as a context manager (``with cur.copy(sql) as copy:``).

    Attributes: ``direction`` (``"in"`` for FROM STDIN, ``"out"`` for TO STDOUT), ``binary``
    (the server's format flag: True for ``FORMAT binary``; text and CSV are both False) and
    ``columns`` (the number of columns)."""

    # -- COPY FROM STDIN --

    def write(self, buffer: Buffer) -> None:
        """Writes COPY FROM STDIN data (bytes; a str is sent as UTF-8), in any split. Data is
        sent once 64 KiB are buffered; an error the server raised meanwhile (a bad row) is
        raised here."""
        if self._append(buffer):
            self._flush()

    def write_row(self, row: Sequence[Any]) -> None:
        """Writes one row in the text format: each value in its PostgreSQL text input form
        (None as ``\\N``), with tabs, newlines, carriage returns and backslashes escaped."""
        if self._append_row(row):
            self._flush()

    def _flush(self) -> None:
        pieces = self._pieces()
        if not pieces:
            return
        conn = self._conn()
        with conn._lock:
            session = conn._session
            self._check_session(session)
            for piece in pieces:
                if not session.copy_write(piece):
                    raise self._ended_early()

    def _end_in(self, reason: Optional[str]) -> None:
        conn = self._conn()
        with conn._lock:
            session = conn._session
            self._check_session(session)
            session.copy_end(reason)
            self._done()

    # -- COPY TO STDOUT --

    def _next_chunk(self) -> Optional[tuple[str, bool, str]]:
        while True:
            ready, chunk = self._chunk_now()
            if ready:
                return chunk
            conn = self._out_conn()
            with conn._lock:
                session = conn._session
                self._check_session(session)
                if session.busy():
                    session.resume(self._sink)
                # Complete, or the connection was lost (the sink then holds the error).
                self._complete = not session.busy()

    def read(self) -> bytes:
        """The next chunk of COPY TO STDOUT data (for text and CSV whole rows); ``b""`` at the
        end."""
        return self._bytes(self._next_chunk())

    def __iter__(self) -> Iterator[bytes]:
        while True:
            data = self.read()
            if not data:
                return
            yield data

    def _next_line(self) -> Optional[str]:
        self._check_text()
        while not self._lines:
            if not self._split_lines(self._next_chunk()):
                return None
        return self._lines.popleft()

    def read_row(self) -> Optional[tuple[Optional[str], ...]]:
        """The next row of text-format data as a tuple of str (None for NULL); None at the
        end."""
        line = self._next_line()
        return None if line is None else parse_row(line)

    def rows(self) -> Iterator[tuple[Optional[str], ...]]:
        """The rows of text-format data, as `read_row` gives them."""
        while True:
            line = self._next_line()
            if line is None:
                return
            yield parse_row(line)

    def _end_out(self, cancel: bool = False) -> None:
        self._drop_out()
        if self._finished:
            return
        if not self._complete:
            conn = self._conn()
            with conn._lock:
                session = conn._session
                self._check_session(session)
                if cancel and session.busy():
                    # The server may have much left to send: a CancelRequest ends it sooner
                    # (best effort; without it the rest is read and discarded).
                    try:
                        session.cancel(timeout=5.0)
                    except Error:
                        pass
                session.copy_end()
        self._done()

    # -- the block --

    def finish(self) -> None:
        """Ends the COPY: FROM STDIN sends what is buffered and CopyDone and waits for the
        server; TO STDOUT discards what is left. Leaving the ``with`` block calls it."""
        if self._finished:
            return
        if self.direction == "in":
            self._flush()
            self._end_in(None)
        else:
            self._end_out()

    def abort(self, reason: str) -> None:
        """Aborts the COPY: FROM STDIN sends CopyFail with this reason; TO STDOUT sends a
        CancelRequest if the server is still sending, and discards what is left. The server's
        error that follows (SQLSTATE 57014) is swallowed."""
        if self._finished:
            return
        self._clear_in()
        try:
            if self.direction == "in":
                self._end_in(reason or "COPY aborted")
            else:
                self._end_out(cancel=True)
        except Error as e:
            self._swallow(e)

    def __enter__(self) -> Copy:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.finish()
            return
        if self._finished:
            return
        try:
            self.abort(self._reason(exc_type, exc))
        except Error:
            pass  # the original exception matters more


def _copy_sql(statement: str, params: Any) -> str:
    if not isinstance(statement, str):
        raise ProgrammingError("the statement must be a str, got %s" % type(statement).__name__)
    if params is not None and not (
        isinstance(params, (Sequence, Mapping)) and not isinstance(params, (str, bytes))
    ):
        raise ProgrammingError("parameters must be a sequence or a mapping")
    return statement if params is None else merge(statement, params)


def _started(sink: _CopySink, busy: bool) -> Optional[bool]:
    """After the COPY statement ran: whether the request is complete, or None when it was no
    COPY (the caller drains what is left, then `_not_copy`)."""
    if sink.direction is None:
        return None
    if sink.error is not None and not busy:
        raise sink.error
    return not busy


def _not_copy(sink: _CopySink) -> Error:
    if sink.error is not None:
        return sink.error
    return ProgrammingError("copy() needs a COPY ... FROM STDIN or COPY ... TO STDOUT statement")


def start(cursor: Cursor, statement: str, params: Any = None) -> Copy:
    """``cursor.copy()``: runs the COPY statement and returns its `Copy`."""
    sql = _copy_sql(statement, params)
    conn = cursor._check()
    with conn._lock:
        cursor._reset()
        cursor.query = sql
        conn._before_statement(cursor)
        copy_sink = _CopySink()
        session = conn._session
        session.copy_start(sql, copy_sink)
        complete = _started(copy_sink, session.busy())
        if complete is None:
            if session.busy():
                session.drain()
            raise _not_copy(copy_sink)
        return Copy(cursor, copy_sink, complete)


class AsyncCopy(_CopyBase):
    """`Copy` for asyncio (``async with cur.copy(sql) as copy:``): the same behaviour, with
    ``await copy.write(...)``, ``await copy.write_row(...)``, ``await copy.read()``,
    ``async for data in copy``, ``async for row in copy.rows()``, ``await copy.read_row()``."""

    # -- COPY FROM STDIN --

    async def write(self, buffer: Buffer) -> None:
        """Writes COPY FROM STDIN data (see `Copy.write`)."""
        if self._append(buffer):
            await self._flush()

    async def write_row(self, row: Sequence[Any]) -> None:
        """Writes one row in the text format (see `Copy.write_row`)."""
        if self._append_row(row):
            await self._flush()

    async def _flush(self) -> None:
        pieces = self._pieces()
        if not pieces:
            return
        conn = self._conn()
        async with conn._lock:
            session = conn._session
            self._check_session(session)
            for piece in pieces:
                if not await conn._run(session.copy_write_steps(piece)):
                    raise self._ended_early()

    async def _end_in(self, reason: Optional[str]) -> None:
        conn = self._conn()
        async with conn._lock:
            session = conn._session
            self._check_session(session)
            await conn._run(session.copy_end_steps(reason))
            self._done()

    # -- COPY TO STDOUT --

    async def _next_chunk(self) -> Optional[tuple[str, bool, str]]:
        while True:
            ready, chunk = self._chunk_now()
            if ready:
                return chunk
            conn = self._out_conn()
            async with conn._lock:
                session = conn._session
                self._check_session(session)
                if session.busy():
                    await conn._run(session.resume_steps(self._sink))
                self._complete = not session.busy()

    async def read(self) -> bytes:
        """The next chunk of COPY TO STDOUT data; ``b""`` at the end."""
        return self._bytes(await self._next_chunk())

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        while True:
            data = await self.read()
            if not data:
                return
            yield data

    async def _next_line(self) -> Optional[str]:
        self._check_text()
        while not self._lines:
            if not self._split_lines(await self._next_chunk()):
                return None
        return self._lines.popleft()

    async def read_row(self) -> Optional[tuple[Optional[str], ...]]:
        """The next row of text-format data (see `Copy.read_row`); None at the end."""
        line = await self._next_line()
        return None if line is None else parse_row(line)

    async def rows(self) -> AsyncIterator[tuple[Optional[str], ...]]:
        """The rows of text-format data, as `read_row` gives them."""
        while True:
            line = await self._next_line()
            if line is None:
                return
            yield parse_row(line)

    async def _end_out(self, cancel: bool = False) -> None:
        self._drop_out()
        if self._finished:
            return
        if not self._complete:
            conn = self._conn()
            async with conn._lock:
                session = conn._session
                self._check_session(session)
                if cancel and session.busy():
                    try:
                        await conn._cancel_now(5.0)
                    except Error:
                        pass
                await conn._run(session.copy_end_steps())
        self._done()

    # -- the block --

    async def finish(self) -> None:
        """Ends the COPY (see `Copy.finish`); leaving the ``async with`` block calls it."""
        if self._finished:
            return
        if self.direction == "in":
            await self._flush()
            await self._end_in(None)
        else:
            await self._end_out()

    async def abort(self, reason: str) -> None:
        """Aborts the COPY (see `Copy.abort`)."""
        if self._finished:
            return
        self._clear_in()
        try:
            if self.direction == "in":
                await self._end_in(reason or "COPY aborted")
            else:
                await self._end_out(cancel=True)
        except Error as e:
            self._swallow(e)

    async def __aenter__(self) -> AsyncCopy:
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            await self.finish()
            return
        if self._finished:
            return
        try:
            await self.abort(self._reason(exc_type, exc))
        except Error:
            pass  # the original exception matters more


class _AsyncCopyStart:
    """``cur.copy(sql)`` of an `AsyncCursor`: used as ``async with cur.copy(sql) as copy:``
    (or awaited for the `AsyncCopy`)."""

    def __init__(self, cursor: Any, statement: str, params: Any) -> None:
        self._sql = _copy_sql(statement, params)
        self._cursor = cursor
        self._copy: Optional[AsyncCopy] = None

    def __await__(self) -> Generator[Any, None, AsyncCopy]:
        return astart(self._cursor, self._sql).__await__()

    async def __aenter__(self) -> AsyncCopy:
        self._copy = await astart(self._cursor, self._sql)
        return self._copy

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        assert self._copy is not None
        await self._copy.__aexit__(exc_type, exc, tb)


async def astart(cursor: Any, sql: str) -> AsyncCopy:
    """``AsyncCursor.copy()``: runs the COPY statement and returns its `AsyncCopy`."""
    conn = cursor._check()
    async with conn._lock:
        cursor._reset()
        cursor.query = sql
        await conn._before_statement()
        copy_sink = _CopySink()
        session = conn._session
        await conn._run(session.copy_start_steps(sql, copy_sink))
        complete = _started(copy_sink, session.busy())
        if complete is None:
            if session.busy():
                await conn._run(session.drain_steps())
            raise _not_copy(copy_sink)
        return AsyncCopy(cursor, copy_sink, complete)
