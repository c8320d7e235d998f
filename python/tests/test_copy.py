"""COPY (``cursor.copy()``, psycopg 3's API) against the real server: large copies both ways
checked against the server's own aggregates, the text, CSV and binary formats, write_row's
escaping, server errors midway, an exception inside the block, a terminated backend, execute()
of COPY, and bounded memory while streaming COPY TO STDOUT."""

import datetime
import decimal
import gc
import hashlib
import os
import sys
import time
import uuid

import pytest

import wasmpg
from wasmpg import _copy

ROWS = 1000000
# 100 million rows (~11 GB of COPY text), produced as they are sent (a single
# generate_series(1, 100000000) would be materialized first).
HUGE = (
    "a * 100000 + b + 1, repeat('x', 100) "
    "FROM generate_series(0, 999) a, generate_series(0, 99999) b"
)


def _make(conn, table, cols="id int8, v text"):
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE %s (%s)" % (table, cols))


def _scalar(conn, sql, params=None):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()[0]


def _usable(conn):
    assert not conn.closed
    assert _scalar(conn, "SELECT 41 + 1") == 42


# -- COPY FROM STDIN --


def test_million_rows_in_with_write_row_checksummed(aconn, table):
    _make(aconn, table)
    h = hashlib.md5()
    total = 0
    cur = aconn.cursor()
    with cur.copy("COPY %s (id, v) FROM STDIN" % table) as copy:
        assert (copy.direction, copy.binary, copy.columns) == ("in", False, 2)
        for i in range(1, ROWS + 1):
            v = "r%d" % (i * 7)
            copy.write_row((i, v))
            total += i
            h.update(v.encode())
    assert cur.rowcount == ROWS
    assert cur.statusmessage == "COPY %d" % ROWS
    count, s, md5 = (
        aconn.cursor()
        .execute("SELECT count(*), sum(id), md5(string_agg(v, '' ORDER BY id)) FROM %s" % table)
        .fetchone()
    )
    assert (count, s, md5) == (ROWS, total, h.hexdigest())


