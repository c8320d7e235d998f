#!/usr/bin/env python3
"""asyncio against asyncpg and psycopg 3, same cluster, same run: wasmpg's `AsyncConnection`
(the guest's session steps driven by `_aio.adrive` on a non-blocking socket) against asyncpg and
psycopg 3's `AsyncConnection` on CPython, and against psycopg 3's async API in pure-Python mode
(ctypes over the system libpq) on PyPy. Reference rows, same run: wasmpg's sync connection and
psycopg2 on CPython (the async overhead), psycopg2cffi on PyPy.

    async_bench.py --dsn "host=127.0.0.1 port=P user=postgres dbname=postgres sslmode=disable"
                   [--cpython PYTHON] [--pypy PYTHON] [--rounds 7] [--rt 2000] [--fetches 3]
                   [--json FILE]
    async_bench.py --worker KIND --dsn DSN     # one contender, one command per stdin line

Two workloads, autocommit:
  round trip: a bound ``select %s::int`` (``$1`` for asyncpg) with parameter i, then fetchone
    (asyncpg: ``fetchrow``); each call timed, the round's figure is the median µs of --rt calls;
  100,000-row fetch: ``select i, i*2, 'row ' || i, now() from generate_series(1, 100000) i``
    with fetchall into tuples (asyncpg: ``fetch``, its Records); the round's figure is the
    median ms of --fetches fetches.
Each contender runs in a fresh process (its interpreter's bench venv: --cpython, --pypy), warms
up (more rounds on PyPy, whose JIT needs them), then the rounds are interleaved: round r runs
every contender once, the order rotated by r. Figures are medians over the rounds; ratios are
between contenders of this run. Every result is checked (values, row count, checksums).
Targets (issue 12): the CPython wasmpg async round trip <= 1.5x asyncpg's; on PyPy wasmpg async
faster than psycopg 3 async (ratio < 1.0). Pinning: run it under ``taskset -c CPU`` (bench/run
does, the server on the same CPU); the workers inherit the affinity and report it.
"""

import argparse
import gc
import json
import math
import os
import platform
import select
import statistics
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROUND_TRIP = "select %s::int"
FETCH = "select i, i*2, 'row ' || i, now() from generate_series(1, 100000) i"
FETCH_ROWS = 100_000

# (label, interpreter, kind); the interpreter is "cpython" or "pypy" (its venv's python).
CONTENDERS = [
    ("wasmpg async", "cpython", "wasmpg-async"),
    ("asyncpg", "cpython", "asyncpg"),
    ("psycopg 3 async", "cpython", "psycopg-async"),
    ("wasmpg sync (ref.)", "cpython", "wasmpg-sync"),
    ("psycopg2 sync (ref.)", "cpython", "psycopg2-sync"),
    ("wasmpg async", "pypy", "wasmpg-async"),
    ("psycopg 3 async", "pypy", "psycopg-async"),
    ("psycopg2cffi sync (ref.)", "pypy", "psycopg2cffi-sync"),
]
INTERPRETERS = {"cpython": "CPython", "pypy": "PyPy"}


class VerificationError(Exception):
    pass


# --------------------------------------------------------------------------------------------
# The worker: one contender in its own process


def parse_conninfo(dsn):
    """key=value conninfo (values without spaces or quotes, as bench/run writes them)."""
    return dict(part.partition("=")[::2] for part in dsn.split())


def check_rows(rows):
    """The 100,000-row result: count, every value, the timestamp's type."""
    if len(rows) != FETCH_ROWS:
        raise VerificationError(f"fetched {len(rows)} rows, not {FETCH_ROWS}")
    total = 0
    for row in rows:
        i, j, text = row[0], row[1], row[2]
        if j != 2 * i or text != f"row {i}":
            raise VerificationError(f"wrong row {tuple(row)!r}")
        total += i
    if total != FETCH_ROWS * (FETCH_ROWS + 1) // 2:
        raise VerificationError(f"wrong checksum of the first column: {total}")
    stamp = rows[-1][3]
    if getattr(stamp, "tzinfo", None) is None:
        raise VerificationError(f"now() came back as {stamp!r}, not an aware datetime")


