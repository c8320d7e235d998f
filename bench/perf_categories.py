#!/usr/bin/env python3
"""Groups a `perf report -n --sort dso,sym --stdio` listing of the bench process into cost
categories (kernel, guest code, wasmtime glue, host, value conversion, ...). Used by bench/profile.

    perf_categories.py REPORT.txt [--guest-names NAMES.json]

The guest component is stripped; its functions appear as wasm[0]::function[N] in the compiled
artifact (~/.cache/wasmpg/guest-*.cwasm). With --guest-names (a JSON map N -> name taken from an
unstripped build of the same guest source) the top guest functions are named too.
"""
import collections
import json
import re
import sys


def category(dso, sym):
    if "kernel" in dso:
        return "kernel (socket syscalls, scheduling)"
    if dso.startswith("[JIT]") or dso.endswith(".cwasm"):
        return "guest code (compiled Wasm)"
    if re.search(r"cranelift|regalloc|wasmtime_cranelift", sym):
        return "cranelift compile (one-time, not timed)"
    if re.search(r"postgres_protocol|postgres_types|tokio_postgres|^postgres::|tokio|futures|bytes::", sym):
        return "native postgres/tokio crates"
    if "wasmtime" in sym:
        return "wasmtime glue (calls, lift/lower, resources)"
    if re.search(r"wasmpg::types|FromSql|ToSql|parse_|fmt|chrono", sym):
        return "host value conversion (text <-> Rust types)"
    if "wasmpg" in sym and "wasmpg_bench" not in sym:
        return "wasmpg host (connection, rows, client)"
    if "libc" in dso and re.search(r"send|recv|poll|read|write|setsockopt", sym):
        return "libc syscall wrappers"
    if "libc" in dso:
        return "libc (malloc, memcpy, ...)"
    if re.search(r"alloc|core::|__rust|hashbrown|memcpy", sym):
        return "Rust std (alloc, str, hash)"
    return "other (%s)" % dso


def main():
    path = sys.argv[1]
    names = {}
    if "--guest-names" in sys.argv:
        with open(sys.argv[sys.argv.index("--guest-names") + 1]) as f:
            names = json.load(f)
    cats = collections.Counter()
    guest = collections.Counter()
    total = 0
    for line in open(path):
        m = re.match(r"\s+[\d.]+%\s+(\d+)\s+(\S.*?)\s+\[(.)\]\s+(.*)$", line)
        if not m:
            continue
        n, dso, sym = int(m.group(1)), m.group(2).strip(), m.group(4).strip()
        total += n
        c = category(dso, sym)
        cats[c] += n
        if c.startswith("guest"):
            g = re.search(r"function\[(\d+)\]", sym)
            guest[names.get(g.group(1), sym) if g else sym] += n
    if not total:
        print("no samples")
        return
    print("%8s %6s  %s" % ("samples", "share", "category (client process only)"))
    for c, n in cats.most_common():
        print("%8d %5.1f%%  %s" % (n, 100.0 * n / total, c))
    if guest:
        print("top guest functions:")
        for g, n in guest.most_common(15):
            print("%8d %5.1f%%  %s" % (n, 100.0 * n / total, g[:100]))


if __name__ == "__main__":
    main()
