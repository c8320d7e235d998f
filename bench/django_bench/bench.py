#!/usr/bin/env python3
"""Django ORM benchmark (issue 11): the workload of chtd/psycopg2-benchmarks' django_bench on
Django's stock ``django.db.backends.postgresql`` backend, over five drivers, same cluster, same
run. Contenders, each in its own venv (Django picks psycopg 3 whenever it is importable, so it
is never installed beside psycopg2 or wasmpg), all on Django 4.2 LTS (PyPy here is 3.9):

    psycopg2 / CPython (psycopg2-binary: the baseline)   .venv-cpython-psycopg2
    psycopg 3 / CPython (psycopg[binary])                .venv-cpython-psycopg3
    wasmpg / CPython (wasmpg.compat.register())          .venv-cpython-wasmpg
    psycopg2cffi / PyPy (psycopg2cffi.compat.register()) .venv-pypy-psycopg2cffi
    wasmpg / PyPy (wasmpg.compat.register())             .venv-pypy-wasmpg

    bench.py --dsn "host=127.0.0.1 port=P user=postgres dbname=postgres sslmode=disable"
             [--rounds 5] [--warmup-cpython 1] [--warmup-pypy 6] [--json FILE]
    bench.py --worker KIND --dsn DSN [--warmup N] [--profile FILE]   # one contender, one round

The workload (models in djbench/models.py: Author, Post with a foreign key to it; autocommit,
USE_TZ on, DEBUG off), each operation timed on its own:
  1. bulk insert: bulk_create of 1,000 authors, then of 5,000 posts;
  2. 500 single inserts: Post.objects.create;
  3. 500 updates: Post.objects.get(pk=...), change two fields, save();
  4. list 5,500 posts (ordered by id) and, for every second one, post.author (one query each);
  5. 10 x list(Post.objects.all()): 5,500 Post instances each time;
  6. 20 x connection.cursor().execute("SELECT ... FROM djbench_post") + fetchall.
A pass drops and recreates the two tables first (schema_editor), so every pass starts from the
same fresh state. Every operation is verified outside its timing: row counts, sums of the
score, of the title lengths and of the timestamps, the authors' karma reached in (4); the
queries each operation sends are counted in the first pass (an execute_wrapper) and must be
the same for every contender.

A round runs each contender once, each in a fresh process: Django set up, the warm-up passes
(the whole workload, untimed), then the timed pass; the order of the contenders is rotated by
one each round. Figures are medians over the rounds; ratios are against psycopg2 on CPython in
the same run. Targets (issue 11): PyPy + wasmpg at or below PyPy + psycopg2cffi (total);
CPython + wasmpg <= 1.0x CPython + psycopg2 (total). Pinning: run it under ``taskset -c CPU``
(bench/run does, the server on the same CPU); the workers inherit the affinity.

``--worker KIND --profile FILE`` runs the timed pass under cProfile (one profile per
operation), prints where the time goes by category and writes the stats of the whole pass.
"""

import argparse
import datetime as dt
import gc
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))

N_AUTHORS = 1000
N_BULK = 5000
N_SINGLE = 500
N_UPDATES = 500
N_POSTS = N_BULK + N_SINGLE
LIST_REPEAT = 10
RAW_REPEAT = 20
BASE = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
RAW_SQL = "SELECT id, author_id, title, body, created, score, published FROM djbench_post"

# (key, label)
OPERATIONS = [
    ("bulk_insert", "1. bulk insert (1,000 authors + 5,000 posts)"),
    ("single_inserts", "2. 500 x Post.objects.create"),
    ("updates", "3. 500 x (get by pk, save)"),
    ("list_with_authors", "4. list 5,500 posts, 2,750 x post.author"),
    ("instantiate", "5. 10 x list(Post.objects.all()), 5,500 each"),
    ("raw_fetchall", "6. 20 x raw SELECT + fetchall, 5,500 rows"),
]
OP_KEYS = [k for k, _ in OPERATIONS]

# (label, interpreter, kind); the venv is .venv-<interpreter>-<kind>. The first is the baseline.
CONTENDERS = [
    ("psycopg2", "cpython", "psycopg2"),
    ("psycopg 3", "cpython", "psycopg3"),
    ("wasmpg (compat)", "cpython", "wasmpg"),
    ("psycopg2cffi", "pypy", "psycopg2cffi"),
    ("wasmpg (compat)", "pypy", "wasmpg"),
]
INTERPRETERS = {"cpython": "CPython", "pypy": "PyPy"}