class SyncContender:
    """psycopg2, psycopg2cffi or wasmpg's sync connection: PEP 249."""

    def __init__(self, kind, dsn):
        if kind in ("psycopg2-sync", "psycopg2cffi-sync"):
            import importlib

            module = importlib.import_module(kind[: -len("-sync")])
            self.conn = module.connect(dsn)
            self.conn.autocommit = True
            self.description = f"{module.__name__} {module.__version__.split()[0]}"
        else:
            import wasmpg

            self.conn = wasmpg.connect(dsn, autocommit=True)
            self.description = f"wasmpg {getattr(wasmpg, '__version__', '?')}, sync Connection"
        self.cur = self.conn.cursor()

    def round_trips(self, start, n):
        cur = self.cur
        clock = time.perf_counter
        times = []
        for i in range(start, start + n):
            t = clock()
            cur.execute(ROUND_TRIP, (i,))
            row = cur.fetchone()
            times.append(clock() - t)
            if row[0] != i:
                raise VerificationError(f"select {i}::int gave {row!r}")
        return times

    def fetch(self):
        t = time.perf_counter()
        self.cur.execute(FETCH)
        rows = self.cur.fetchall()
        elapsed = time.perf_counter() - t
        return elapsed, rows

    def close(self):
        self.conn.close()


class AsyncContender:
    """wasmpg's AsyncConnection, psycopg 3's AsyncConnection or asyncpg, on one event loop
    that lives as long as the worker; only the awaited calls are timed."""

    def __init__(self, kind, dsn):
        import asyncio

        self.kind = kind
        self.dsn = dsn
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._connect())

    async def _connect(self):
        if self.kind == "wasmpg-async":
            import wasmpg

            self.conn = await wasmpg.AsyncConnection.connect(self.dsn, autocommit=True)
            self.cur = self.conn.cursor()
            self.description = f"wasmpg {getattr(wasmpg, '__version__', '?')}, AsyncConnection"
        elif self.kind == "psycopg-async":
            import psycopg

            self.conn = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True)
            self.cur = self.conn.cursor()
            self.description = (
                f"psycopg {psycopg.__version__}, AsyncConnection (implementation: "
                f"{psycopg.pq.__impl__}, libpq {psycopg.pq.version()})"
            )
        else:
            import asyncpg

            kv = parse_conninfo(self.dsn)
            self.conn = await asyncpg.connect(
                host=kv.get("host", "127.0.0.1"),
                port=int(kv.get("port", "5432")),
                user=kv.get("user", "postgres"),
                database=kv.get("dbname", "postgres"),
                password=kv.get("password"),
                ssl=False,
            )
            self.description = "asyncpg " + asyncpg.__version__

    def round_trips(self, start, n):
        if self.kind == "asyncpg":
            return self.loop.run_until_complete(self._asyncpg_round_trips(start, n))
        return self.loop.run_until_complete(self._round_trips(start, n))

    async def _round_trips(self, start, n):
        cur = self.cur
        clock = time.perf_counter
        times = []
        for i in range(start, start + n):
            t = clock()
            await cur.execute(ROUND_TRIP, (i,))
            row = await cur.fetchone()
            times.append(clock() - t)
            if row[0] != i:
                raise VerificationError(f"select {i}::int gave {row!r}")
        return times

    async def _asyncpg_round_trips(self, start, n):
        conn = self.conn
        clock = time.perf_counter
        times = []
        for i in range(start, start + n):
            t = clock()
            row = await conn.fetchrow("select $1::int", i)
            times.append(clock() - t)
            if row[0] != i:
                raise VerificationError(f"select {i}::int gave {row!r}")
        return times

    def fetch(self):
        return self.loop.run_until_complete(self._fetch())

    async def _fetch(self):
        t = time.perf_counter()
        if self.kind == "asyncpg":
            rows = await self.conn.fetch(FETCH)
        else:
            await self.cur.execute(FETCH)
            rows = await self.cur.fetchall()
        elapsed = time.perf_counter() - t
        return elapsed, rows

    def close(self):
        self.loop.run_until_complete(self.conn.close())
        self.loop.close()


def cpus_allowed():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Cpus_allowed_list:"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def one_round(contender, args, state):
    """--rt timed round trips, then --fetches timed fetches (each checked, outside the time)."""
    gc.collect()
    times = contender.round_trips(state["next"], args.rt)
    state["next"] += args.rt
    us = [x * 1e6 for x in times]
    fetch_ms = []
    for _ in range(args.fetches):
        gc.collect()
        elapsed, rows = contender.fetch()
        check_rows(rows)
        del rows
        fetch_ms.append(elapsed * 1000)
    return {
        "rt_us": statistics.median(us),
        "rt_us_mean": sum(us) / len(us),
        "fetch_ms": statistics.median(fetch_ms),
        "fetch_ms_all": fetch_ms,
    }


