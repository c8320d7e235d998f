#!/usr/bin/env python3
"""Runs the Python contenders of bench/python_bench.py side by side and prints combined tables.

Each contender (an interpreter + a DB-API module) runs as a worker process
(`python_bench.py MODULE --worker`), pinned with taskset when asked. All workers connect to the
same server; each warms up (more on PyPy, whose JIT needs it), then the repetitions are
interleaved: repetition r runs every contender once, in an order rotated by r, so a change of
machine load hits every contender alike. Ratios are against a named baseline (psycopg2 on
CPython by default), all measured in this run. Standard library only; runs on python3 >= 3.7.

    compare.py --dsn DSN --contender "LABEL|PYTHON|MODULE" ... [--unavailable "LABEL|REASON"] ...
               [--rust-json FILE] [--pin CPU] [--reps 7] [--min-reps 5] [--budget 90]
"""

import argparse
import json
import os
import select
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
OPS = ["(1) bulk", "(2) ins.ret.", "(3) update", "(4) sel.pair", "(5) objects", "(6) fetchall"]
OP_LONG = [
    "(1) bulk insert, one INSERT of {n} rows",
    "(2) {n} x INSERT ... RETURNING id",
    "(3) {n} x UPDATE by id",
    "(4) {n} x (SELECT child, then its parent)",
    "(5) SELECT {n} rows into objects",
    "(6) fetchall {n} rows (raw rows)",
]


def median(xs):
    v = sorted(xs)
    n = len(v)
    if n == 0:
        return float("nan")
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def num(v):
    if v != v:
        return "-"
    if v >= 100:
        return "%.0f" % v
    if v >= 10:
        return "%.1f" % v
    return "%.2f" % v


def cell(xs):
    if not xs:
        return "-"
    return "%s [%s-%s]" % (num(median(xs)), num(min(xs)), num(max(xs)))


class Worker(object):
    def __init__(self, label, python, module, args, log_dir):
        self.label = label
        self.python = python
        self.module = module
        self.info = {}
        self.results = []
        self.error = None
        self.reps_wanted = args.reps
        self.note = ""
        cmd = [python, os.path.join(HERE, "python_bench.py"), module, "--dsn", args.dsn, "--worker",
               "--objects", str(args.objects), "--select1", str(args.select1)]
        if args.pin is not None:
            cmd = ["taskset", "-c", str(args.pin)] + cmd
        safe = "".join(c if c.isalnum() else "_" for c in label)
        self.log_path = os.path.join(log_dir, "%s.log" % safe)
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log, universal_newlines=True, bufsize=1)

    def ask(self, cmd, timeout):
        if self.error:
            return None
        try:
            self.proc.stdin.write(json.dumps(cmd) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as e:
            self.fail("worker died (%s)" % e)
            return None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            self.fail("no answer to %s within %d s" % (cmd["cmd"], timeout))
            return None
        line = self.proc.stdout.readline()
        if not line:
            self.fail("worker exited (status %s)" % self.proc.wait())
            return None
        answer = json.loads(line)
        if not answer.get("ok"):
            self.fail(answer.get("error", "failed"))
            return None
        return answer

    def fail(self, msg):
        self.error = msg
        self.stop()

    def log_tail(self, n=6):
        try:
            with open(self.log_path) as f:
                lines = [l.rstrip() for l in f if l.strip()]
            return lines[-n:]
        except OSError:
            return []

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=10)
            except Exception:  # noqa: BLE001
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    @property
    def is_pypy(self):
        return self.info.get("python", "").startswith("PyPy")

    def series(self, key, cpu=False):
        six = "six_cpu" if cpu else "six"
        if key == "total":
            return [sum(r[six]) for r in self.results if six in r]
        if isinstance(key, int):
            return [r[six][key] for r in self.results if six in r]
        k = key + "_cpu" if cpu else key
        return [r[k] for r in self.results if k in r]