class VerificationError(Exception):
    pass


# --------------------------------------------------------------------------------------------
# The worker: one contender, one round, in its own process


def parse_conninfo(dsn):
    """key=value conninfo (values without spaces or quotes, as bench/run writes them)."""
    return dict(part.partition("=")[::2] for part in dsn.split())


def setup_django(kind, dsn):
    """Registers the psycopg2 layer the contender needs, then configures Django on the DSN.
    Returns a description of the driver Django's backend really uses (checked)."""
    if kind == "wasmpg":
        from wasmpg import compat

        compat.register()
    elif kind == "psycopg2cffi":
        from psycopg2cffi import compat

        compat.register()
        psycopg2cffi_stand_ins()
    sys.path.insert(0, HERE)
    import django
    from django.conf import settings

    kv = parse_conninfo(dsn)
    settings.configure(
        DEBUG=False,
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.postgresql",
                "HOST": kv.get("host", "127.0.0.1"),
                "PORT": kv.get("port", "5432"),
                "USER": kv.get("user", "postgres"),
                "PASSWORD": kv.get("password", ""),
                "NAME": kv.get("dbname", "postgres"),
                "OPTIONS": {"sslmode": kv.get("sslmode", "disable")},
            }
        },
        INSTALLED_APPS=["djbench"],
        USE_TZ=True,
        TIME_ZONE="UTC",
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        SECRET_KEY="django-bench",
    )
    django.setup()
    from django.db import connection
    from django.db.backends.postgresql import psycopg_any

    connection.ensure_connection()
    if kind == "psycopg3":
        if not psycopg_any.is_psycopg3:
            raise VerificationError("Django's backend does not use psycopg 3")
        import psycopg

        driver = f"psycopg {psycopg.__version__} ({psycopg.pq.__impl__} implementation)"
    else:
        if psycopg_any.is_psycopg3:
            raise VerificationError(
                f"Django's backend uses psycopg 3 (installed in this venv): not {kind}"
            )
        module = sys.modules["psycopg2"]
        if kind == "wasmpg":
            import wasmpg
            from wasmpg import compat

            if module is not compat.modules()["psycopg2"]:
                raise VerificationError(f"psycopg2 is not wasmpg.compat's: {module!r}")
            driver = "wasmpg {} through wasmpg.compat".format(getattr(wasmpg, "__version__", "?"))
        elif kind == "psycopg2cffi":
            if module.__name__ != "psycopg2cffi":
                raise VerificationError(f"psycopg2 is not psycopg2cffi: {module!r}")
            driver = f"psycopg2cffi {module.__version__.split()[0]}"
        else:
            if module.__name__ != "psycopg2" or "wasmpg" in (module.__file__ or ""):
                raise VerificationError(f"psycopg2 is not the real one: {module!r}")
            driver = f"psycopg2 {module.__version__.split()[0]}"
    return f"{driver}; Django {django.get_version()}"


def psycopg2cffi_stand_ins():
    """What Django 4.2's backend needs from psycopg2 >= 2.8 and psycopg2cffi 2.9.0 (its latest
    release) lacks: the modules ``psycopg2.errors`` and ``psycopg2.sql``, imported by
    ``psycopg_any`` but not used by this workload (Django sets ``sql.quote`` itself; of
    ``errors`` its psycopg2 branch uses ``DuplicateDatabase``, for test databases), and
    ``connection.info`` (``server_version`` and ``parameter_status("TimeZone")``, read once
    per connection), here mapped onto psycopg2cffi's ``server_version`` and
    ``get_parameter_status``."""
    import types

    import psycopg2cffi
    from psycopg2cffi._impl.connection import Connection

    class ConnectionInfo:
        def __init__(self, conn):
            self._conn = conn

        @property
        def server_version(self):
            return self._conn.server_version

        def parameter_status(self, name):
            return self._conn.get_parameter_status(name)

    if not hasattr(Connection, "info"):
        Connection.info = property(ConnectionInfo)

    for name in ("errors", "sql"):
        full = "psycopg2." + name
        if full not in sys.modules:
            module = types.ModuleType(full)
            sys.modules[full] = module
            setattr(psycopg2cffi, name, module)
    errors = sys.modules["psycopg2.errors"]
    if not hasattr(errors, "DuplicateDatabase"):
        errors.DuplicateDatabase = type(
            "DuplicateDatabase", (psycopg2cffi.ProgrammingError,), {"__module__": "psycopg2.errors"}
        )


