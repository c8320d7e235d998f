#!/usr/bin/env python3
"""Runs Django's own test suite against a throwaway PostgreSQL cluster through wasmpg's
psycopg2 layer (``wasmpg.compat``), and the same apps through the real psycopg2
(``psycopg2-binary``, CPython only) for comparison; prints the counts and times of both.

Django's ``tests/`` directory ships only in its sdist: the sdist of the Django version the
interpreter has installed is downloaded with pip (``pip download django==X --no-binary
:all: --no-deps``) into the work directory and unpacked once. The cluster is started as
``python/tests/conftest.py`` does (``_pgcluster``: the ``pgcluster`` binary).

Usage::

    python/django_suite/run.py [--python PY] [--apps basic backends ...] [--no-psycopg2]
                               [--psycopg2-python PY] [--work DIR] [--parallel N]

``--python``: the interpreter with wasmpg and Django installed (default: this one).
``--psycopg2-python``: an interpreter with psycopg2 and the same Django; by default a venv is
made in the work directory from ``python3`` (CPython) with ``psycopg2-binary`` and that Django.
Exit status: 0 when every test that fails or errors through wasmpg also fails or errors
through psycopg2 (or, without the psycopg2 run, when none does); 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from typing import Optional

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON_DIR = os.path.dirname(HERE)
DEFAULT_APPS = ["basic", "backends", "model_fields", "queries", "transactions", "expressions"]

SETTINGS = """\
# Written by python/django_suite/run.py: Django's test settings on the throwaway cluster.
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": %(host)r,
        "PORT": %(port)d,
        "USER": "postgres",
        "NAME": "django_suite_default",
    },
    "other": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": %(host)r,
        "PORT": %(port)d,
        "USER": "postgres",
        "NAME": "django_suite_other",
    },
}
SECRET_KEY = "django_tests_secret_key"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
USE_TZ = False
"""


def run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload,no-any-return]


def interpreter_info(python: str) -> tuple[str, Optional[str]]:
    """(implementation name, installed Django version or None) of an interpreter."""
    code = (
        "import platform\n"
        "try:\n    import django; v = django.__version__\n"
        "except ImportError:\n    v = ''\n"
        "print(platform.python_implementation(), v)"
    )
    proc = run([python, "-c", code])
    if proc.returncode != 0:
        raise SystemExit("cannot run %s: %s" % (python, proc.stderr.strip()))
    impl, _, version = proc.stdout.strip().partition(" ")
    return impl, version or None


def django_tests(python: str, version: str, work: str) -> str:
    """The ``tests/`` directory of Django ``version``'s sdist (downloaded and unpacked once)."""
    dest = os.path.join(work, "django-%s" % version)
    tests = os.path.join(dest, "tests")
    if os.path.isfile(os.path.join(tests, "runtests.py")):
        return tests
    download = os.path.join(work, "sdist")
    os.makedirs(download, exist_ok=True)
    print("downloading the Django %s sdist..." % version, flush=True)
    proc = run(
        [
            python,
            "-m",
            "pip",
            "download",
            "-q",
            "--disable-pip-version-check",
            "django==%s" % version,
            "--no-binary",
            ":all:",
            "--no-deps",
            "-d",
            download,
        ]
    )
    if proc.returncode != 0:
        raise SystemExit("pip download failed:\n%s" % proc.stderr)
    names = [
        n
        for n in os.listdir(download)
        if n.lower().startswith("django-%s" % version) and n.endswith(".tar.gz")
    ]
    if not names:
        raise SystemExit("no Django %s sdist in %s" % (version, download))
    with tarfile.open(os.path.join(download, names[0])) as tar:
        top = tar.getnames()[0].split("/")[0]
        members = [m for m in tar.getmembers() if m.name.startswith(top + "/tests/")]
        tmp = tempfile.mkdtemp(dir=work)
        tar.extractall(tmp, members=members)
    shutil.rmtree(dest, ignore_errors=True)
    os.rename(os.path.join(tmp, top), dest)
    os.rmdir(tmp)
    return tests


def psycopg2_venv(work: str, version: str) -> Optional[str]:
    """A CPython venv with psycopg2-binary and Django ``version`` (made once); None if it
    cannot be made."""
    venv = os.path.join(work, "venv-psycopg2-django-%s" % version)
    python = os.path.join(venv, "bin", "python")
    if os.path.isfile(python):
        return python
    base = shutil.which("python3")
    if base is None:
        return None
    print("making the psycopg2 venv (psycopg2-binary, Django %s)..." % version, flush=True)
    if run([base, "-m", "venv", venv]).returncode != 0:
        return None
    proc = run(
        [
            python,
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "psycopg2-binary",
            "django==%s" % version,
        ]
    )
    if proc.returncode != 0:
        print("pip install failed:\n%s" % proc.stderr, file=sys.stderr)
        shutil.rmtree(venv, ignore_errors=True)
        return None
    return python


