#!/usr/bin/env python3
"""Where the time of the Django bench's driver work goes, layer by layer, without a profiler:
the raw fetch of operation 6 (5,500 rows of the post table's seven columns, a timestamptz
among them) and the point SELECT of operations 3 and 4 (the SQL Django sends for
``Post.objects.get(pk=...)``), each through

  wasmpg          wasmpg's own cursor (``wasmpg.connect``): the guest calls, the steps decoded,
                  the rows converted (aware datetimes); timed within: the guest calls (crossing
                  included) and the decoding of their steps;
  compat          wasmpg.compat's psycopg2 cursor, ``tzinfo_factory`` left at psycopg2's
                  default (``datetime.timezone``);
  compat+django   the same with Django's ``tzinfo_factory`` (its connection's time zone, UTC),
                  as Django's backend sets it on every cursor;

or, with a venv holding psycopg2 or psycopg2cffi, those two last layers on that driver.

    rowpath.py --dsn DSN [--driver wasmpg|psycopg2|psycopg2cffi] [--reps 20] [--warmup 10]

It makes (and drops) its own table ``rowpath_post``; run it pinned with the server
(``taskset -c 0``) like the bench. Medians over --reps, after --warmup untimed repetitions
(PyPy's JIT needs them); every fetch is checked (row count, sum of a column).
"""

import argparse
import datetime as dt
import math
import statistics
import sys
import time

ROWS = 5500
FETCH = "SELECT id, author_id, title, body, created, score, published FROM rowpath_post"
POINT = (
    'SELECT "rowpath_post"."id", "rowpath_post"."author_id", "rowpath_post"."title", '
    '"rowpath_post"."body", "rowpath_post"."created", "rowpath_post"."score", '
    '"rowpath_post"."published" FROM "rowpath_post" WHERE "rowpath_post"."id" = %s LIMIT 21'
)
POINTS = 500
SETUP = [
    "DROP TABLE IF EXISTS rowpath_post",
    (
        "CREATE TABLE rowpath_post (id bigserial PRIMARY KEY, author_id bigint NOT NULL, "
        "title varchar(200) NOT NULL, body text NOT NULL, created timestamptz NOT NULL, "
        "score integer NOT NULL, published boolean NOT NULL)"
    ),
    (
        "INSERT INTO rowpath_post (author_id, title, body, created, score, published) "
        "SELECT (j * 7) % 1000 + 1, 'post number ' || j, repeat('The body of post ' || j || "
        "'. ', 6), timestamptz '2024-01-01 00:00+00' + j * interval '1 minute', j % 1000, "
        f"j % 3 = 0 FROM generate_series(1, {ROWS}) j"
    ),
]
SCORE_SUM = sum(j % 1000 for j in range(1, ROWS + 1))


class Timer:
    """Adds up the time spent in a function; ``wrapped`` replaces it (a plain function, so it
    binds as a method too)."""

    def __init__(self, fn):
        self.fn = fn
        self.seconds = 0.0
        clock = time.perf_counter

        def wrapped(*args, **kwargs):
            t = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds += clock() - t

        self.wrapped = wrapped


def check(rows):
    if len(rows) != ROWS or sum(r[5] for r in rows) != SCORE_SUM:
        raise SystemExit(f"VERIFICATION FAILED: {len(rows)} rows")
    if rows[0][4].tzinfo is None:
        raise SystemExit(f"VERIFICATION FAILED: a naive datetime {rows[0][4]!r}")


class Probe:
    """The counters read around a timed piece: wall clock, the client's CPU (process time),
    the server backend's CPU (/proc/PID/schedstat, when readable) and the timers'."""

    def __init__(self, conn, timers):
        cur = conn.cursor()
        cur.execute("SELECT pg_backend_pid()")
        self.path = f"/proc/{cur.fetchone()[0]}/schedstat"
        cur.close()
        self.timers = timers
        try:
            self.server()
        except (OSError, ValueError, IndexError):
            self.path = None

    def server(self):
        if self.path is None:
            return math.nan
        with open(self.path) as f:
            return int(f.read().split()[0]) / 1e9

    def snap(self):
        return [
            time.perf_counter(),
            time.process_time(),
            self.server(),
            *(t.seconds for t in self.timers),
        ]


METRICS = ["wall", "client CPU", "server CPU", "guest calls", "step decoding"]