def worker(args, out):
    """One JSON command per stdin line, one JSON answer per line on `out`."""
    contender = None
    state = {"next": 1}
    for line in sys.stdin:
        cmd = json.loads(line)
        try:
            if cmd["cmd"] == "setup":
                make = SyncContender if args.worker.endswith("-sync") else AsyncContender
                contender = make(args.worker, args.dsn)
                info = {
                    "description": contender.description,
                    "python": platform.python_implementation() + " " + sys.version.split()[0],
                    "cpus_allowed": cpus_allowed(),
                }
                answer = {"ok": True, "info": info}
            elif cmd["cmd"] == "round":
                start = time.perf_counter()
                result = one_round(contender, args, state)
                answer = {"ok": True, "result": result, "seconds": time.perf_counter() - start}
            elif cmd["cmd"] == "quit":
                if contender is not None:
                    contender.close()
                out.write(json.dumps({"ok": True}) + "\n")
                out.flush()
                return 0
            else:
                answer = {"ok": False, "error": f"unknown command {cmd!r}"}
        except VerificationError as e:
            answer = {"ok": False, "error": f"VERIFICATION FAILED: {e}"}
        except Exception as e:  # noqa: BLE001 - reported to the orchestrator
            traceback.print_exc(file=sys.stderr)
            answer = {"ok": False, "error": f"{type(e).__name__}: {e}"}
            if "weak reference to 'weakref'" in str(e):
                # psycopg 3's ctypes libpq wrapper passes py_object(weakref.ref(conn)) to libpq;
                # PyPy's ctypes refuses a weakref there (pypy/pypy#3882), so no connection opens.
                answer["error"] += " (PyPy's ctypes refuses py_object(weakref): pypy/pypy#3882)"
        out.write(json.dumps(answer) + "\n")
        out.flush()
        if not answer["ok"]:
            return 1
    return 0


# --------------------------------------------------------------------------------------------
# The orchestrator


class Worker:
    def __init__(self, label, interpreter, kind, python, args):
        self.label = label
        self.interpreter = interpreter
        self.kind = kind
        self.name = f"{label} / {INTERPRETERS[interpreter]}"
        self.info = {}
        self.results = []
        self.error = None
        self.answer = None
        self.proc = None
        if not python:
            self.error = f"no {INTERPRETERS[interpreter]} interpreter given"
            return
        if not os.access(python, os.X_OK):
            self.error = f"{python} not found (make the bench venv: bench/run)"
            return
        cmd = [python, os.path.abspath(__file__), "--worker", kind, "--dsn", args.dsn]
        cmd += ["--rt", str(args.rt), "--fetches", str(args.fetches)]
        safe = "".join(c if c.isalnum() else "_" for c in self.name)
        self.log_path = os.path.join(args.log_dir, f"async-{safe}.log")
        with open(self.log_path, "w") as log:  # the worker's stderr
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                universal_newlines=True,
                bufsize=1,
            )

    def ask(self, cmd, timeout):
        """Sends a command; True with the answer in self.answer, or False (self.error says why,
        the worker is stopped)."""
        if self.error:
            return False
        try:
            self.proc.stdin.write(json.dumps(cmd) + "\n")
            self.proc.stdin.flush()
        except OSError as e:
            return self.fail(f"worker died ({e})")
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            return self.fail(f"no answer to {cmd['cmd']} within {timeout} s")
        line = self.proc.stdout.readline()
        if not line:
            return self.fail(f"worker exited (status {self.proc.wait()}): {self.tail()}")
        answer = json.loads(line)
        if not answer.get("ok"):
            return self.fail(answer.get("error", "failed"))
        self.answer = answer
        return True

    def tail(self):
        try:
            with open(self.log_path) as f:
                lines = [x.strip() for x in f if x.strip()]
        except OSError:
            return ""
        return lines[-1][:200] if lines else ""

    def fail(self, msg):
        self.error = msg
        self.stop()
        return False

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=20)
            except Exception:  # noqa: BLE001
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def series(self, key):
        return [r[key] for r in self.results]

    def median(self, key):
        xs = self.series(key)
        return statistics.median(xs) if xs else float("nan")


def cell(xs):
    if not xs:
        return "-"
    return f"{statistics.median(xs):.1f} [{min(xs):.1f}-{max(xs):.1f}]"


def ratio(a, b):
    if a is None or b is None or math.isnan(a) or math.isnan(b) or not b:
        return None
    return a / b