def test_million_rows_in_with_write_in_odd_pieces(aconn, table):
    """Raw data in pieces that split rows anywhere (and one piece far above the buffer)."""
    _make(aconn, table)
    data = "".join("%d\tx%d\n" % (i, i) for i in range(1, ROWS + 1)).encode()
    with aconn.cursor() as cur:
        with cur.copy("COPY %s FROM STDIN" % table) as copy:
            pos = 0
            sizes = [1, 7, 1000, 65535, 65537, 3 << 20, 12345]
            k = 0
            while pos < len(data):
                n = sizes[k % len(sizes)]
                copy.write(data[pos : pos + n])
                pos += n
                k += 1
        assert cur.rowcount == ROWS
    count, s, md5 = (
        aconn.cursor()
        .execute("SELECT count(*), sum(id), md5(string_agg(v, '' ORDER BY id)) FROM %s" % table)
        .fetchone()
    )
    want = hashlib.md5("".join("x%d" % i for i in range(1, ROWS + 1)).encode()).hexdigest()
    assert (count, s, md5) == (ROWS, ROWS * (ROWS + 1) // 2, want)


def test_write_row_escapes_and_values(aconn, table):
    _make(
        aconn,
        table,
        "id int4, t text, b bytea, d date, ts timestamptz, iv interval, n numeric, "
        "a int4[], ta text[], j jsonb, u uuid, f bool",
    )
    nasty = "tab\there\nnew\\line\r\x01 é ✓ \U0001f600 \\N"
    u = uuid.uuid4()
    rows = [
        (
            1,
            nasty,
            b"\x00\x01\\\t\xff",
            datetime.date(2020, 2, 29),
            datetime.datetime(2021, 3, 4, 5, 6, 7, 890000, tzinfo=datetime.timezone.utc),
            datetime.timedelta(days=-3, seconds=5, microseconds=7),
            decimal.Decimal("-1.50"),
            [1, None, 3],
            ['a"b', "c\\d", None, "", "e,f{}"],
            wasmpg.Jsonb({"k": ["v\t", 1]}),
            u,
            True,
        ),
        (2, None, None, None, None, None, None, None, None, None, None, None),
        (3, "", b"", None, None, datetime.timedelta(0), 0, [], [], None, None, False),
        (4, "\\N", None, None, None, None, None, None, None, None, None, None),
    ]
    with aconn.cursor() as cur:
        with cur.copy("COPY %s FROM STDIN" % table) as copy:
            for r in rows:
                copy.write_row(r)
        assert cur.rowcount == 4
        cur.execute("SELECT * FROM %s ORDER BY id" % table)
        got = cur.fetchall()
    assert got[0][:6] == rows[0][:6]
    assert got[0][6] == decimal.Decimal("-1.50")
    assert got[0][7] == [1, None, 3]
    assert got[0][8] == ['a"b', "c\\d", None, "", "e,f{}"]
    assert got[0][9] == {"k": ["v\t", 1]}
    assert got[0][10:] == (u, True)
    assert got[1] == (2,) + (None,) * 11
    assert got[2][:3] == (3, "", b"") and got[2][5] == datetime.timedelta(0)
    assert got[2][7] == [] and got[2][8] == [] and got[2][11] is False
    assert got[3][1] == "\\N"  # the two characters, not NULL
    # And the server's own view of the nasty text, byte for byte.
    assert (
        _scalar(aconn, "SELECT md5(t) FROM %s WHERE id = 1" % table)
        == hashlib.md5(nasty.encode()).hexdigest()
    )


def test_csv_in_with_header(aconn, table):
    _make(aconn, table)
    with aconn.cursor() as cur:
        with cur.copy("COPY %s FROM STDIN (FORMAT csv, HEADER true)" % table) as copy:
            copy.write("id,v\n")
            copy.write('1,"a,b"\n2,\n3,"say ""hi""\nthere"\n')
        assert cur.rowcount == 3
        cur.execute("SELECT id, v FROM %s ORDER BY id" % table)
        assert cur.fetchall() == [(1, "a,b"), (2, None), (3, 'say "hi"\nthere')]


def test_bad_row_midway_raises_the_server_error_and_stops(aconn, table):
    """The server rejects row 50000 while data is still being written: the error (22P02) is
    raised from write() long before the data ends (the pre-send read sees it), nothing is
    inserted, and the connection is usable."""
    _make(aconn, table)
    cur = aconn.cursor()
    written = 0
    with pytest.raises(wasmpg.DataError) as info:
        with cur.copy("COPY %s FROM STDIN" % table) as copy:
            for i in range(1, 2000001):
                copy.write_row(("oops" if i == 50000 else i, "v"))
                written = i
    assert info.value.diag.sqlstate == "22P02"
    assert "oops" in str(info.value)
    assert written < 1000000, "the error came only at the end (%d rows written)" % written
    assert aconn.transaction_status == "idle"
    assert _scalar(aconn, "SELECT count(*) FROM %s" % table) == 0
    _usable(aconn)


def test_bad_row_in_transaction_then_rollback(conn, table):
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE %s (id int)" % table)
        conn.commit()
        with pytest.raises(wasmpg.DataError) as info:
            with cur.copy("COPY %s FROM STDIN" % table) as copy:
                copy.write("1\n2\nnot-a-number\n")
        assert info.value.diag.sqlstate == "22P02"
        assert conn.transaction_status == "failed"
        conn.rollback()
        _usable(conn)


def test_exception_inside_the_block_aborts_and_is_reraised(aconn, table):
    _make(aconn, table)

    class Boom(Exception):
        pass

    cur = aconn.cursor()
    with pytest.raises(Boom, match="stop here"):
        with cur.copy("COPY %s FROM STDIN" % table) as copy:
            for i in range(200000):  # several buffers already sent
                copy.write_row((i, "x"))
            raise Boom("stop here")
    assert _scalar(aconn, "SELECT count(*) FROM %s" % table) == 0
    assert aconn.transaction_status == "idle"
    _usable(aconn)
    # The same cursor works for another COPY.
    with cur.copy("COPY %s FROM STDIN" % table) as copy:
        copy.write_row((1, "ok"))
    assert cur.rowcount == 1


def test_terminated_backend_during_copy_in(cluster, table):
    conn = wasmpg.connect(cluster.dsn(), autocommit=True)
    other = wasmpg.connect(cluster.dsn(), autocommit=True)
    try:
        _make(conn, table)
        pid = conn.backend_pid
        with pytest.raises(wasmpg.OperationalError):
            with conn.cursor().copy("COPY %s FROM STDIN" % table) as copy:
                copy.write_row((1, "x"))
                copy._flush()
                assert _scalar(other, "SELECT pg_terminate_backend(%s)", (pid,)) is True
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    copy.write_row((2, "y" * 1000))
        assert conn.closed
        with pytest.raises(wasmpg.InterfaceError):
            conn.cursor().execute("SELECT 1")
        assert _scalar(other, "SELECT count(*) FROM %s" % table) == 0
    finally:
        conn.close()
        other.close()


def test_terminated_backend_during_copy_out(cluster):
    conn = wasmpg.connect(cluster.dsn(), autocommit=True)
    other = wasmpg.connect(cluster.dsn(), autocommit=True)
    try:
        pid = conn.backend_pid
        with pytest.raises(wasmpg.OperationalError):
            with conn.cursor().copy("COPY (SELECT %s) TO STDOUT" % HUGE) as copy:
                assert copy.read()
                _scalar(other, "SELECT pg_terminate_backend(%s)", (pid,))
                while copy.read():
                    pass
        assert conn.closed
    finally:
        conn.close()
        other.close()


# -- COPY TO STDOUT --


def test_million_rows_out_checksummed(aconn):
    q = "SELECT i, 'v' || (i * 3) AS v FROM generate_series(1, %d) i" % ROWS
    want_count, want_sum, want_md5 = (
        aconn.cursor()
        .execute("SELECT count(*), sum(i), md5(string_agg(v, '' ORDER BY i)) FROM (%s) s" % q)
        .fetchone()
    )
    cur = aconn.cursor()
    n = s = 0
    h = hashlib.md5()
    with cur.copy("COPY (%s) TO STDOUT" % q) as copy:
        assert (copy.direction, copy.binary, copy.columns) == ("out", False, 2)
        for i, v in copy.rows():
            n += 1
            s += int(i)
            h.update(v.encode())
    assert (n, s, h.hexdigest()) == (want_count, want_sum, want_md5)
    assert cur.rowcount == ROWS
    assert cur.statusmessage == "COPY %d" % ROWS


def test_out_read_and_iteration_are_the_bytes(aconn):
    q = "COPY (SELECT i, E'a\\tb\\\\c\\nd' || i, NULL FROM generate_series(1, 3) i) TO STDOUT"
    with aconn.cursor().copy(q) as copy:
        data = b"".join(copy)
    assert data == b"".join(b"%d\ta\\tb\\\\c\\nd%d\t\\N\n" % (i, i) for i in (1, 2, 3))
    with aconn.cursor().copy(q) as copy:
        rows = []
        while True:
            row = copy.read_row()
            if row is None:
                break
            rows.append(row)
        assert copy.read_row() is None and copy.read() == b""
    assert rows == [(str(i), "a\tb\\c\nd%d" % i, None) for i in (1, 2, 3)]


def test_out_non_ascii_and_control_characters(aconn):
    text = "é ✓ \U0001f600 \x01\x1b\x1d\x1e\x1f"
    with aconn.cursor().copy("COPY (SELECT %s::text) TO STDOUT", (text,)) as copy:
        assert list(copy.rows()) == [(text,)]
    with aconn.cursor().copy("COPY (SELECT %s::text) TO STDOUT", (text,)) as copy:
        assert copy.read() == text.encode() + b"\n"


def test_csv_out_with_header(aconn):
    with aconn.cursor().copy(
        "COPY (SELECT i AS n, CASE WHEN i = 2 THEN NULL ELSE 'a,\"' || i END AS s "
        "FROM generate_series(1, 3) i) TO STDOUT (FORMAT csv, HEADER)"
    ) as copy:
        data = b"".join(copy).decode()
    assert data == 'n,s\n1,"a,""1"\n2,\n3,"a,""3"\n'


def test_binary_round_trip(aconn, table):
    """A binary COPY out, written back in with write(): the table's contents (checksummed by
    the server) are identical, and the bytes include every special byte."""
    _make(aconn, table, "id int8, b bytea, t text")
    aconn.cursor().execute(
        "INSERT INTO %s SELECT i, decode(lpad(to_hex(i %% 256), 2, '0'), 'hex') || '\\x001d1b1e1f'"
        "::bytea, 'é' || i FROM generate_series(1, 100000) i" % table
    )
    copy_table = table + "_2"
    _make(aconn, copy_table, "id int8, b bytea, t text")
    try:
        chunks = []
        with aconn.cursor().copy("COPY %s TO STDOUT (FORMAT binary)" % table) as copy:
            assert copy.binary and copy.columns == 3
            with pytest.raises(wasmpg.NotSupportedError):
                copy.read_row()
            for data in copy:
                assert isinstance(data, bytes)
                chunks.append(data)
        blob = b"".join(chunks)
        assert blob.startswith(b"PGCOPY\n\xff\r\n\x00")
        for b in b"\x00\x1b\x1d\x1e\x1f":
            assert bytes([b]) in blob
        cur = aconn.cursor()
        with cur.copy("COPY %s FROM STDIN (FORMAT binary)" % copy_table) as copy:
            assert copy.binary
            with pytest.raises(wasmpg.NotSupportedError, match="write"):
                copy.write_row((1, b"", ""))
            for i in range(0, len(blob), 10000):
                copy.write(blob[i : i + 10000])
        assert cur.rowcount == 100000
        agg = "SELECT count(*), md5(string_agg(id || b::text || t, ',' ORDER BY id)) FROM %s"
        assert _scalar(aconn, agg.replace("count(*), ", "") % copy_table) == _scalar(
            aconn, agg.replace("count(*), ", "") % table
        )
    finally:
        aconn.cursor().execute("DROP TABLE %s" % copy_table)


def test_error_during_copy_out(aconn):
    cur = aconn.cursor()
    got = 0
    with pytest.raises(wasmpg.DataError) as info:
        with cur.copy(
            "COPY (SELECT 1 / (300000 - i) FROM generate_series(1, 400000) i) TO STDOUT"
        ) as copy:
            for _row in copy.rows():
                got += 1
    assert info.value.diag.sqlstate == "22012"
    assert 0 < got < 300000
    _usable(aconn)


def test_leaving_copy_out_early_discards_the_rest(aconn):
    cur = aconn.cursor()
    with cur.copy("COPY (SELECT i FROM generate_series(1, 500000) i) TO STDOUT") as copy:
        assert copy.read_row() == ("1",)
    assert cur.rowcount == 500000
    _usable(aconn)


def test_exception_inside_copy_out_cancels_it(aconn):
    """The server would send ~10 GB: an exception inside the block cancels the COPY (no need
    to read the rest), is re-raised, and the connection is usable."""

    class Enough(Exception):
        pass

    start = time.monotonic()
    with pytest.raises(Enough):
        with aconn.cursor().copy("COPY (SELECT %s) TO STDOUT" % HUGE) as copy:
            assert copy.read_row()[0] == "1"
            raise Enough()
    assert time.monotonic() - start < 5
    assert aconn.transaction_status == "idle"
    _usable(aconn)


def _rss_mb():
    """The process's current resident set (Linux), in MB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _stream_copy_out(conn, rows, sample=None):
    n = size = 0
    with conn.cursor().copy(
        "COPY (SELECT i, repeat('x', 200) FROM generate_series(1, %d) i) TO STDOUT" % rows
    ) as copy:
        for k, data in enumerate(copy):
            size += len(data)
            n += data.count(b"\n")
            if sample is not None and k % 50 == 0:
                sample()
    return n, size


@pytest.mark.skipif(sys.implementation.name != "cpython", reason="tracemalloc is CPython's")
def test_copy_out_memory_is_bounded_tracemalloc(aconn):
    """~210 MB of output; the traced peak stays a small fraction of it."""
    import tracemalloc

    rows = 1000000
    gc.collect()
    tracemalloc.start()
    try:
        n, size = _stream_copy_out(aconn, rows)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert n == rows
    assert size > 190 * 2**20
    print("tracemalloc peak streaming %.0f MB of COPY data: %.1f MB" % (size / 2**20, peak / 2**20))
    assert peak < 16 * 2**20, "peak %.1f MB" % (peak / 2**20)


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc (Linux)")
def test_copy_out_memory_is_bounded_rss(aconn):
    """On every interpreter (PyPy's memory check): the resident set, sampled while ~400 MB of
    COPY data streams, grows by far less than the output (which is twice what the other tests
    may have left in the allocator's free lists)."""
    _stream_copy_out(aconn, 200000)  # warm up (JIT, buffers)
    gc.collect()
    before = _rss_mb()
    peak = [before]
    n, size = _stream_copy_out(aconn, 2000000, lambda: peak.append(_rss_mb()))
    assert n == 2000000 and size > 380 * 2**20
    growth = max(peak) - before
    print("RSS growth while streaming %.0f MB of COPY data: %.1f MB" % (size / 2**20, growth))
    assert growth < 100, "RSS grew by %.1f MB" % growth


# -- execute() of COPY, misuse, parameters --


def test_execute_of_copy_raises_not_supported(aconn, table):
    _make(aconn, table)
    cur = aconn.cursor()
    with pytest.raises(wasmpg.NotSupportedError, match="copy"):
        cur.execute("COPY %s FROM STDIN" % table)
    _usable(aconn)
    assert aconn.transaction_status == "idle"
    with pytest.raises(wasmpg.NotSupportedError):
        cur.execute("COPY (SELECT i FROM generate_series(1, 100000) i) TO STDOUT")
    _usable(aconn)
    with pytest.raises(wasmpg.NotSupportedError):
        cur.executemany("COPY %s FROM STDIN" % table, [()])
    _usable(aconn)
    with pytest.raises(wasmpg.NotSupportedError):
        list(aconn.cursor().stream("COPY %s FROM STDIN" % table))
    _usable(aconn)
    assert _scalar(aconn, "SELECT count(*) FROM %s" % table) == 0


def test_execute_of_copy_in_a_transaction(conn, table):
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE %s (id int)" % table)
        with pytest.raises(wasmpg.NotSupportedError):
            cur.execute("COPY (SELECT 1) TO STDOUT")
        assert conn.transaction_status == "in-transaction"  # TO STDOUT succeeded server-side
        _usable(conn)
        conn.commit()


def test_copy_of_a_non_copy_statement(aconn):
    with pytest.raises(wasmpg.ProgrammingError, match="COPY"):
        aconn.cursor().copy("SELECT 1")
    _usable(aconn)
    with pytest.raises(wasmpg.ProgrammingError) as info:
        aconn.cursor().copy("COPY no_such_table_here FROM STDIN")
    assert info.value.diag.sqlstate == "42P01"
    _usable(aconn)


def test_wrong_direction_and_after_finish(aconn, table):
    _make(aconn, table)
    with aconn.cursor().copy("COPY %s FROM STDIN" % table) as copy:
        with pytest.raises(wasmpg.ProgrammingError):
            copy.read()
        with pytest.raises(TypeError):
            copy.write(123)
    with pytest.raises(wasmpg.ProgrammingError):
        copy.write(b"1\tx\n")
    with aconn.cursor().copy("COPY %s TO STDOUT" % table) as copy:
        with pytest.raises(wasmpg.ProgrammingError):
            copy.write(b"x")


def test_another_statement_during_copy_in_aborts_it(aconn, table):
    _make(aconn, table)
    with pytest.raises(wasmpg.ProgrammingError, match="abandoned"):
        with aconn.cursor().copy("COPY %s FROM STDIN" % table) as copy:
            copy.write_row((1, "x"))
            copy._flush()
            _usable(aconn)  # aborts the COPY
            copy.write_row((2, "y"))
            copy._flush()
    assert _scalar(aconn, "SELECT count(*) FROM %s" % table) == 0


def test_copy_with_parameters(aconn):
    with aconn.cursor().copy(
        "COPY (SELECT i, %s, %s FROM generate_series(1, %s) i WHERE i <> %s) TO STDOUT",
        ("it's \\ 50%", b"\x00\xff", 4, 2),
    ) as copy:
        rows = list(copy.rows())
    assert rows == [(str(i), "it's \\ 50%", "\\x00ff") for i in (1, 3, 4)]
    with aconn.cursor().copy(
        "COPY (SELECT %(a)s::int + %(a)s, %(b)s) TO STDOUT", {"a": 20, "b": None}
    ) as copy:
        assert list(copy.rows()) == [("40", None)]


def test_notices_and_tx_during_copy_in(conn, table):
    """A trigger raising notices for each row while the data streams in (non-autocommit)."""
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE %s (id int)" % table)
        cur.execute(
            "CREATE FUNCTION %s_f() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN IF NEW.id %% 1000 = 0 THEN RAISE NOTICE 'row %%', NEW.id; END IF; "
            "RETURN NEW; END $$" % table
        )
        cur.execute(
            "CREATE TRIGGER tr BEFORE INSERT ON %s FOR EACH ROW EXECUTE FUNCTION %s_f()"
            % (table, table)
        )
        with cur.copy("COPY %s FROM STDIN" % table) as copy:
            for i in range(1, 20001):
                copy.write_row((i,))
        assert cur.rowcount == 20000
        assert any("row 20000" in n for n in conn.notices)
        conn.commit()
        assert _scalar(conn, "SELECT count(*) FROM %s" % table) == 20000
        cur.execute("DROP TABLE %s; DROP FUNCTION %s_f()" % (table, table))
        conn.commit()


def test_format_helpers():
    assert _copy.format_row([1, None, "a\tb\nc\\d\re", b"\x01"]) == (
        "1\t\\N\ta\\tb\\nc\\\\d\\re\t\\\\x01\n"
    )
    assert _copy.parse_row("1\t\\N\ta\\tb\\nc\\\\d\\re\t\\\\x01") == (
        "1",
        None,
        "a\tb\nc\\d\re",
        "\\x01",
    )
    assert _copy.parse_row("\\101\\x41\\v") == ("AA\v",)
    interval = _copy.text_of(datetime.timedelta(days=-1, microseconds=5))
    assert interval == "0 mons -1 days 0.000005 secs"
    assert _copy.text_of([[1, None], [None, 2]]) == '{{"1",NULL},{NULL,"2"}}'


def test_small_copy_out_read_after_another_statement(aconn):
    """A COPY TO STDOUT complete at once keeps its data: another statement may run before
    it is read."""
    cur = aconn.cursor()
    copy = cur.copy("COPY (SELECT 'a' UNION ALL SELECT 'b') TO STDOUT")
    _usable(aconn)
    with copy:
        assert list(copy.rows()) == [("a",), ("b",)]
    assert cur.rowcount == 2