def deltas(before, after, scale, per):
    d = [(b - a) * scale / per for a, b in zip(before, after)]
    if len(d) == 3:
        return [*d, math.nan, math.nan]
    wall, cpu, server, call, decode = d
    return [wall, cpu, server, call - decode, decode]  # Sandbox.call includes the decoding


def measure(cursor_of, probe, args, merged=False):
    """Medians of the fetch (ms) and of one point SELECT (µs, over POINTS), each as METRICS;
    a fresh cursor per repetition."""
    fetch, point = [], []
    for rep in range(args.warmup + args.reps):
        cur = cursor_of()
        before = probe.snap()
        cur.execute(FETCH)
        rows = cur.fetchall()
        after = probe.snap()
        check(rows)
        del rows
        before2 = probe.snap()
        for i in range(POINTS):
            if merged:
                cur.execute(POINT % (i * 11 + 1))
            else:
                cur.execute(POINT, (i * 11 + 1,))
            cur.fetchall()
        after2 = probe.snap()
        if rep >= args.warmup:
            fetch.append(deltas(before, after, 1e3, 1))
            point.append(deltas(before2, after2, 1e6, POINTS))
    return (
        [statistics.median(x[i] for x in fetch) for i in range(len(METRICS))],
        [statistics.median(x[i] for x in point) for i in range(len(METRICS))],
    )


def django_tzinfo_factory(offset):
    """Django 4.2's ``DatabaseWrapper.tzinfo_factory``: its connection's time zone."""
    return dt.timezone.utc


def main():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--dsn", required=True)
    p.add_argument("--driver", default="wasmpg", choices=["wasmpg", "psycopg2", "psycopg2cffi"])
    p.add_argument("--reps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=10)
    args = p.parse_args()

    results = []
    timers = ()
    if args.driver == "wasmpg":
        import wasmpg
        from wasmpg import _sandbox, compat

        compat.register()
        native = wasmpg.connect(args.dsn, autocommit=True)
        setup = native.cursor()
        for sql in SETUP:
            setup.execute(sql)
        # The guest calls: Sandbox.call, less the decoding of the step it returns. Both timers
        # stay in place for every layer (about a microsecond per call).
        decode, call = Timer(_sandbox.decode_step), Timer(_sandbox.Sandbox.call)
        _sandbox.decode_step, _sandbox.Sandbox.call = decode.wrapped, call.wrapped
        timers = (call, decode)
        probe = Probe(native, timers)
        results.append(("wasmpg cursor, bound parameter", *measure(native.cursor, probe, args)))
        results.append(
            (
                "wasmpg cursor, SQL merged client-side",
                *measure(native.cursor, probe, args, merged=True),
            )
        )
        native.close()
        import psycopg2
    else:
        if args.driver == "psycopg2cffi":
            from psycopg2cffi import compat

            compat.register()
        import psycopg2

        if "wasmpg" in (psycopg2.__file__ or ""):
            raise SystemExit("psycopg2 is wasmpg.compat's here: use --driver wasmpg")
        setup = psycopg2.connect(args.dsn)
        setup.autocommit = True
        for sql in SETUP:
            setup.cursor().execute(sql)
        setup.close()
    conn = psycopg2.connect(args.dsn)
    conn.autocommit = True
    probe = Probe(conn, timers)
    name = "compat" if args.driver == "wasmpg" else args.driver
    results.append((name + ", tzinfo_factory=timezone", *measure(conn.cursor, probe, args)))

    def django_cursor():
        cur = conn.cursor()
        cur.tzinfo_factory = django_tzinfo_factory
        return cur

    results.append((name + ", Django's tzinfo_factory", *measure(django_cursor, probe, args)))
    conn.cursor().execute("DROP TABLE rowpath_post")
    conn.close()

    where = f"{sys.implementation.name} {sys.version.split()[0]}"
    print(f"{args.driver}, {where}: {args.reps} reps after {args.warmup} warm-up reps (medians)")
    for what, unit, index in ((f"fetch of {ROWS} rows", "ms", 1), ("point SELECT", "µs", 2)):
        print(f"| {what} ({unit}) | " + " | ".join(METRICS) + " |")
        print("|---|" + "---:|" * len(METRICS))
        for result in results:
            cells = " | ".join("-" if math.isnan(x) else f"{x:.1f}" for x in result[index])
            print(f"| {result[0]} | {cells} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