def author_fields(i):
    return {
        "name": f"author {i}",
        "email": f"author{i}@example.com",
        "joined": BASE + dt.timedelta(hours=i),
        "karma": i % 97,
    }


def post_fields(j):
    return {
        "title": f"post number {j}",
        "body": f"The body of post {j}. " * 6,
        "created": BASE + dt.timedelta(minutes=j),
        "score": j % 1000,
        "published": j % 3 == 0,
    }


def post_author_index(j):
    return (j * 7) % N_AUTHORS


class Expected:
    """The checksums the table must have after each operation, from the generated data."""

    def __init__(self):
        self.score = {}  # post number -> score
        self.title_len = {}
        self.created = {}
        for j in range(1, N_POSTS + 1):
            f = post_fields(j)
            self.score[j] = f["score"]
            self.title_len[j] = len(f["title"])
            self.created[j] = int(f["created"].timestamp())
        self.body_len = sum(len(post_fields(j)["body"]) for j in range(1, N_POSTS + 1))
        self.karma = [author_fields(i)["karma"] for i in range(1, N_AUTHORS + 1)]

    def sums(self, n):
        js = range(1, n + 1)
        return (
            n,
            sum(self.score[j] for j in js),
            sum(self.title_len[j] for j in js),
            sum(self.created[j] for j in js),
        )

    def update(self, j, pk):
        self.score[j] += 1000
        self.title_len[j] = len(f"updated post {pk}")


def check(what, got, want):
    if got != want:
        raise VerificationError(f"{what}: got {got!r}, expected {want!r}")


def object_sums(posts):
    return (
        len(posts),
        sum(p.score for p in posts),
        sum(len(p.title) for p in posts),
        sum(int(p.created.timestamp()) for p in posts),
    )


def row_sums(rows):
    return (
        len(rows),
        sum(r[5] for r in rows),
        sum(len(r[2]) for r in rows),
        sum(int(r[4].timestamp()) for r in rows),
    )


def table_sums():
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*), sum(score), sum(length(title)), "
            "sum(extract(epoch from created)::bigint) FROM djbench_post"
        )
        return tuple(int(x or 0) for x in cur.fetchone())


def reset_tables():
    from django.db import connection

    from djbench.models import Author, Post

    with connection.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS djbench_post, djbench_author CASCADE")
    with connection.schema_editor() as editor:
        editor.create_model(Author)
        editor.create_model(Post)


