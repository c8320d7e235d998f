"""Load: many connections from threads through one Python process.

The Python shape of tests/tests/load.rs, smaller: 16 threads, each with its own connection,
20,000 queries in total, every result checked; no deadlock (a deadline on the whole run); the
process's RSS after warm-up and at the end is printed, and its growth is bounded.
"""

import threading
import time

import wasmpg

THREADS = 16
QUERIES_PER_THREAD = 1250
WARMUP_PER_THREAD = 100
DEADLINE_S = 240


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_threads_with_their_own_connections(cluster):
    barrier = threading.Barrier(THREADS + 1)
    failures = []
    done = [0] * THREADS

    def work(n: int) -> None:
        try:
            conn = wasmpg.connect(cluster.dsn(), autocommit=True)
            cur = conn.cursor()
            phases = (
                ("warm-up", WARMUP_PER_THREAD),
                ("measured", QUERIES_PER_THREAD - WARMUP_PER_THREAD),
            )
            for phase, count in phases:
                if phase == "measured":
                    barrier.wait(timeout=DEADLINE_S)
                for i in range(count):
                    v = n * 100000 + i
                    if i % 2:
                        cur.execute("SELECT %s::int8 * 2, %s::text", (v, str(v)))
                        assert cur.fetchone() == (v * 2, str(v))
                    else:
                        cur.execute("SELECT %s::int4 + 1", (v,))
                        assert cur.fetchone() == (v + 1,)
                    done[n] += 1
            conn.close()
        except BaseException as e:  # noqa: BLE001 - collected for the assertion below
            failures.append((n, e))
            barrier.abort()

    threads = [threading.Thread(target=work, args=(n,), daemon=True) for n in range(THREADS)]
    for t in threads:
        t.start()
    barrier.wait(timeout=DEADLINE_S)  # every thread connected and warmed up
    start_rss = rss_kib()
    start = time.monotonic()
    for t in threads:
        t.join(timeout=max(1.0, DEADLINE_S - (time.monotonic() - start)))
    elapsed = time.monotonic() - start
    end_rss = rss_kib()
    stalled = [n for n, t in enumerate(threads) if t.is_alive()]
    assert not stalled, f"threads {stalled} did not finish (deadlock?); progress {done}"
    assert not failures, failures
    total = sum(done)
    assert total == THREADS * QUERIES_PER_THREAD
    print(
        f"\nload: {THREADS} connections, {total} queries, measured {elapsed:.1f} s, "
        f"RSS after warm-up {start_rss} KiB, at the end {end_rss} KiB"
    )
    # Bounded growth after warm-up (connections are closed by then, so it should not grow).
    assert end_rss - start_rss < max(32 * 1024, start_rss // 5), (start_rss, end_rss)
