"""Streaming (named) cursors: bounded memory over a huge result; draining when another
statement needs the connection."""

import gc
import resource
import sys
import time

import pytest

import wasmpg

ROWS = 1000000
QUERY = "SELECT i, repeat('x', 50) || i FROM generate_series(1, %d) i" % ROWS


def _rss_mb():
    # ru_maxrss: kilobytes on Linux, the process's high-water mark
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _stream_all(cur):
    n = total = 0
    while True:
        rows = cur.fetchmany(1000)
        if not rows:
            return n, total
        n += len(rows)
        total += rows[-1][0]


@pytest.mark.skipif(sys.implementation.name != "cpython", reason="tracemalloc is CPython's")
def test_million_rows_bounded_memory_tracemalloc(aconn):
    """The full result as Python objects would take ~200 MB; streaming stays far below."""
    import tracemalloc

    cur = aconn.cursor("big")
    gc.collect()
    tracemalloc.start()
    try:
        cur.execute(QUERY)
        n, _ = _stream_all(cur)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert n == ROWS
    assert cur.rowcount == ROWS
    print("tracemalloc peak while streaming %d rows: %.1f MB" % (ROWS, peak / 2**20))
    assert peak < 50 * 1024 * 1024, "peak %.1f MB" % (peak / 2**20)
    # The connection is free again.
    cur2 = aconn.cursor()
    cur2.execute("SELECT 1")
    assert cur2.fetchone() == (1,)


def test_million_rows_bounded_memory_rss(aconn):
    """The process's peak RSS grows by far less than the result's size (on every
    interpreter; on PyPy this is the memory check, tracemalloc being CPython's)."""
    cur = aconn.cursor("big")
    # Warm up (JIT, buffers), then measure the high-water mark's growth.
    cur.execute("SELECT i, repeat('x', 50) || i FROM generate_series(1, 100000) i")
    _stream_all(cur)
    gc.collect()
    before = _rss_mb()
    start = time.monotonic()
    cur.execute(QUERY)
    n, total = _stream_all(cur)
    elapsed = time.monotonic() - start
    grown = _rss_mb() - before
    print("peak RSS growth while streaming %d rows: %.1f MB (%.1f s)" % (ROWS, grown, elapsed))
    assert n == ROWS
    assert total == sum(range(1000, ROWS + 1, 1000))
    assert grown < 120, "peak RSS grew by %.0f MB in %.1f s" % (grown, elapsed)


def test_stream_reads_only_as_rows_are_used(aconn):
    cur = aconn.cursor("s")
    cur.execute(QUERY)
    assert cur.rowcount == -1  # not complete yet
    first = cur.fetchone()
    assert first[0] == 1
    # Far from everything has arrived: the socket is read only as rows are consumed.
    sink = cur._sink
    received = sum(len(r.batches) for r in sink.results)
    assert received < 50
    cur.close()  # discards the rest
    cur2 = aconn.cursor()
    cur2.execute("SELECT 2")
    assert cur2.fetchone() == (2,)


def test_another_statement_drains_the_stream(conn):
    s = conn.cursor("s")
    s.execute("SELECT i FROM generate_series(1, 200000) i")
    assert s.fetchmany(3) == [(1,), (2,), (3,)]
    other = conn.cursor()
    other.execute("SELECT 'other'")
    assert other.fetchone() == ("other",)
    with pytest.raises(wasmpg.ProgrammingError, match="discarded"):
        s.fetchall()
    # commit drains too
    s.execute("SELECT i FROM generate_series(1, 200000) i")
    assert s.fetchone() == (1,)
    conn.commit()
    with pytest.raises(wasmpg.ProgrammingError, match="discarded"):
        s.fetchone()
    # a new execute on the same cursor starts over
    s.execute("SELECT 5")
    assert s.fetchall() == [(5,)]
    assert s.rowcount == 1


def test_iteration_and_error_mid_stream(aconn):
    cur = aconn.cursor("it")
    cur.execute("SELECT i FROM generate_series(1, 50000) i")
    assert sum(r[0] for r in cur) == 50000 * 50001 // 2
    assert cur.rowcount == 50000
    cur.execute("SELECT 1 / (50000 - i) FROM generate_series(1, 60000) i")
    got = 0
    with pytest.raises(wasmpg.DataError):
        for _ in cur:
            got += 1
    assert got < 50000
    c2 = aconn.cursor()
    c2.execute("SELECT 3")
    assert c2.fetchone() == (3,)


def test_streaming_with_parameters_and_description(aconn):
    cur = aconn.cursor("p")
    cur.execute("SELECT i, i::text AS t FROM generate_series(1, %s) i", (10,))
    assert [c.name for c in cur.description] == ["i", "t"]
    assert cur.fetchall() == [(i, str(i)) for i in range(1, 11)]
    cur.execute("SELECT 1 WHERE false")
    assert cur.fetchall() == []
    assert cur.rowcount == 0