def rtext(r):
    return "-" if r is None else f"{r:.2f}x"


def verdict(r, limit, strict=False):
    if r is None:
        return "NOT MEASURED"
    ok = r < limit if strict else r <= limit
    return "MET   " if ok else "MISSED"


def log(msg):
    print(msg, file=sys.stderr)


def main_orchestrator(args):
    workers = []
    for label, interpreter, kind in CONTENDERS:
        python = args.cpython if interpreter == "cpython" else args.pypy
        workers.append(Worker(label, interpreter, kind, python, args))
    for w in workers:
        if w.ask({"cmd": "setup"}, 120):
            w.info = w.answer["info"]
            i = w.info
            log(f"{w.name:30} {i['description']} on {i['python']}, CPUs {i['cpus_allowed']}")
        else:
            log(f"{w.name:30} did not run: {w.error}")
    for w in workers:
        n = args.warmup_pypy if w.interpreter == "pypy" else args.warmup_cpython
        start = time.perf_counter()
        for _ in range(n):
            if not w.ask({"cmd": "round"}, 600):
                break
        if not w.error:
            log(f"{w.name:30} warmed up: {n} rounds, {time.perf_counter() - start:.1f} s")
    for r in range(args.rounds):
        live = [w for w in workers if not w.error]
        k = r % max(len(live), 1)
        for w in live[k:] + live[:k]:
            if w.ask({"cmd": "round"}, 600):
                w.results.append(w.answer["result"])
        log(f"round {r + 1}/{args.rounds} done")
    for w in workers:
        w.stop()
    return report(args, workers)


