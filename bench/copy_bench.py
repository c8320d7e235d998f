#!/usr/bin/env python3
"""COPY against psycopg 3, same interpreter, same cluster: psycopg 3's ``cursor.copy()`` (libpq)
and wasmpg's (the guest frames and parses COPY), 1,000,000 rows in and out.

    copy_bench.py --dsn "host=... port=P user=postgres dbname=postgres" [--reps 5] [--json FILE]

Rows, each the median of --reps interleaved repetitions:
  COPY FROM STDIN, the data written in 64 KiB pieces with ``copy.write``;
  COPY FROM STDIN, 1,000,000 ``copy.write_row`` calls (values adapted by each driver);
  COPY TO STDOUT, every chunk read by iterating over the copy.
Every COPY is checked (rows in, bytes out). Target (issue 14): wasmpg <= 1.5x psycopg 3.
bench/run runs it in the CPython venv it made for the Python contenders.
"""

import argparse
import json
import statistics
import sys
import time

ROWS = 1_000_000
CREATE = (
    "DROP TABLE IF EXISTS bench_copy_py; "
    "CREATE UNLOGGED TABLE bench_copy_py (id int, name text, amount numeric)"
)


def data():
    lines = []
    for i in range(1, ROWS + 1):
        lines.append("%d\tcustomer %d of the benchmark set\t%d.%02d\n" % (i, i, i % 100000, i % 100))
    return "".join(lines).encode()


def drivers(dsn):
    import psycopg
    import wasmpg

    return {
        "psycopg 3": lambda: psycopg.connect(dsn, autocommit=True),
        "wasmpg": lambda: wasmpg.connect(dsn, autocommit=True),
    }


def count(conn):
    cur = conn.cursor()
    cur.execute("SELECT count(*) FROM bench_copy_py")
    return cur.fetchone()[0]


def copy_in(conn, payload):
    cur = conn.cursor()
    cur.execute(CREATE)
    t = time.perf_counter()
    with cur.copy("COPY bench_copy_py FROM STDIN") as copy:
        for at in range(0, len(payload), 65536):
            copy.write(payload[at : at + 65536])
    elapsed = time.perf_counter() - t
    if count(conn) != ROWS:
        raise SystemExit("VERIFICATION FAILED: COPY FROM STDIN")
    return elapsed


def copy_rows(conn, rows):
    cur = conn.cursor()
    cur.execute(CREATE)
    t = time.perf_counter()
    with cur.copy("COPY bench_copy_py FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    elapsed = time.perf_counter() - t
    if count(conn) != ROWS:
        raise SystemExit("VERIFICATION FAILED: write_row")
    return elapsed


def copy_out(conn, size):
    cur = conn.cursor()
    t = time.perf_counter()
    total = 0
    with cur.copy("COPY bench_copy_py TO STDOUT") as copy:
        for chunk in copy:
            total += len(chunk)
    elapsed = time.perf_counter() - t
    if total != size:
        raise SystemExit("VERIFICATION FAILED: COPY TO STDOUT gave %d bytes, %d went in" % (total, size))
    return elapsed


def cell(xs):
    return "%8.1f [%.1f-%.1f]" % (statistics.median(xs), min(xs), max(xs))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dsn", required=True)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--json")
    args = p.parse_args()
    payload = data()
    rows = [(i, "customer %d of the benchmark set" % i, i % 100000) for i in range(1, ROWS + 1)]
    conns = {name: make() for name, make in drivers(args.dsn).items()}
    times = {name: {"in": [], "rows": [], "out": []} for name in conns}
    for rep in range(args.reps + 1):
        for name, conn in conns.items():
            a = copy_in(conn, payload)
            b = copy_out(conn, len(payload))
            c = copy_rows(conn, rows)
            if rep:
                times[name]["in"].append(a * 1000)
                times[name]["out"].append(b * 1000)
                times[name]["rows"].append(c * 1000)
    base = times["psycopg 3"]
    print(
        "== COPY, Python %s: %d rows (%.1f MB), ms, median [min-max]; ratio to psycopg 3; target <= 1.5x =="
        % (sys.version.split()[0], ROWS, len(payload) / 1e6)
    )
    print("| %-34s | %22s | %22s | %7s |" % ("what", "psycopg 3", "wasmpg", "ratio"))
    print("|%s|%s|%s|%s|" % ("-" * 36, "-" * 24, "-" * 24, "-" * 9))
    labels = {
        "in": "COPY FROM STDIN, write(64 KiB)",
        "rows": "COPY FROM STDIN, write_row() each",
        "out": "COPY TO STDOUT, iterate",
    }
    for key, label in labels.items():
        w = times["wasmpg"][key]
        ratio = statistics.median(w) / statistics.median(base[key])
        print("| %-34s | %22s | %22s | %6.2fx |" % (label, cell(base[key]), cell(w), ratio))
    conns["wasmpg"].cursor().execute("DROP TABLE bench_copy_py")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": ROWS, "bytes": len(payload), "ms": times}, f, indent=1)


if __name__ == "__main__":
    main()
