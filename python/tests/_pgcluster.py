"""A throwaway PostgreSQL cluster for the tests and the benchmark (standard library only).

``Cluster.start()`` runs initdb and pg_ctl into a fresh directory under the temp directory, on a
free port, listening on 127.0.0.1 and on a Unix socket inside that directory; ``stop()`` stops
it and removes the directory. PostgreSQL refuses to run as root, so when this process is root
the server commands run as the ``postgres`` OS user.

Roles, as in the Rust tests (``tests/src/cluster.rs``); every Unix-socket connection is trusted:

==============  ==============  ==================  ==========
role            password        TCP method          stored as
==============  ==============  ==================  ==========
postgres        -               trust               -
trust_user      -               trust               -
pw_user         pw_secret       password            SCRAM
md5_user        md5_secret      md5                 MD5
scram_user      scram_secret    scram-sha-256       SCRAM
==============  ==============  ==================  ==========

``WASMPG_PG_BINDIR`` overrides the bin directory; ``WASMPG_TEST_KEEP=1`` keeps the cluster.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from typing import List, Optional

DBNAME = "wasmpg_test"

PG_HBA = """\
local all all                     trust
host  all postgres   127.0.0.1/32 trust
host  all trust_user 127.0.0.1/32 trust
host  all pw_user    127.0.0.1/32 password
host  all md5_user   127.0.0.1/32 md5
host  all scram_user 127.0.0.1/32 scram-sha-256
host  all all        127.0.0.1/32 scram-sha-256
"""

SETUP_SQL = """\
CREATE ROLE trust_user LOGIN;
SET password_encryption = 'scram-sha-256';
CREATE ROLE pw_user LOGIN PASSWORD 'pw_secret';
CREATE ROLE scram_user LOGIN PASSWORD 'scram_secret';
SET password_encryption = 'md5';
CREATE ROLE md5_user LOGIN PASSWORD 'md5_secret';
CREATE DATABASE wasmpg_test OWNER postgres;
"""

ROLES = {
    "trust_user": (None, "trust"),
    "pw_user": ("pw_secret", "password"),
    "md5_user": ("md5_secret", "md5"),
    "scram_user": ("scram_secret", "scram-sha-256"),
}


def find_bindir() -> str:
    env = os.environ.get("WASMPG_PG_BINDIR")
    if env:
        return env
    try:
        out = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, timeout=30
        ).stdout.strip()
        if out and os.path.isfile(os.path.join(out, "initdb")):
            return out
    except (OSError, subprocess.SubprocessError):
        pass
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(p.split("/")[-2]) if p.split("/")[-2].isdigit() else 0,
    )
    for c in reversed(candidates):
        if os.path.isfile(os.path.join(c, "initdb")):
            return c
    raise RuntimeError(
        "PostgreSQL server binaries not found (install Debian's postgresql package or set "
        "WASMPG_PG_BINDIR)"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A running throwaway cluster."""

    def __init__(self) -> None:
        self.bindir = find_bindir()
        self.host = "127.0.0.1"
        self.port = 0
        self.dir = ""
        self.data_dir = ""
        self.log_file = ""
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

    def _run(self, args: List[str], stdin: Optional[str] = None, check: bool = True):  # type: ignore[no-untyped-def]
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
        proc = self._run(
            [
                os.path.join(self.bindir, "psql"),
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

    def start(self) -> "Cluster":
        if os.geteuid() == 0:
            try:
                self._account = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError("running as root, but there is no 'postgres' OS user") from None
        self.dir = tempfile.mkdtemp(prefix="wasmpg-pytest-")
        os.chmod(self.dir, 0o700)
        if self._account is not None:
            os.chown(self.dir, self._account.pw_uid, self._account.pw_gid)
        self.data_dir = os.path.join(self.dir, "data")
        self.log_file = os.path.join(self.dir, "server.log")
        try:
            self._run(
                [
                    os.path.join(self.bindir, "initdb"),
                    "-D",
                    self.data_dir,
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                ]
            )
            with open(os.path.join(self.data_dir, "pg_hba.conf"), "w") as f:
                f.write(PG_HBA)
            with open(os.path.join(self.data_dir, "postgresql.conf"), "a") as f:
                f.write(
                    "\nlisten_addresses = '127.0.0.1'\n"
                    "unix_socket_directories = '%s'\n"
                    "max_connections = 100\n"
                    "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                    "log_connections = on\n" % self.dir
                )
            last = ""
            for _attempt in range(5):
                self.port = free_port()
                proc = self._run(
                    [
                        os.path.join(self.bindir, "pg_ctl"),
                        "start",
                        "-w",
                        "-t",
                        "60",
                        "-D",
                        self.data_dir,
                        "-l",
                        self.log_file,
                        "-o",
                        "-p %d" % self.port,
                    ],
                    check=False,
                )
                if proc.returncode == 0:
                    break
                last = proc.stdout + proc.stderr + self.log_tail()
            else:
                raise RuntimeError("pg_ctl start failed:\n" + last)
            self._run(
                [
                    os.path.join(self.bindir, "psql"),
                    "-X",
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
                    "postgres",
                ],
                stdin=SETUP_SQL,
            )
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if os.getpid() != self._owner_pid or not self.dir:
            return
        if os.environ.get("WASMPG_TEST_KEEP"):
            return
        if self.data_dir and os.path.isdir(self.data_dir):
            self._run(
                [
                    os.path.join(self.bindir, "pg_ctl"),
                    "stop",
                    "-m",
                    "immediate",
                    "-w",
                    "-D",
                    self.data_dir,
                ],
                check=False,
            )
        shutil.rmtree(self.dir, ignore_errors=True)
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
