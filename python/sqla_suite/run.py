"""Runs SQLAlchemy's dialect compliance suite against a throwaway cluster, for wasmpg and for
pg8000 (the reference: a pure-Python driver SQLAlchemy ships a dialect for), and compares them.

    python sqla_suite/run.py [--drivers wasmpg,pg8000,wasmpg_async] [--serial]
                             [--logs DIR] [-- PYTEST-ARGS...]

It starts a cluster as python/tests/conftest.py does (``tests/_pgcluster.py``: the ``pgcluster``
binary), makes one UTF-8 database per driver with the ``test_schema`` and ``test_schema_2``
schemas the suite expects (SQLAlchemy's README.unittests.rst; the hstore and citext extensions
are made by SQLAlchemy's own provisioning), runs the suite once per driver (in parallel unless
``--serial``: the databases are separate), and prints for each::

    wasmpg: P passed / F failed / E errors / S skipped (T s)

then the tests that fail with a wasmpg dialect and not with pg8000. Exit status 1 if a wasmpg
run has more failures + errors than pg8000's (or a run did not finish), else 0. Needs
``sqlalchemy[asyncio]``, ``pytest``, ``pg8000`` and wasmpg installed in this interpreter.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from typing import Optional

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

import _pgcluster  # noqa: E402

# driver name -> SQLAlchemy dialect of the URL
DIALECTS = {
    "wasmpg": "postgresql+wasmpg",
    "wasmpg_async": "postgresql+wasmpg_async",
    "pg8000": "postgresql+pg8000",
}
REFERENCE = "pg8000"
TIMEOUT = 1800  # seconds per run; the suite takes well under a minute

_COUNT = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|deselected)")
_SUMMARY = re.compile(r"^=*\s*\d+ \w+.* in [\d.]+s")
_OUTCOME = re.compile(r"^(FAILED|ERROR) (\S+)(?: - (.*))?$")
# Test classes are suffixed with the backend they ran on: ArrayTest_postgresql+wasmpg_15_18
_BACKEND = re.compile(r"_postgresql\+[^:]*(?=::)")


class Run:
    """One run of the suite: its process, log and outcome."""

    def __init__(self, driver: str, url: str, log: str) -> None:
        self.driver = driver
        self.url = url
        self.log = log
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self.started = 0.0
        self.seconds = 0.0
        self.returncode: Optional[int] = None
        self.counts: dict[str, int] = {}
        self.problems: dict[str, str] = {}  # test id (backend suffix removed) -> message

    def start(self, extra: list[str]) -> None:
        args = [sys.executable, "-m", "pytest", "-q", "--dburi", self.url, *extra]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        self.started = time.monotonic()
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                args, cwd=HERE, stdout=out, stderr=subprocess.STDOUT, env=env
            )

    def wait(self) -> None:
        assert self.proc is not None
        try:
            self.returncode = self.proc.wait(timeout=max(1.0, TIMEOUT - self.elapsed()))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.returncode = self.proc.wait()
            with open(self.log, "a", encoding="utf-8") as out:
                out.write("\nrun.py: killed after %d s\n" % TIMEOUT)
        self.seconds = self.elapsed()
        self._read()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def _read(self) -> None:
        with open(self.log, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
        for line in lines:
            m = _OUTCOME.match(line)
            if m:
                test = _BACKEND.sub("", m.group(2))
                self.problems[test] = "%s: %s" % (m.group(1), m.group(3) or "")
        for line in reversed(lines):
            if _SUMMARY.match(line):
                for n, what in _COUNT.findall(line):
                    self.counts["errors" if what.startswith("error") else what] = int(n)
                break

    @property
    def finished(self) -> bool:
        """pytest ran the suite to its end (0: all passed, 1: some failed)."""
        return self.returncode in (0, 1) and bool(self.counts)

    @property
    def bad(self) -> int:
        return self.counts.get("failed", 0) + self.counts.get("errors", 0)

    def summary(self) -> str:
        if not self.finished:
            return "%s: did not finish (pytest exit %s; see %s)" % (
                self.driver,
                self.returncode,
                self.log,
            )
        c = self.counts
        return "%s: %d passed / %d failed / %d errors / %d skipped (%.0f s)" % (
            self.driver,
            c.get("passed", 0),
            c.get("failed", 0),
            c.get("errors", 0),
            c.get("skipped", 0),
            self.seconds,
        )


def prepare(cluster: _pgcluster.Cluster, dbname: str) -> None:
    """A fresh UTF-8 database with the schemas the suite uses (one statement per psql call:
    CREATE DATABASE cannot run in a transaction)."""
    cluster.psql("DROP DATABASE IF EXISTS %s" % dbname)
    cluster.psql("CREATE DATABASE %s ENCODING 'UTF8' TEMPLATE template0" % dbname)
    cluster.psql("ALTER DATABASE %s SET default_text_search_config = 'pg_catalog.english'" % dbname)
    for schema in ("test_schema", "test_schema_2"):
        cluster.psql("CREATE SCHEMA %s" % schema, db=dbname)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--drivers",
        default="wasmpg,pg8000,wasmpg_async",
        help="comma-separated, among %s (default: all); pg8000 is the reference"
        % ", ".join(DIALECTS),
    )
    parser.add_argument("--serial", action="store_true", help="one run at a time")
    parser.add_argument("--logs", help="directory for the runs' logs (default: a temp dir)")
    parser.add_argument("pytest_args", nargs="*", help="after --: more pytest arguments")
    opts = parser.parse_args(argv)
    drivers = [d.strip() for d in opts.drivers.split(",") if d.strip()]
    unknown = [d for d in drivers if d not in DIALECTS]
    if unknown:
        parser.error("unknown driver(s): %s" % ", ".join(unknown))
    logs = opts.logs or tempfile.mkdtemp(prefix="wasmpg-sqla-suite-")
    os.makedirs(logs, exist_ok=True)

    began = time.monotonic()
    cluster = _pgcluster.Cluster().start()
    runs: list[Run] = []
    try:
        for driver in drivers:
            dbname = "sqla_" + driver
            prepare(cluster, dbname)
            url = "%s://postgres@%s:%d/%s" % (DIALECTS[driver], cluster.host, cluster.port, dbname)
            runs.append(Run(driver, url, os.path.join(logs, driver + ".log")))
        for run in runs:
            run.start(opts.pytest_args)
            if opts.serial:
                run.wait()
        for run in runs:
            if run.returncode is None:
                run.wait()
    finally:
        cluster.stop()

    print("SQLAlchemy dialect compliance suite (logs in %s)" % logs)
    for run in runs:
        print(run.summary())
    print("total: %.0f s" % (time.monotonic() - began))

    status = 0
    reference = next((r for r in runs if r.driver == REFERENCE), None)
    for run in runs:
        if not run.finished:
            status = 1
            continue
        if run.driver == REFERENCE or reference is None or not reference.finished:
            continue
        only = sorted(set(run.problems) - set(reference.problems))
        if only:
            print("%s fails where %s does not (%d):" % (run.driver, REFERENCE, len(only)))
            for test in only:
                print("  %s  %s" % (test, run.problems[test][:200]))
        if run.bad > reference.bad:
            print(
                "FAIL: %s has %d failures + errors, %s %d"
                % (run.driver, run.bad, REFERENCE, reference.bad)
            )
            status = 1
    if reference is not None and not reference.finished:
        print("FAIL: the reference run (%s) did not finish" % REFERENCE)
        status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