class Pass:
    """One pass of the workload: the six operations, each timed (wall and process CPU time),
    each verified after its timing."""

    def __init__(self, expected, profile=False, server=None):
        self.x = expected
        self.profile = profile
        self.server = server
        self.wall = {}
        self.cpu = {}
        self.server_cpu = {}
        self.queries = {}
        self.profiles = {}

    def timed(self, key, fn, *args):
        """Runs fn, adding its time to the operation `key` (an operation may be timed in
        several pieces, the verification between them untimed)."""
        profiler = None
        if self.profile:
            import cProfile

            profiler = self.profiles.get(key)
            if profiler is None:
                profiler = self.profiles[key] = cProfile.Profile()
        server = self.server
        s0 = server.cpu() if server else None
        c0, t0 = time.process_time(), time.perf_counter()
        if profiler is not None:
            profiler.enable()
        try:
            return fn(*args)
        finally:
            if profiler is not None:
                profiler.disable()
            t1, c1 = time.perf_counter(), time.process_time()
            self.wall[key] = self.wall.get(key, 0.0) + (t1 - t0)
            self.cpu[key] = self.cpu.get(key, 0.0) + (c1 - c0)
            if s0 is not None:
                self.server_cpu[key] = self.server_cpu.get(key, 0.0) + (server.cpu() - s0)

    def run(self, count_queries=False):
        from django.db import connection

        reset_tables()
        for key in OP_KEYS:
            gc.collect()
            counter = [0]

            def count(execute, sql, params, many, context, counter=counter):
                counter[0] += 1
                return execute(sql, params, many, context)

            if count_queries:
                with connection.execute_wrapper(count):
                    getattr(self, key)()
                self.queries[key] = counter[0]
            else:
                getattr(self, key)()
        return self

    # -- the operations --

    def bulk_insert(self):
        from djbench.models import Author, Post

        def work():
            authors = [Author(**author_fields(i)) for i in range(1, N_AUTHORS + 1)]
            Author.objects.bulk_create(authors)
            posts = [
                Post(author=authors[post_author_index(j)], **post_fields(j))
                for j in range(1, N_BULK + 1)
            ]
            Post.objects.bulk_create(posts)
            return authors, posts

        authors, posts = self.timed("bulk_insert", work)
        self.authors = authors
        self.post_pks = [p.pk for p in posts]
        check("authors", Author.objects.count(), N_AUTHORS)
        check("author pks", len({a.pk for a in authors if a.pk is not None}), N_AUTHORS)
        check("post pks", len(set(self.post_pks)), N_BULK)
        check("posts after bulk insert", table_sums(), self.x.sums(N_BULK))

    def single_inserts(self):
        from djbench.models import Post

        authors = self.authors

        def work():
            return [
                Post.objects.create(author=authors[post_author_index(j)], **post_fields(j)).pk
                for j in range(N_BULK + 1, N_POSTS + 1)
            ]

        pks = self.timed("single_inserts", work)
        check("new post pks", len(set(pks) - set(self.post_pks)), N_SINGLE)
        self.post_pks += pks
        check("posts after single inserts", table_sums(), self.x.sums(N_POSTS))

    def updates(self):
        from djbench.models import Post

        targets = [(k * 11 + 1, self.post_pks[k * 11]) for k in range(N_UPDATES)]

        def work():
            for _j, pk in targets:
                post = Post.objects.get(pk=pk)
                post.score += 1000
                post.title = f"updated post {pk}"
                post.save()

        self.timed("updates", work)
        for j, pk in targets:
            self.x.update(j, pk)
        check("posts after updates", table_sums(), self.x.sums(N_POSTS))

    def list_with_authors(self):
        from djbench.models import Post

        def work():
            n = karma = 0
            for i, post in enumerate(Post.objects.order_by("id")):
                n += 1
                if i % 2 == 0:
                    karma += post.author.karma
            return n, karma

        n, karma = self.timed("list_with_authors", work)
        want = sum(self.x.karma[post_author_index(j)] for j in range(1, N_POSTS + 1, 2))
        check("posts listed, karma of every second post's author", (n, karma), (N_POSTS, want))

    def instantiate(self):
        from djbench.models import Post

        want = self.x.sums(N_POSTS)
        for _ in range(LIST_REPEAT):
            posts = self.timed("instantiate", lambda: list(Post.objects.all()))
            check("list(Post.objects.all())", object_sums(posts), want)
            check("a Post's author_id", type(posts[-1].author_id), int)
            del posts

    def raw_fetchall(self):
        from django.db import connection

        def work():
            with connection.cursor() as cur:
                cur.execute(RAW_SQL)
                return cur.fetchall()

        want = self.x.sums(N_POSTS)
        for _ in range(RAW_REPEAT):
            rows = self.timed("raw_fetchall", work)
            check("raw fetchall", row_sums(rows), want)
            check("raw body lengths", sum(len(r[3]) for r in rows), self.x.body_len)
            check("raw published", sum(1 for r in rows if r[6] is True), N_POSTS // 3)
            del rows


class ServerProcess:
    """The CPU time of the connection's backend process (``/proc/PID/schedstat``, ns), when
    the server runs on this machine and its /proc entry is readable (bench/run's cluster)."""

    def __init__(self, path):
        self.path = path

    @classmethod
    def of_connection(cls):
        from django.db import connection

        with connection.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            pid = cur.fetchone()[0]
        server = cls(f"/proc/{pid}/schedstat")
        try:
            server.cpu()
        except (OSError, ValueError, IndexError):
            return None
        return server

    def cpu(self):
        with open(self.path) as f:
            return int(f.read().split()[0]) / 1e9


def cpus_allowed():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Cpus_allowed_list:"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def worker(args, out):
    """One round of one contender: set-up, args.warmup untimed passes, the timed pass; one
    JSON line on `out`."""
    try:
        t0 = time.perf_counter()
        description = setup_django(args.worker, args.dsn)
        setup_s = time.perf_counter() - t0
        warmups = []
        queries = None
        for i in range(args.warmup):
            t = time.perf_counter()
            p = Pass(Expected()).run(count_queries=i == 0)
            queries = queries or p.queries
            warmups.append({"seconds": time.perf_counter() - t, "total_s": sum(p.wall.values())})
        timed = Pass(Expected(), profile=bool(args.profile), server=ServerProcess.of_connection())
        timed.run(count_queries=queries is None)
        queries = queries or timed.queries
        answer = {
            "ok": True,
            "info": {
                "description": description,
                "python": platform.python_implementation() + " " + sys.version.split()[0],
                "cpus_allowed": cpus_allowed(),
            },
            "setup_s": setup_s,
            "warmup": warmups,
            "wall": timed.wall,
            "cpu": timed.cpu,
            "server_cpu": timed.server_cpu or None,
            "queries": queries,
        }
        if args.profile:
            answer["profile"] = profile_report(timed.profiles, timed.wall, args.profile)
        from django.db import connection

        connection.close()
    except VerificationError as e:
        answer = {"ok": False, "error": f"VERIFICATION FAILED: {e}"}
    except Exception as e:  # noqa: BLE001 - reported to the orchestrator
        traceback.print_exc(file=sys.stderr)
        answer = {"ok": False, "error": f"{type(e).__name__}: {e}"}
    out.write(json.dumps(answer) + "\n")
    out.flush()
    return 0 if answer["ok"] else 1


# --------------------------------------------------------------------------------------------
# Profiling (--profile): cProfile's own time by category


CATEGORIES = [
    "Django",
    "wasmpg.compat (the psycopg2 layer)",
    "wasmpg: step and row decoding (_abi, row converter, types)",
    "wasmpg: cursor, session, connection (Python)",
    "wasmpg: guest calls (wasmtime, crossing included)",
    "psycopg 3 (Python)",
    "driver C code (psycopg2, psycopg2cffi, psycopg 3; waits included)",
    "socket send/recv (the server runs meanwhile)",
    "other Python (stdlib, the bench)",
]
C_DRIVER = CATEGORIES[6]
SOCKET = CATEGORIES[7]
OTHER = CATEGORIES[8]


def categorise(path, name):
    """The category of one profiled function; None for a builtin that counts for its callers."""
    if path == "~":
        if "socket" in name and ("recv" in name or "send" in name):
            return SOCKET
        if "psycopg" in name:
            return C_DRIVER
        return None
    p = path.replace(os.sep, "/")
    if "/django/" in p:
        return CATEGORIES[0]
    if "/wasmpg/compat/" in p:
        return CATEGORIES[1]
    if p == "<wasmpg row converter>" or "/wasmpg/_abi.py" in p or "/wasmpg/types/" in p:
        return CATEGORIES[2]
    if any(f"/wasmpg/{m}.py" in p for m in ("_capi", "_sandbox", "_runtime")):
        return CATEGORIES[4]
    if "/wasmpg/" in p:
        return CATEGORIES[3]
    if "/psycopg/" in p:
        return CATEGORIES[5]
    if "/psycopg2cffi/" in p or "/psycopg_binary/" in p or "/psycopg2/" in p:
        return C_DRIVER
    return OTHER


def own_time_by_category(stats):
    """cProfile's own time by category; a builtin's own time (str, datetime, ctypes methods,
    ...) goes to its callers' categories in proportion to the time spent in each call site."""
    by = dict.fromkeys(CATEGORIES, 0.0)
    for (file, _line, name), (_cc, _nc, tt, _ct, callers) in stats.stats.items():
        category = categorise(file, name)
        if category is not None:
            by[category] += tt
            continue
        sites = [(categorise(*k[::2]) or OTHER, v[2]) for k, v in callers.items()]
        spent = sum(t for _, t in sites)
        if not spent:
            by[OTHER] += tt
            continue
        for c, t in sites:
            by[c] += tt * t / spent
    return by


def profile_report(profiles, wall, path):
    """Own time by category for each operation (printed to stderr and returned), the whole
    pass's stats written to `path`."""
    import pstats

    report = {}
    merged = None
    for key in OP_KEYS:
        prof = profiles.get(key)
        if prof is None:
            continue
        stats = pstats.Stats(prof)
        merged = stats if merged is None else merged.add(prof)
        report[key] = own_time_by_category(stats)
    if merged is not None:
        merged.dump_stats(path)
        top = os.path.splitext(path)[0] + ".txt"
        with open(top, "w") as f:
            merged.stream = f
            merged.sort_stats("tottime").print_stats(60)
    total = {c: sum(report[k][c] for k in report) for c in CATEGORIES}
    log("cProfile, own time by category (ms; profiled wall time in the header):")
    log(f"{'category':66}" + "".join(f"{k[:9]:>10}" for k in report) + f"{'total':>10}{'share':>7}")
    whole = sum(total.values()) or 1.0
    for c in CATEGORIES:
        if not total[c]:
            continue
        log(
            f"{c:66}"
            + "".join(f"{report[k][c] * 1000:10.1f}" for k in report)
            + f"{total[c] * 1000:10.1f}{100 * total[c] / whole:6.1f}%"
        )
    log(
        f"{'wall (profiled)':66}"
        + "".join(f"{wall[k] * 1000:10.1f}" for k in report)
        + f"{sum(wall[k] for k in report) * 1000:10.1f}"
    )
    log("stats: {} (top 60 by own time: {})".format(path, os.path.splitext(path)[0] + ".txt"))
    return report


# --------------------------------------------------------------------------------------------
# The orchestrator


class Contender:
    def __init__(self, label, interpreter, kind, python):
        self.label = label
        self.interpreter = interpreter
        self.kind = kind
        self.name = f"{label} / {INTERPRETERS[interpreter]}"
        self.python = python
        self.info = {}
        self.results = []
        self.queries = None
        self.error = None
        if not os.access(python, os.X_OK):
            self.error = f"{python} not found (bench/run makes the venvs)"

    def series(self, key, what="wall"):
        """One figure per round: `what` is wall, cpu (the client's), server_cpu or rest (wall
        less both); NaN where the server's CPU was not readable."""
        out = []
        for r in self.results:
            if what == "rest":
                server = r.get("server_cpu")
                parts = {k: r["wall"][k] - r["cpu"][k] - server[k] for k in server or {}}
            else:
                parts = r.get(what)
            if not parts:
                out.append(math.nan)
            else:
                out.append(sum(parts.values()) if key == "total" else parts[key])
        return out

    def median(self, key, what="wall"):
        xs = self.series(key, what)
        return statistics.median(xs) if xs else float("nan")


def log(msg):
    print(msg, file=sys.stderr)


def run_round(c, args, log_file):
    warmup = args.warmup_pypy if c.interpreter == "pypy" else args.warmup_cpython
    cmd = [c.python, os.path.abspath(__file__), "--worker", c.kind, "--dsn", args.dsn]
    cmd += ["--warmup", str(warmup)]
    t = time.perf_counter()
    try:
        proc = subprocess.run(  # the exit status is read below
            cmd,
            check=False,
            stdout=subprocess.PIPE,
            stderr=log_file,
            text=True,
            timeout=args.timeout,
            cwd=HERE,
        )
    except subprocess.TimeoutExpired:
        return None, f"no answer within {args.timeout} s"
    lines = [x for x in proc.stdout.splitlines() if x.startswith("{")]
    if not lines:
        return None, f"worker exited with status {proc.returncode} and no answer"
    answer = json.loads(lines[-1])
    if not answer.get("ok"):
        return None, answer.get("error", "failed")
    answer["process_s"] = time.perf_counter() - t
    answer["warmup_passes"] = warmup
    return answer, None


def main_orchestrator(args):
    contenders = []
    for label, interpreter, kind in CONTENDERS:
        python = os.path.join(args.venv_dir, f".venv-{interpreter}-{kind}", "bin", "python")
        c = Contender(label, interpreter, kind, python)
        if args.skip_pypy and interpreter == "pypy":
            c.error = "skipped (BENCH_SKIP_PYPY=1)"
        for u in args.unavailable:
            name, _, why = u.partition("|")
            if name == c.name:
                c.error = why
        contenders.append(c)
    logs = {}
    for c in contenders:
        safe = "".join(ch if ch.isalnum() else "_" for ch in c.name)
        logs[c.name] = open(os.path.join(args.log_dir, f"django-{safe}.log"), "w")  # noqa: SIM115
    start = time.perf_counter()
    for r in range(args.rounds):
        live = [c for c in contenders if not c.error]
        k = r % max(len(live), 1)
        for c in live[k:] + live[:k]:
            answer, error = run_round(c, args, logs[c.name])
            if error:
                c.error = error
                log(f"{c.name:28} round {r + 1} FAILED: {error}")
                continue
            c.info = answer["info"]
            if c.queries is None:
                c.queries = answer["queries"]
            c.results.append(answer)
            total = sum(answer["wall"].values()) * 1000
            log(
                f"{c.name:28} round {r + 1}: total {total:.0f} ms (process "
                f"{answer['process_s']:.1f} s, {answer['warmup_passes']} warm-up passes)"
            )
        log(f"round {r + 1}/{args.rounds} done ({time.perf_counter() - start:.0f} s)")
    for f in logs.values():
        f.close()
    return report(args, contenders, time.perf_counter() - start)


def ratio(a, b):
    if a is None or b is None or math.isnan(a) or math.isnan(b) or not b:
        return None
    return a / b


def rtext(r):
    return "-" if r is None else f"{r:.2f}x"


def verdict(r, limit):
    if r is None:
        return "NOT MEASURED"
    return "MET   " if r <= limit else "MISSED"


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def table(contenders, base, what):
    """Operations by contender: median ms (ratio against the baseline's median)."""
    heads = [c.name.replace(" (compat)", "") for c in contenders]
    lw = max(len(label) for _, label in OPERATIONS)
    widths = [max(len(h), 15) for h in heads]
    cells = " | ".join(f"{h:>{w}}" for w, h in zip(widths, heads))
    print(f"| {'operation':{lw}} | {cells} |")
    print(f"|{'-' * (lw + 2)}|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|")
    for key, label in [*OPERATIONS, ("total", "total")]:
        cells = []
        for c, w in zip(contenders, widths):
            if c.error or not c.results:
                cells.append(f"{'did not run':>{w}}")
                continue
            m = c.median(key, what)
            r = ratio(m, base.median(key, what)) if base else None
            cells.append(f"{f'{m * 1000:.1f} ({rtext(r)})':>{w}}")
        print(f"| {label:{lw}} | {' | '.join(cells)} |")


def report(args, contenders, seconds):
    def find(label, interpreter):
        for c in contenders:
            if c.label == label and c.interpreter == interpreter and c.results and not c.error:
                return c
        return None

    ran = [c for c in contenders if c.results and not c.error]
    base = find("psycopg2", "cpython")
    cpus = ", ".join(sorted({c.info.get("cpus_allowed", "?") for c in ran})) or "?"
    print(
        "== Django ORM (issue 11): chtd/psycopg2-benchmarks' django_bench workload on Django's "
        f"postgresql backend (same server, same run; median over {args.rounds} interleaved "
        "rounds, ms; ratio against psycopg2 on CPython) =="
    )
    print(
        "Condition: each contender a fresh process per round, the order rotated each round; CPUs "
        f"allowed to the workers: {cpus} (pinned with the server when run under taskset); load "
        f"average {loadavg()}; {seconds:.0f} s"
    )
    print(
        "Warm-up inside each process before the timed pass: "
        f"{args.warmup_cpython} whole-workload pass(es) on CPython, {args.warmup_pypy} on PyPy; "
        "every pass drops and recreates the tables"
    )
    for c in contenders:
        if c.error:
            print(f"  {c.name}: DID NOT RUN: {c.error}")
        else:
            print(f"  {c.name}: {c.info.get('description')} on {c.info.get('python')}")
    table(contenders, base, "wall")
    print()
    print(
        "Client CPU time of the same passes (the worker's process time, ms; ratio against "
        "psycopg2's), less sensitive to other jobs on the CPU than wall time:"
    )
    table(contenders, base, "cpu")
    print()
    print(
        "Total per contender: wall median [min-max] over the rounds; medians of the client's CPU, "
        "of the server backend's CPU (/proc/PID/schedstat) and of the rest (wall - both: other "
        "processes on the CPU, idle); the fastest round against psycopg2's fastest:"
    )
    for c in contenders:
        if c.error or not c.results:
            continue
        xs = [x * 1000 for x in c.series("total")]
        least = ratio(min(xs), min(base.series("total")) * 1000) if base else None
        cpu, server, rest = (c.median("total", w) * 1000 for w in ("cpu", "server_cpu", "rest"))
        print(
            f"  {c.name:28} {statistics.median(xs):7.1f} [{min(xs):.1f}-{max(xs):.1f}] ms; client "
            f"CPU {cpu:.1f}, server CPU {server:.1f}, rest {rest:.1f}; fastest {rtext(least)}"
        )
    queries = {c.name: c.queries for c in ran}
    print("Queries per operation (counted in the first pass):", end="")
    distinct = {json.dumps(q, sort_keys=True) for q in queries.values()}
    if len(distinct) == 1:
        q = next(iter(queries.values()))
        print(
            " "
            + ", ".join(f"({i + 1}) {q[k]}" for i, k in enumerate(OP_KEYS))
            + ", the same for every contender"
        )
    else:
        print(" THEY DIFFER between contenders:")
        for name, q in queries.items():
            print(f"  {name}: {q}")

    cw = find("wasmpg (compat)", "cpython")
    pw = find("wasmpg (compat)", "pypy")
    pc = find("psycopg2cffi", "pypy")
    c3 = find("psycopg 3", "cpython")

    def tot(a, b):
        return ratio(a.median("total"), b.median("total")) if a and b else None

    ratios = {
        "cpython_wasmpg_vs_psycopg2_total": tot(cw, base),
        "pypy_wasmpg_vs_psycopg2cffi_total": tot(pw, pc),
        "cpython_psycopg3_vs_psycopg2_total": tot(c3, base),
        "pypy_wasmpg_vs_cpython_psycopg2_total": tot(pw, base),
        "pypy_psycopg2cffi_vs_cpython_psycopg2_total": tot(pc, base),
    }
    print()

    def more(a, b):  # the same ratio on client CPU, and fastest round against fastest round
        if not (a and b):
            return ""
        cpu = ratio(a.median("total", "cpu"), b.median("total", "cpu"))
        least = ratio(min(a.series("total")), min(b.series("total")))
        return f"; client CPU {rtext(cpu)}, fastest rounds {rtext(least)}"

    print("== Issue 11 targets ==")
    r = ratios["pypy_wasmpg_vs_psycopg2cffi_total"]
    print(
        f"  [{verdict(r, 1.0)}] PyPy: wasmpg / psycopg2cffi, total: {rtext(r)} (<= 1.0x)"
        + more(pw, pc)
    )
    r = ratios["cpython_wasmpg_vs_psycopg2_total"]
    print(
        f"  [{verdict(r, 1.0)}] CPython: wasmpg / psycopg2, total: {rtext(r)} (<= 1.0x)"
        + more(cw, base)
    )
    r = ratios["cpython_psycopg3_vs_psycopg2_total"]
    print(f"  [no target] CPython: psycopg 3 / psycopg2, total: {rtext(r)}" + more(c3, base))
    if args.json:
        doc = {
            "dsn": args.dsn,
            "rounds": args.rounds,
            "warmup": {"cpython": args.warmup_cpython, "pypy": args.warmup_pypy},
            "operations": dict(OPERATIONS),
            "loadavg_end": loadavg(),
            "seconds": seconds,
            "contenders": [
                {
                    "label": c.label,
                    "interpreter": INTERPRETERS[c.interpreter],
                    "kind": c.kind,
                    "info": c.info,
                    "error": c.error,
                    "queries": c.queries,
                    "median_ms": {
                        what: {k: c.median(k, what) * 1000 for k in [*OP_KEYS, "total"]}
                        for what in ("wall", "cpu", "server_cpu")
                    }
                    if c.results
                    else None,
                    "rounds": c.results,
                }
                for c in contenders
            ],
            "ratios": ratios,
        }
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=1)
    if any("VERIFICATION FAILED" in (c.error or "") for c in contenders):
        print("\nA contender FAILED VERIFICATION: its numbers are not shown.")
        return 3
    if len(distinct) > 1:
        return 3
    return 0


