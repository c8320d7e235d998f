#!/usr/bin/env python3
"""TLS against libpq, same interpreter, same cluster: psycopg2 (libpq with OpenSSL) and wasmpg's
Python package (TLS in the guest: rustls and ring), both verify-full against the cluster's CA.

    tls_bench.py --dsn "host=localhost port=P user=postgres dbname=postgres sslmode=verify-full
                        sslrootcert=CA" [--reps 7] [--json FILE]

Rows: connect time (30 connections each, interleaved), a 100,000-row fetch (int, 32-character
text; fetchall), each the median of --reps interleaved repetitions; the cipher each side
negotiated (pg_stat_ssl). Targets (the TLS issue): wasmpg connect <= 1.5x and fetch <= 1.3x
psycopg2's. Bench/run runs it in the CPython venv it made for the Python contenders.
"""

import argparse
import json
import statistics
import sys
import time

FETCH = "SELECT g, md5(g::text) FROM generate_series(1, 100000) g"


def connectors(dsn):
    import psycopg2
    import wasmpg

    ca = dict(p.split("=", 1) for p in dsn.split())["sslrootcert"]
    return {
        "psycopg2 (libpq)": lambda: psycopg2.connect(dsn),
        "wasmpg": lambda: wasmpg.connect(dsn, allow_files=[ca]),
    }


def cipher(conn):
    cur = conn.cursor()
    cur.execute("SELECT version, cipher FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
    version, name = cur.fetchone()
    return "%s %s" % (version, name)


def cell(xs):
    return "%8.2f [%.2f-%.2f]" % (statistics.median(xs), min(xs), max(xs))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dsn", required=True)
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--json")
    args = p.parse_args()
    if not args.dsn:
        print("tls_bench.py: no TLS conninfo (the cluster has no TLS)", file=sys.stderr)
        return 1
    makers = connectors(args.dsn)
    names = list(makers)
    connect_ms = {n: [] for n in names}
    for i in range(33):
        for n in names:
            t = time.perf_counter()
            makers[n]().close()
            if i >= 3:
                connect_ms[n].append((time.perf_counter() - t) * 1000)
    conns = {n: makers[n]() for n in names}
    ciphers = {n: cipher(c) for n, c in conns.items()}
    fetch_ms = {n: [] for n in names}
    for i in range(args.reps + 1):
        for n in names:
            cur = conns[n].cursor()
            t = time.perf_counter()
            cur.execute(FETCH)
            rows = cur.fetchall()
            ms = (time.perf_counter() - t) * 1000
            if len(rows) != 100000 or rows[-1][0] != 100000:
                print("VERIFICATION FAILED: %s fetched %d rows" % (n, len(rows)), file=sys.stderr)
                return 3
            if i >= 1:
                fetch_ms[n].append(ms)
    base, ours = names
    print("== TLS against libpq (CPython %s; verify-full; ms, median [min-max]) ==" % sys.version.split()[0])
    for n in names:
        print("  %-18s cipher: %s" % (n, ciphers[n]))
    print("| %-40s | %22s | %22s | %7s |" % ("what", base, ours, "ratio"))
    print("|%s|%s|%s|%s|" % ("-" * 42, "-" * 24, "-" * 24, "-" * 9))
    ratios = {}
    for label, key, data in (
        ("connect over TLS (30 each, interleaved)", "connect", connect_ms),
        ("100,000-row fetch over TLS (fetchall)", "fetch", fetch_ms),
    ):
        ratios[key] = statistics.median(data[ours]) / statistics.median(data[base])
        print("| %-40s | %22s | %22s | %6.2fx |" % (label, cell(data[base]), cell(data[ours]), ratios[key]))
    for key, limit in (("connect", 1.5), ("fetch", 1.3)):
        print(
            "  [%s] wasmpg / psycopg2 %s over TLS: %.2fx (target <= %sx)"
            % ("MET   " if ratios[key] <= limit else "MISSED", key, ratios[key], limit)
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"ciphers": ciphers, "connect_ms": connect_ms, "fetch_ms": fetch_ms, "ratios": ratios}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