def report(args, workers):
    def find(label, interpreter):
        for w in workers:
            if w.label == label and w.interpreter == interpreter and not w.error and w.results:
                return w
        return None

    def pair(a, b, key):
        return ratio(a.median(key), b.median(key)) if a and b else None

    def least(a, b, key):  # the least disturbed rounds: minimum against minimum
        return ratio(min(a.series(key)), min(b.series(key))) if a and b else None

    ran = [w for w in workers if not w.error and w.results]
    base = find("asyncpg", "cpython")
    cpus = ", ".join(sorted({w.info.get("cpus_allowed", "?") for w in ran})) or "?"
    print(
        "== asyncio: bound round trip and 100,000-row fetch (same server, same run; median "
        f"[min-max] over {args.rounds} interleaved rounds; ratio against asyncpg on CPython) =="
    )
    print(
        f"Condition: each contender a fresh process; CPUs allowed to the workers: {cpus} "
        f"(pinned with the server when run under taskset); load average {loadavg()}"
    )
    print(
        f"Warm-up: {args.warmup_cpython} rounds on CPython, {args.warmup_pypy} on PyPy. A round: "
        f"{args.rt} round trips, each timed (the round's figure: their median; 'mean': total / "
        f"{args.rt}), then {args.fetches} fetches (their median)"
    )
    for w in workers:
        if w.error:
            print(f"  {w.name}: DID NOT RUN: {w.error}")
        else:
            print(f"  {w.name}: {w.info.get('description')} on {w.info.get('python')}")
    lw = max(len(w.name) for w in workers)
    head = ("contender", "round trip (µs)", "mean µs", "ratio", "100k-row fetch (ms)", "ratio")
    print(
        f"| {head[0]:{lw}} | {head[1]:>22} | {head[2]:>7} | {head[3]:>6} | {head[4]:>22} | ratio |"
    )
    print("|" + "|".join("-" * (n + 2) for n in (lw, 22, 7, 6, 22, 5)) + "|")
    for w in workers:
        if w.error or not w.results:
            print(f"| {w.name:{lw}} | {'did not run':>22} | {'':>7} | {'':>6} | {'':>22} |       |")
            continue
        rt = pair(w, base, "rt_us")
        fe = pair(w, base, "fetch_ms")
        print(
            f"| {w.name:{lw}} | {cell(w.series('rt_us')):>22} | {w.median('rt_us_mean'):7.1f} "
            f"| {rtext(rt):>6} | {cell(w.series('fetch_ms')):>22} | {rtext(fe):>5} |"
        )
    print(
        f"Round trip: {ROUND_TRIP!r} with parameter i, then fetchone (asyncpg: fetchrow("
        f"'select $1::int', i)). Fetch: {FETCH!r}, fetchall into tuples (asyncpg: fetch, "
        "its Records)."
    )

    cw = find("wasmpg async", "cpython")
    pw = find("wasmpg async", "pypy")
    pp = find("psycopg 3 async", "pypy")
    ratios = {
        "cpython_wasmpg_async_vs_asyncpg_rt": pair(cw, base, "rt_us"),
        "cpython_wasmpg_async_vs_asyncpg_fetch": pair(cw, base, "fetch_ms"),
        "pypy_wasmpg_async_vs_psycopg_async_rt": pair(pw, pp, "rt_us"),
        "pypy_wasmpg_async_vs_psycopg_async_fetch": pair(pw, pp, "fetch_ms"),
    }
    print()
    print("== Issue 12 targets ==")
    r = ratios["cpython_wasmpg_async_vs_asyncpg_rt"]
    print(
        f"  [{verdict(r, 1.5)}] CPython: wasmpg async / asyncpg, round trip: {rtext(r)} (<= 1.5x;"
        f" fastest round against fastest round: {rtext(least(cw, base, 'rt_us'))})"
    )
    r = ratios["cpython_wasmpg_async_vs_asyncpg_fetch"]
    print(f"  [no target] CPython: wasmpg async / asyncpg, 100k-row fetch: {rtext(r)}")
    why = "" if pp else " (psycopg 3 async on PyPy did not run)"
    for key, what in (("rt", "round trip"), ("fetch", "100k-row fetch")):
        r = ratios["pypy_wasmpg_async_vs_psycopg_async_" + key]
        print(
            f"  [{verdict(r, 1.0, strict=True)}] PyPy: wasmpg async / psycopg 3 async, {what}: "
            f"{rtext(r)} (< 1.0x){why}"
        )
    pc = find("psycopg2cffi sync (ref.)", "pypy")
    print(
        f"  [no target] PyPy: wasmpg async / psycopg2cffi sync (reference): round trip "
        f"{rtext(pair(pw, pc, 'rt_us'))}, 100k-row fetch {rtext(pair(pw, pc, 'fetch_ms'))}"
    )
    print("  async overhead on CPython (round trip, median; async minus sync):")
    for a, s in (
        ("wasmpg async", "wasmpg sync (ref.)"),
        ("psycopg 3 async", "psycopg2 sync (ref.)"),
    ):
        wa, ws = find(a, "cpython"), find(s, "cpython")
        if wa and ws:
            print(f"    {a} - {s}: {wa.median('rt_us') - ws.median('rt_us'):+.1f} µs")
    if args.json:
        doc = {
            "dsn": args.dsn,
            "rounds": args.rounds,
            "round_trips_per_round": args.rt,
            "fetches_per_round": args.fetches,
            "warmup": {"cpython": args.warmup_cpython, "pypy": args.warmup_pypy},
            "loadavg_end": loadavg(),
            "contenders": [
                {
                    "label": w.label,
                    "interpreter": INTERPRETERS[w.interpreter],
                    "kind": w.kind,
                    "info": w.info,
                    "error": w.error,
                    "results": w.results,
                }
                for w in workers
            ],
            "ratios": ratios,
        }
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=1)
    if any("VERIFICATION FAILED" in (w.error or "") for w in workers):
        print("\nA contender FAILED VERIFICATION: its numbers are not shown.")
        return 3
    return 0


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def main():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--dsn", required=True, help="libpq conninfo, key=value form")
    venv = os.path.join(HERE, ".venv-{}", "bin", "python")
    p.add_argument("--cpython", default=venv.format("cpython"), help="the CPython venv's python")
    p.add_argument("--pypy", default=venv.format("pypy"), help="the PyPy venv's python ('' skips)")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--rt", type=int, default=2000, help="round trips per round")
    p.add_argument("--fetches", type=int, default=3, help="100,000-row fetches per round")
    p.add_argument("--warmup-cpython", type=int, default=2)
    p.add_argument("--warmup-pypy", type=int, default=5)
    p.add_argument("--json")
    p.add_argument("--log-dir", default=os.path.join(HERE, "results"))
    p.add_argument("--worker", help="run one contender (driven by the orchestrator)")
    args = p.parse_args()
    if args.worker:
        # Answers go to the real stdout; anything the drivers print goes to stderr.
        out = os.fdopen(os.dup(1), "w")
        os.dup2(2, 1)
        sys.stdout = sys.stderr
        return worker(args, out)
    os.makedirs(args.log_dir, exist_ok=True)
    return main_orchestrator(args)


if __name__ == "__main__":
    sys.exit(main())
