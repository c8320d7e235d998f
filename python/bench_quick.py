#!/usr/bin/env python3
"""Quick benchmark: wasmpg on CPython and PyPy next to psycopg2 on CPython, same server, same
run, interleaved.

Measures, per contender:

* ``SELECT 1`` round trip (``execute`` + ``fetchone``, simple query protocol), and
  ``SELECT %s`` with a parameter (wasmpg: extended protocol, cached prepared statement;
  psycopg2: client-side interpolation);
* fetching 100,000 rows of (int, int, text, timestamptz) into tuples (``fetchall``), and
  wasmpg's ``cursor.stream()`` doing the same row by row.

Usage::

    python3 bench_quick.py --make-venvs            # fresh venvs in /tmp: wasmpg (+ psycopg2)
    python3 bench_quick.py --cpython PY --pypy PYPY [--pin] [--rounds 5]

``--pin`` pins the server and every client to CPU 0 (steadiest numbers on a busy 2-core
machine: see docs' measurements). The table prints medians over the rounds; each round runs
each contender in a fresh process, in turn. A throwaway cluster is started and removed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROWS_QUERY = "SELECT a, b, c, d FROM bench100k"


# ---------------------------------------------------------------------------------------------
# Worker: runs inside the interpreter under test.


def worker(driver: str, dsn: str, n_rt: int, n_fetch: int) -> None:
    if driver == "psycopg2":
        import psycopg2 as db

        conn = db.connect(dsn)
        conn.autocommit = True
        stream = None
    else:
        import wasmpg as db

        conn = db.connect(dsn, autocommit=True)
        stream = conn.cursor()
    cur = conn.cursor()
    out = {}

    def timed(fn, n):
        for _ in range(n):  # warm-up (PyPy's JIT, the statement cache)
            fn()
        t = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - t) / n

    def select1():
        cur.execute("SELECT 1")
        cur.fetchone()

    def select_param():
        cur.execute("SELECT %s", (42,))
        cur.fetchone()

    out["select1_us"] = timed(select1, n_rt) * 1e6
    out["select_param_us"] = timed(select_param, n_rt) * 1e6

    def fetch_all():
        cur.execute(ROWS_QUERY)
        rows = cur.fetchall()
        assert len(rows) == 100000

    def fetch_stream():
        n = 0
        for _row in stream.stream(ROWS_QUERY):
            n += 1
        assert n == 100000

    times = []
    for _ in range(3):  # warm-up (PyPy's JIT needs a few runs)
        fetch_all()
    for _ in range(n_fetch):
        t = time.perf_counter()
        fetch_all()
        times.append(time.perf_counter() - t)
    out["fetch100k_ms"] = statistics.median(times) * 1e3
    if stream is not None:
        times = []
        for _ in range(3):
            fetch_stream()
        for _ in range(n_fetch):
            t = time.perf_counter()
            fetch_stream()
            times.append(time.perf_counter() - t)
        out["stream100k_ms"] = statistics.median(times) * 1e3
    conn.close()
    print(json.dumps(out))


# ---------------------------------------------------------------------------------------------
# Driver: starts the server, runs the contenders in turn, prints the table.


def make_venvs() -> None:
    base = os.path.join(tempfile.gettempdir(), "wasmpg-bench")
    for name, py, extra in [("cpython", "python3", ["psycopg2-binary"]), ("pypy", "pypy3", [])]:
        venv = os.path.join(base, name)
        subprocess.check_call([py, "-m", "venv", "--clear", venv])
        subprocess.check_call(
            [os.path.join(venv, "bin", "python"), "-m", "pip", "install", "-q", HERE, *extra]
        )
        print("%s: %s" % (name, os.path.join(venv, "bin", "python")))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--worker")
    ap.add_argument("--dsn")
    ap.add_argument("--make-venvs", action="store_true")
    ap.add_argument(
        "--cpython",
        default=os.path.join(tempfile.gettempdir(), "wasmpg-bench", "cpython", "bin", "python"),
    )
    ap.add_argument(
        "--pypy",
        default=os.path.join(tempfile.gettempdir(), "wasmpg-bench", "pypy", "bin", "python"),
    )
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--n-rt", type=int, default=3000)
    ap.add_argument("--n-fetch", type=int, default=5)
    ap.add_argument("--pin", action="store_true", help="pin server and clients to CPU 0")
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.dsn, args.n_rt, args.n_fetch)
        return 0
    if args.make_venvs:
        make_venvs()
        return 0

    sys.path.insert(0, os.path.join(HERE, "tests"))
    import _pgcluster

    contenders = [
        ("wasmpg / CPython", args.cpython, "wasmpg"),
        ("wasmpg / PyPy", args.pypy, "wasmpg"),
        ("psycopg2 / CPython", args.cpython, "psycopg2"),
    ]
    for _, py, _ in contenders:
        if not os.path.exists(py):
            print("missing interpreter %s (run with --make-venvs first)" % py, file=sys.stderr)
            return 2
    cluster = _pgcluster.Cluster().start()
    try:
        cluster.psql(
            "CREATE TABLE bench100k AS SELECT i AS a, i * 2 AS b, 'row ' || i AS c, "
            "now() + i * interval '1 second' AS d FROM generate_series(1, 100000) i"
        )
        cluster.psql("VACUUM ANALYZE bench100k")
        prefix = []
        if args.pin:
            with open(os.path.join(cluster.data_dir, "postmaster.pid")) as f:
                os.sched_setaffinity(int(f.readline()), {0})  # backends inherit it
            prefix = ["taskset", "-c", "0"]
        results = {name: [] for name, _, _ in contenders}
        for r in range(args.rounds):
            for name, py, driver in contenders:
                out = subprocess.run(
                    [
                        *prefix,
                        py,
                        os.path.abspath(__file__),
                        "--worker",
                        driver,
                        "--dsn",
                        cluster.dsn(),
                        "--n-rt",
                        str(args.n_rt),
                        "--n-fetch",
                        str(args.n_fetch),
                    ],
                    capture_output=True,
                    text=True,
                    timeout=600,
                )
                if out.returncode != 0:
                    print("%s failed:\n%s" % (name, out.stderr), file=sys.stderr)
                    return 1
                results[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
            print("round %d/%d done" % (r + 1, args.rounds), file=sys.stderr)
    finally:
        cluster.stop()

    def med(name, key):
        vals = [x[key] for x in results[name] if key in x]
        return statistics.median(vals) if vals else None

    condition = (
        "server and clients pinned to CPU 0 (taskset)"
        if args.pin
        else "unpinned (scheduler's choice of CPUs)"
    )
    print(
        "\nwasmpg bench_quick: %d rounds, medians; %s; load average %s"
        % (args.rounds, condition, " ".join("%.2f" % x for x in os.getloadavg()))
    )
    header = (
        "contender",
        "SELECT 1 (us)",
        "SELECT %s (us)",
        "100k rows fetchall (ms)",
        "100k rows streamed (ms)",
    )
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
    for name, _, _ in contenders:
        cells = [name]
        for key, fmt in [
            ("select1_us", "%.0f"),
            ("select_param_us", "%.0f"),
            ("fetch100k_ms", "%.0f"),
            ("stream100k_ms", "%.0f"),
        ]:
            v = med(name, key)
            cells.append(fmt % v if v is not None else "-")
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
