"""A throwaway PostgreSQL cluster for the tests and the benchmark, through the ``pgcluster``
binary (the workspace crate ``pgcluster/``, the one implementation the Rust tests use too).

``Cluster().start()`` runs ``pgcluster start --json``: a cluster in a fresh directory under the
temp directory, on a free port, listening on 127.0.0.1 and on a Unix socket inside that
directory (as the ``postgres`` OS user when this process is root). ``stop()`` runs
``pgcluster stop``, which stops it and removes the directory.

Roles (from the JSON ``pgcluster`` prints, into ``ROLES`` at start); every Unix-socket connection
is trusted:

==============  ==============  ==================  ==========
role            password        TCP method          stored as
==============  ==============  ==================  ==========
postgres        -               trust               -
trust_user      -               trust               -
pw_user         pw_secret       password            SCRAM
md5_user        md5_secret      md5                 MD5
scram_user      scram_secret    scram-sha-256       SCRAM
==============  ==============  ==================  ==========

The binary: ``$WASMPG_PGCLUSTER``, else ``target/release/pgcluster`` of this repository (under
``$CARGO_TARGET_DIR`` if set), built with ``cargo build --release -p wasmpg-pgcluster`` when
missing. ``WASMPG_PG_BINDIR`` overrides the PostgreSQL bin directory; ``WASMPG_TEST_KEEP=1``
keeps the cluster.
"""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys
import time
from typing import Optional

DBNAME = "wasmpg_test"

#: role name -> (password or None, pg_hba.conf method over TCP); filled from pgcluster's JSON.
ROLES: dict[str, tuple[Optional[str], str]] = {}

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def pgcluster_binary() -> str:
    """The ``pgcluster`` binary: ``$WASMPG_PGCLUSTER``, else this repository's release build
    (built here if missing)."""
    env = os.environ.get("WASMPG_PGCLUSTER")
    if env:
        return env
    target = os.environ.get("CARGO_TARGET_DIR") or "target"
    path = os.path.join(REPO, target, "release", "pgcluster")
    if os.path.isfile(path):
        return path
    build = ["cargo", "build", "--release", "-p", "wasmpg-pgcluster"]
    print("_pgcluster: %s not built; running %s" % (path, " ".join(build)), file=sys.stderr)
    try:
        proc = subprocess.run(build, cwd=REPO, capture_output=True, text=True, timeout=1800)
    except (OSError, subprocess.SubprocessError) as e:
        raise RuntimeError(
            "the pgcluster binary is not built (%s) and cargo failed: %s; set WASMPG_PGCLUSTER"
            % (path, e)
        ) from None
    if proc.returncode != 0 or not os.path.isfile(path):
        raise RuntimeError("%s failed:\n%s" % (" ".join(build), proc.stderr[-3000:]))
    return path


class Cluster:
    """A running throwaway cluster."""

    def __init__(self) -> None:
        self.pgcluster = ""
        self.bindir = ""
        self.host = "127.0.0.1"
        self.port = 0
        self.dir = ""
        self.data_dir = ""
        self.log_file = ""
        self.info: dict = {}
        self._account: Optional[pwd.struct_passwd] = None
        self._owner_pid = os.getpid()

    # -- commands --

    def _preexec(self):  # type: ignore[no-untyped-def]
        account = self._account
        if account is None:
            return None

        def drop() -> None:
            os.setgid(account.pw_gid)
            os.setuid(account.pw_uid)

        return drop

    def _run(self, args: list[str], stdin: Optional[str] = None, check: bool = True):  # type: ignore[no-untyped-def]
        env = dict(os.environ)
        for k in list(env):
            if k.startswith("PG"):
                del env[k]
        env["LC_ALL"] = "C"
        if self._account is not None:
            env["HOME"] = self.dir
            env["USER"] = env["LOGNAME"] = self._account.pw_name
        proc = subprocess.run(
            args,
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            cwd=self.dir,
            preexec_fn=self._preexec(),
            timeout=120,
        )
        if check and proc.returncode != 0:
            raise RuntimeError(
                "%s failed (%d):\n%s%s%s"
                % (args[0], proc.returncode, proc.stdout, proc.stderr, self.log_tail())
            )
        return proc

    def psql(self, sql: str, db: str = DBNAME) -> str:
        """Runs SQL with the real psql as the superuser over the Unix socket; output rows are
        lines, fields separated by ``|``."""
        psql = os.path.join(self.bindir, "psql")
        proc = self._run(
            [
                psql if os.path.isfile(psql) else "psql",
                "-X",
                "-A",
                "-t",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                self.dir,
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                db,
                "-c",
                sql,
            ]
        )
        return proc.stdout.rstrip("\n")

    def log_tail(self, n: int = 40) -> str:
        try:
            with open(self.log_file, encoding="utf-8", errors="replace") as f:
                return "\n--- server log ---\n" + "".join(f.readlines()[-n:])
        except OSError:
            return ""

    # -- lifecycle --

    def start(self, tls: bool = False) -> Cluster:
        """Starts the cluster; with `tls`, ssl=on and a CA of its own (``self.ca_file``)."""
        if os.geteuid() == 0:
            try:
                self._account = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError("running as root, but there is no 'postgres' OS user") from None
        self.pgcluster = pgcluster_binary()
        args = [self.pgcluster, "start", "--json", "--prefix", "wasmpg-pytest-"]
        if tls:
            args.append("--tls")
        proc = subprocess.run(args, capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise RuntimeError(
                "%s failed (%d):\n%s%s"
                % (" ".join(args), proc.returncode, proc.stdout, proc.stderr)
            )
        try:
            info = json.loads(proc.stdout)
        except ValueError as e:
            raise RuntimeError("pgcluster printed no JSON (%s):\n%s" % (e, proc.stdout)) from None
        self.info = info
        self.bindir = info["bindir"]
        self.host = info["host"]
        self.port = int(info["port"])
        self.dir = info["socket_dir"]
        self.data_dir = info["data_dir"]
        self.log_file = info["log_file"]
        self.ca_file = info.get("ca_file")
        for role in info["roles"]:
            if not role["superuser"]:
                ROLES[role["name"]] = (role["password"], role["method"])
        return self

    def stop(self) -> None:
        if os.getpid() != self._owner_pid or not self.dir:
            return
        if os.environ.get("WASMPG_TEST_KEEP"):
            return
        proc = subprocess.run(
            [self.pgcluster, "stop", "--immediate", self.data_dir],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if proc.returncode != 0:
            print("_pgcluster: pgcluster stop failed: %s" % proc.stderr.strip(), file=sys.stderr)
        self.dir = ""

    # -- connection strings --

    def dsn(self, user: str = "postgres", password: Optional[str] = None) -> str:
        s = "host=%s port=%d user=%s dbname=%s" % (self.host, self.port, user, DBNAME)
        if password is not None:
            s += " password='%s'" % password
        return s

    def unix_dsn(self, user: str = "postgres") -> str:
        return "host=%s port=%d user=%s dbname=%s" % (self.dir, self.port, user, DBNAME)

    @property
    def socket_path(self) -> str:
        return os.path.join(self.dir, ".s.PGSQL.%d" % self.port)

    def server_version_num(self) -> int:
        return int(self.psql("SHOW server_version_num"))


def wait_until(probe, timeout: float = 10.0, interval: float = 0.02) -> bool:  # type: ignore[no-untyped-def]
    """Polls ``probe()`` until it is true or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return True
        time.sleep(interval)
    return bool(probe())