def main():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--dsn", required=True, help="libpq conninfo, key=value form")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--warmup-cpython", type=int, default=1)
    p.add_argument("--warmup-pypy", type=int, default=6)
    p.add_argument("--venv-dir", default=HERE, help="where the .venv-<interpreter>-<kind> are")
    p.add_argument("--skip-pypy", action="store_true")
    p.add_argument(
        "--unavailable",
        action="append",
        default=[],
        help='"NAME|reason": a contender that '
        "could not be installed (NAME as in the table, e.g. 'wasmpg (compat) / PyPy')",
    )
    p.add_argument("--timeout", type=int, default=300, help="seconds for one worker process")
    p.add_argument("--json")
    p.add_argument("--log-dir", default=os.path.join(os.path.dirname(HERE), "results"))
    p.add_argument("--worker", help="run one contender for one round (used by the orchestrator)")
    p.add_argument("--warmup", type=int, default=1, help="(worker) untimed passes first")
    p.add_argument("--profile", help="(worker) cProfile the timed pass, stats to this file")
    args = p.parse_args()
    if args.worker:
        # The answer goes to the real stdout; anything the drivers print goes to stderr.
        out = os.fdopen(os.dup(1), "w")
        os.dup2(2, 1)
        sys.stdout = sys.stderr
        return worker(args, out)
    os.makedirs(args.log_dir, exist_ok=True)
    return main_orchestrator(args)


if __name__ == "__main__":
    sys.exit(main())