class Result:
    """The outcome of one runtests.py run, read from its output."""

    def __init__(self, label: str, log: str, seconds: float, returncode: int) -> None:
        self.label = label
        self.log = log
        self.seconds = seconds
        self.returncode = returncode
        with open(log, encoding="utf-8", errors="replace") as f:
            text = f.read()
        m = re.search(r"^Ran (\d+) tests? in ([\d.]+)s", text, re.M)
        self.ran = int(m.group(1)) if m else 0
        self.test_seconds = float(m.group(2)) if m else 0.0
        counts: dict[str, int] = {}
        status = re.search(r"^(OK|FAILED)(?: \((.*)\))?\s*$", text, re.M)
        self.ok = bool(status and status.group(1) == "OK")
        if status and status.group(2):
            for part in status.group(2).split(","):
                key, _, value = part.strip().partition("=")
                counts[key] = int(value)
        self.failures = counts.get("failures", 0)
        self.errors = counts.get("errors", 0)
        self.skipped = counts.get("skipped", 0)
        self.expected_failures = counts.get("expected failures", 0)
        self.unexpected_successes = counts.get("unexpected successes", 0)
        self.failed = sorted(set(re.findall(r"^(?:FAIL|ERROR): (\S+ \(\S+\))", text, re.M)))
        self.complete = m is not None

    def line(self) -> str:
        if not self.complete:
            return "%-9s did not complete (exit %d): see %s" % (
                self.label,
                self.returncode,
                self.log,
            )
        passed = (
            self.ran
            - self.failures
            - self.errors
            - self.skipped
            - self.expected_failures
            - self.unexpected_successes
        )
        return "%-9s %5d tests: %5d passed, %3d failures, %3d errors, %4d skipped, " % (
            self.label,
            self.ran,
            passed,
            self.failures,
            self.errors,
            self.skipped,
        ) + "%d expected failures; %.1f s (tests %.1f s)" % (
            self.expected_failures,
            self.seconds,
            self.test_seconds,
        )


def run_suite(
    label: str, cmd: list[str], tests: str, work: str, env: dict[str, str], tag: str
) -> Result:
    log = os.path.join(work, "%s-%s.log" % (label, tag))
    print("== %s: %s" % (label, " ".join(cmd)), flush=True)
    start = time.monotonic()
    with open(log, "w") as out:
        proc = subprocess.run(cmd, cwd=tests, stdout=out, stderr=subprocess.STDOUT, env=env)
    return Result(label, log, time.monotonic() - start, proc.returncode)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--psycopg2-python", default=None)
    parser.add_argument("--no-psycopg2", action="store_true")
    parser.add_argument("--apps", nargs="+", default=DEFAULT_APPS)
    parser.add_argument(
        "--work", default=os.path.join(tempfile.gettempdir(), "wasmpg-django-suite")
    )
    parser.add_argument("--parallel", type=int, default=1)
    args = parser.parse_args()

    work = os.path.abspath(args.work)
    os.makedirs(work, exist_ok=True)
    impl, version = interpreter_info(args.python)
    if version is None:
        raise SystemExit("Django is not installed for %s" % args.python)
    print("%s with Django %s; apps: %s" % (impl, version, " ".join(args.apps)), flush=True)
    tests = django_tests(args.python, version, work)

    psycopg2_python: Optional[str] = None
    if not args.no_psycopg2:
        psycopg2_python = args.psycopg2_python or psycopg2_venv(work, version)
        if psycopg2_python is None:
            print("no psycopg2 interpreter: the comparison run is skipped", file=sys.stderr)

    sys.path.insert(0, os.path.join(PYTHON_DIR, "tests"))
    import _pgcluster

    cluster = _pgcluster.Cluster().start()
    try:
        settings_dir = os.path.join(work, "settings")
        os.makedirs(settings_dir, exist_ok=True)
        with open(os.path.join(settings_dir, "wasmpg_django_settings.py"), "w") as f:
            f.write(SETTINGS % {"host": cluster.host, "port": cluster.port})
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["PYTHONPATH"] = settings_dir
        tag = "django-%s-%s" % (version, impl.lower())
        common = [
            "--settings=wasmpg_django_settings",
            "--parallel=%d" % args.parallel,
            "--noinput",
            *args.apps,
        ]
        results = [
            run_suite(
                "wasmpg",
                [args.python, os.path.join(HERE, "boot.py"), "runtests.py", *common],
                tests,
                work,
                env,
                tag,
            )
        ]
        if psycopg2_python is not None:
            results.append(
                run_suite(
                    "psycopg2", [psycopg2_python, "runtests.py", *common], tests, work, env, tag
                )
            )
    finally:
        cluster.stop()

    print("== Django %s (%s), apps: %s" % (version, impl, " ".join(args.apps)))
    for r in results:
        print(r.line())
    mine = results[0]
    if len(results) > 1:
        theirs = set(results[1].failed)
        only = [t for t in mine.failed if t not in theirs]
        fixed = [t for t in results[1].failed if t not in set(mine.failed)]
        print("failing through wasmpg only: %d" % len(only))
        for t in only:
            print("  " + t)
        if fixed:
            print("failing through psycopg2 only: %d" % len(fixed))
            for t in fixed:
                print("  " + t)
        good = mine.complete and not only
    else:
        good = mine.complete and mine.failures == 0 and mine.errors == 0
        for t in mine.failed:
            print("  " + t)
    print("logs: %s" % ", ".join(r.log for r in results))
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