def load_rust(path):
    """Reference rows from the Rust bench's JSON, same server, earlier in the same run."""
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError):
        return []
    rows = []
    for who in (doc.get("baseline"), doc.get("contender")):
        six = doc["six_ops"]
        ops = doc["ops"]
        n = len(six.get("total", {}).get(who, []))
        results = []
        six_cpu = doc.get("six_ops_cpu")
        micro_cpu = doc.get("micro_cpu")
        for i in range(n):
            r = {
                "six": [six[op][who][i] for op in ops],
                "select1_us": doc["micro"]["select1"][who][i],
                "fetch_ms": doc["micro"]["fetch"][who][i],
                "insert_many_ms": doc["micro"]["insert_many"][who][i],
            }
            if six_cpu and micro_cpu:
                r["six_cpu"] = [six_cpu[op][who][i] for op in ops]
                r["select1_us_cpu"] = micro_cpu["select1"][who][i]
                r["fetch_ms_cpu"] = micro_cpu["fetch"][who][i]
                r["insert_many_ms_cpu"] = micro_cpu["insert_many"][who][i]
            results.append(r)
        w = Worker.__new__(Worker)
        w.label = "Rust: %s" % who
        w.results = results
        w.info = {"python": "-", "description": "Rust, %s (prepared statements)" % who}
        w.error = None
        w.note = ""
        rows.append(w)
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dsn", required=True)
    p.add_argument("--contender", action="append", default=[], help="LABEL|PYTHON|MODULE")
    p.add_argument("--unavailable", action="append", default=[], help="LABEL|REASON (reported)")
    p.add_argument("--baseline", default="psycopg2 / CPython")
    p.add_argument("--rust-json")
    p.add_argument("--pin", type=int, default=None, help="CPU to pin every worker to (taskset)")
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--min-reps", type=int, default=5)
    p.add_argument("--budget", type=float, default=90.0,
                   help="seconds of measured repetitions per contender; slower ones get --min-reps")
    p.add_argument("--warmup-cpython", type=int, default=2)
    p.add_argument("--warmup-pypy", type=int, default=5)
    p.add_argument("--objects", type=int, default=5000)
    p.add_argument("--select1", type=int, default=5000)
    p.add_argument("--out-dir", default=os.path.join(HERE, "results"))
    args = p.parse_args()
    if args.pin is not None and not shutil.which("taskset"):
        print("taskset unavailable: Python contenders run unpinned", file=sys.stderr)
        args.pin = None
    os.makedirs(args.out_dir, exist_ok=True)

    workers = []
    for spec in args.contender:
        label, python, module = spec.split("|", 2)
        workers.append(Worker(label, python, module, args, args.out_dir))
    for w in workers:
        a = w.ask({"cmd": "setup"}, 120)
        if a:
            w.info = a["info"]
            print("%-28s %s on %s, pinned CPUs %s" % (w.label, w.info["description"], w.info["python"],
                                                    w.info["cpus_allowed"]), file=sys.stderr)
        else:
            print("%-28s FAILED at setup: %s" % (w.label, w.error), file=sys.stderr)
    for w in workers:
        n = args.warmup_pypy if w.is_pypy else args.warmup_cpython
        w.warmup = n
        a = w.ask({"cmd": "warmup", "n": n}, 900)
        if not a:
            continue
        per_rep = a["seconds"] / max(n, 1)
        if per_rep * args.reps > args.budget:
            w.reps_wanted = max(args.min_reps, int(args.budget // per_rep))
            if w.reps_wanted < args.reps:
                w.note = "%d reps (slow: ~%.0f s per repetition)" % (w.reps_wanted, per_rep)
        print("%-28s warmed up: %d repetitions, %.1f s each" % (w.label, n, per_rep), file=sys.stderr)

    for r in range(args.reps):
        live = [w for w in workers if not w.error and len(w.results) < w.reps_wanted]
        if not live:
            break
        k = r % len(live)
        for w in live[k:] + live[:k]:
            a = w.ask({"cmd": "rep"}, 600)
            if a:
                w.results.append(a["result"])
        print("repetition %d/%d done" % (r + 1, args.reps), file=sys.stderr)
    for w in workers:
        w.stop()

    report(args, workers)


def report(args, workers):
    ok = [w for w in workers if not w.error and w.results]
    base = next((w for w in ok if w.label == args.baseline), None)
    rust = load_rust(args.rust_json) if args.rust_json else []

    print()
    print("== Python contenders (same server, same run; interleaved per repetition) ==")
    cpus = sorted(set(w.info.get("cpus_allowed", "?") for w in ok))
    print("Condition: every worker pinned to CPU %s (taskset) with the server; allowed CPUs seen by the workers: %s"
          % (args.pin, ", ".join(cpus)) if args.pin is not None else
          "Condition: workers NOT pinned (taskset unavailable or --pin not given)")
    if ok:
        print("PostgreSQL %s, TCP 127.0.0.1, %d objects, SELECT 1 and the bound select x %d each per repetition"
              % (ok[0].info.get("server_version"), args.objects, args.select1))
    print("Warm-up: %d repetitions on CPython, %d on PyPy; then up to %d measured, min %d (budget %.0f s per contender)"
          % (args.warmup_cpython, args.warmup_pypy, args.reps, args.min_reps, args.budget))
    for w in workers:
        if w.error:
            print("  %s: FAILED: %s" % (w.label, w.error))
            for line in w.log_tail():
                print("      | %s" % line)
        else:
            print("  %s: %s on %s, %d measured repetitions%s" % (
                w.label, w.info.get("description"), w.info.get("python"), len(w.results),
                " (" + w.note + ")" if w.note else ""))
    for spec in args.unavailable:
        label, reason = spec.split("|", 1)
        print("  %s: %s" % (label, reason))
    if base is None:
        print("  (the baseline %r did not run: no ratios)" % args.baseline)

    def ratio(w, key, cpu=False):
        if base is None:
            return "-"
        b = median(base.series(key, cpu))
        a = median(w.series(key, cpu))
        return "%.2fx" % (a / b) if b and a == a else "-"

    rows = ok + rust
    print()
    print("== Python: six-operation ORM workload, %d objects, autocommit (ms; per-operation medians; total median [min-max]; ratio = total / %s) =="
          % (args.objects, args.baseline))
    lw = max([len(w.label) for w in rows] + [10])
    head = "| %-*s | " % (lw, "contender") + " | ".join("%12s" % o for o in OPS) + " | %22s | %6s |" % ("total", "ratio")
    print(head)
    print("|" + "-" * (lw + 2) + "|" + "|".join("-" * 14 for _ in OPS) + "|" + "-" * 24 + "|" + "-" * 8 + "|")
    for w in rows:
        meds = [num(median(w.series(i))) for i in range(6)]
        print("| %-*s | " % (lw, w.label) + " | ".join("%12s" % m for m in meds)
              + " | %22s | %6s |" % (cell(w.series("total")), ratio(w, "total")))
    print("Operations: " + "; ".join(o.replace("{n}", str(args.objects)) for o in OP_LONG))
    if rust:
        print("Rust rows: the Rust bench's numbers from earlier in this run (prepared statements, same server), for reference.")

    print()
    print("== Python: micro benchmarks (median [min-max]; ratio against %s) ==" % args.baseline)
    print("| %-*s | %22s | %6s | %22s | %6s | %22s | %6s | %22s | %6s |" % (
        lw, "contender", "SELECT 1 (µs/op)", "ratio", "bound select (µs/op)", "ratio", "100k rows x 4 (ms)", "ratio",
        "executemany 1000 (ms)", "ratio"))
    print("|" + "-" * (lw + 2) + ("|" + "-" * 24 + "|" + "-" * 8) * 4 + "|")
    for w in rows:
        print("| %-*s | %22s | %6s | %22s | %6s | %22s | %6s | %22s | %6s |" % (
            lw, w.label,
            cell(w.series("select1_us")), ratio(w, "select1_us"),
            cell(w.series("bound_us")), ratio(w, "bound_us"),
            cell(w.series("fetch_ms")), ratio(w, "fetch_ms"),
            cell(w.series("insert_many_ms")), ratio(w, "insert_many_ms")))
    print()
    print("-- client CPU time only (the client thread's user+system time: excludes the server, waiting and most of the"
          " other jobs' interference; median [min-max]; ratio against %s) --" % args.baseline)
    print("| %-*s | %22s | %6s | %22s | %6s | %22s | %6s | %22s | %6s | %22s | %6s |" % (
        lw, "contender", "six-op total (CPU ms)", "ratio", "SELECT 1 (CPU µs)", "ratio", "bound select (CPU µs)", "ratio",
        "100k rows (CPU ms)", "ratio", "executemany (CPU ms)", "ratio"))
    print("|" + "-" * (lw + 2) + ("|" + "-" * 24 + "|" + "-" * 8) * 5 + "|")
    for w in rows:
        print("| %-*s | %22s | %6s | %22s | %6s | %22s | %6s | %22s | %6s | %22s | %6s |" % (
            lw, w.label,
            cell(w.series("total", True)), ratio(w, "total", True),
            cell(w.series("select1_us", True)), ratio(w, "select1_us", True),
            cell(w.series("bound_us", True)), ratio(w, "bound_us", True),
            cell(w.series("fetch_ms", True)), ratio(w, "fetch_ms", True),
            cell(w.series("insert_many_ms", True)), ratio(w, "insert_many_ms", True)))
    print("SELECT 1: cursor.execute('SELECT 1') + fetchone (Rust rows: a prepared statement). Bound select: "
          "cursor.execute('select %s::int', (i,)) + fetchone (psycopg2 and psycopg2cffi merge the parameter "
          "client-side; the others bind it). 100k rows: execute + fetchall "
          "of (int, int, text, timestamptz). executemany: cursor.executemany of a 4-parameter INSERT, 1,000 rows, autocommit.")

    print()
    print("== Issue targets (Python; wall-clock medians against %s) ==" % args.baseline)
    for label, key, what, limit in (
            ("wasmpg / PyPy", "total", "six-operation total", 0.75),
            ("wasmpg / CPython", "total", "six-operation total", 1.3),
            ("wasmpg / CPython", "bound_us", "bound round trip", 1.6),
            ("wasmpg / PyPy", "bound_us", "bound round trip", 1.25)):
        w = next((x for x in workers if x.label == label), None)
        if w is None:
            why = next((s.split("|", 1)[1] for s in args.unavailable if s.startswith(label + "|")), "not run")
            print("  [NOT MEASURED] %s, %s <= %.2fx: %s" % (label, what, limit, why))
        elif w.error or not w.results:
            print("  [NOT MEASURED] %s, %s <= %.2fx: %s" % (label, what, limit, w.error))
        elif base is None or not base.series(key):
            print("  [NOT MEASURED] %s, %s <= %.2fx: the baseline did not run" % (label, what, limit))
        else:
            r = median(w.series(key)) / median(base.series(key))
            print("  [%s] %s, %s: %.2fx (target <= %.2fx)"
                  % ("MET   " if r <= limit else "MISSED", label, what, r, limit))

    doc = {
        "baseline": args.baseline,
        "contenders": [{"label": w.label, "info": w.info, "error": w.error, "note": w.note,
                        "results": w.results} for w in workers],
        "unavailable": args.unavailable,
    }
    with open(os.path.join(args.out_dir, "python.json"), "w") as f:
        json.dump(doc, f, indent=1)
    failed = [w for w in workers if w.error]
    if any("VERIFICATION FAILED" in (w.error or "") for w in failed):
        print("\nA contender FAILED VERIFICATION: its numbers are not shown.")
        sys.exit(3)


if __name__ == "__main__":
    main()
