"""Streaming (``cursor.stream()``): bounded memory over a huge result; draining when another
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


def _stream_all(cur, query):
    n = total = 0
    for row in cur.stream(query):
        n += 1
        if n % 1000 == 0:
            total += row[0]
    return n, total


@pytest.mark.skipif(sys.implementation.name != "cpython", reason="tracemalloc is CPython's")
def test_million_rows_bounded_memory_tracemalloc(aconn):
    """The full result as Python objects would take ~200 MB; streaming stays far below."""
    import tracemalloc

    cur = aconn.cursor()
    gc.collect()
    tracemalloc.start()
    try:
        n, _ = _stream_all(cur, QUERY)
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
    cur = aconn.cursor()
    # Warm up (JIT, buffers), then measure the high-water mark's growth.
    _stream_all(cur, "SELECT i, repeat('x', 50) || i FROM generate_series(1, 100000) i")
    gc.collect()
    before = _rss_mb()
    start = time.monotonic()
    n, total = _stream_all(cur, QUERY)
    elapsed = time.monotonic() - start
    grown = _rss_mb() - before
    print("peak RSS growth while streaming %d rows: %.1f MB (%.1f s)" % (ROWS, grown, elapsed))
    assert n == ROWS
    assert total == sum(range(1000, ROWS + 1, 1000))
    assert grown < 120, "peak RSS grew by %.0f MB in %.1f s" % (grown, elapsed)


def test_stream_reads_only_as_rows_are_used(aconn):
    cur = aconn.cursor()
    rows = cur.stream(QUERY)
    first = next(rows)
    assert first[0] == 1
    assert cur.rowcount == -1  # not complete yet
    # Far from everything has arrived: the socket is read only as rows are consumed.
    sink = cur._sink
    received = sum(len(r.batches) for r in sink.results)
    assert received < 50
    cur.close()  # discards the rest
    cur2 = aconn.cursor()
    cur2.execute("SELECT 2")
    assert cur2.fetchone() == (2,)


def test_another_statement_drains_the_stream(conn):
    s = conn.cursor()
    rows = s.stream("SELECT i FROM generate_series(1, 200000) i")
    assert [next(rows) for _ in range(3)] == [(1,), (2,), (3,)]
    other = conn.cursor()
    other.execute("SELECT 'other'")
    assert other.fetchone() == ("other",)
    with pytest.raises(wasmpg.ProgrammingError, match="discarded"):
        list(rows)
    # commit drains too
    rows = s.stream("SELECT i FROM generate_series(1, 200000) i")
    assert next(rows) == (1,)
    conn.commit()
    with pytest.raises(wasmpg.ProgrammingError, match="discarded"):
        list(rows)
    # a new execute on the same cursor starts over
    s.execute("SELECT 5")
    assert s.fetchall() == [(5,)]
    assert s.rowcount == 1


def test_iteration_and_error_mid_stream(aconn):
    cur = aconn.cursor()
    assert sum(r[0] for r in cur.stream("SELECT i FROM generate_series(1, 50000) i")) == (
        50000 * 50001 // 2
    )
    assert cur.rowcount == 50000
    got = 0
    with pytest.raises(wasmpg.DataError):
        for _ in cur.stream("SELECT 1 / (50000 - i) FROM generate_series(1, 60000) i"):
            got += 1
    assert got < 50000
    c2 = aconn.cursor()
    c2.execute("SELECT 3")
    assert c2.fetchone() == (3,)


def test_streaming_with_parameters_and_description(aconn):
    cur = aconn.cursor()
    rows = cur.stream("SELECT i, i::text AS t FROM generate_series(1, %s) i", (10,))
    assert next(rows) == (1, "1")
    assert [c.name for c in cur.description] == ["i", "t"]
    assert list(rows) == [(i, str(i)) for i in range(2, 11)]
    assert cur.rowcount == 10
    assert list(cur.stream("SELECT 1 WHERE false")) == []
    assert cur.rowcount == 0
    # Several statements: the rows of the first result set; the rest is read and dropped.
    rows = cur.stream("SELECT i FROM generate_series(1, 100000) i; SELECT 'second'")
    assert sum(1 for _ in rows) == 100000
    cur.execute("SELECT 'after'")
    assert cur.fetchall() == [("after",)]
