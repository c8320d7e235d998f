"""Connection strings, keyword arguments, PG* variables, the password file, timeouts,
authentication methods."""

import os
import socket
import stat
import threading
import time

import pytest

import wasmpg
from wasmpg import _env
from wasmpg._conninfo import make_conninfo


def test_make_conninfo():
    assert make_conninfo() == ""
    assert make_conninfo("host=a") == "host=a"
    assert make_conninfo("host=a", port=5, dbname=None) == "host=a port='5'"
    assert make_conninfo(database="d b", password="it's\\") == "dbname='d b' password='it\\'s\\\\'"
    assert make_conninfo("postgresql://h/db", user="u s", application_name="a&b") == (
        "postgresql://h/db?user=u%20s&application_name=a%26b"
    )
    assert make_conninfo("postgresql://h/db?sslmode=disable", port=1) == (
        "postgresql://h/db?sslmode=disable&port=1"
    )
    with pytest.raises(wasmpg.ProgrammingError):
        make_conninfo(port=True)


def test_keywords_and_quoting(cluster):
    c = wasmpg.connect(
        host="127.0.0.1",
        port=cluster.port,
        user="postgres",
        database="wasmpg_test",
        application_name="it's a test",
        options="-c search_path=pg_catalog",
        connect_timeout=5,
    )
    cur = c.cursor()
    cur.execute(
        "SELECT current_setting('application_name'), current_setting('search_path'), "
        "current_database(), current_user"
    )
    assert cur.fetchone() == ("it's a test", "pg_catalog", "wasmpg_test", "postgres")
    assert c.get_parameter_status("application_name") == "it's a test"
    assert c.server_version >= 100000
    c.close()


def test_uri(cluster):
    c = wasmpg.connect(
        "postgresql://postgres@127.0.0.1:%d/wasmpg_test" % cluster.port, application_name="uri"
    )
    cur = c.cursor()
    cur.execute("SELECT current_setting('application_name')")
    assert cur.fetchone() == ("uri",)
    c.close()


def test_environment_defaults(cluster, monkeypatch):
    monkeypatch.setenv("PGHOST", "127.0.0.1")
    monkeypatch.setenv("PGPORT", str(cluster.port))
    monkeypatch.setenv("PGUSER", "postgres")
    monkeypatch.setenv("PGDATABASE", "wasmpg_test")
    monkeypatch.setenv("PGAPPNAME", "from-env")
    c = wasmpg.connect()
    cur = c.cursor()
    cur.execute("SELECT current_setting('application_name')")
    assert cur.fetchone() == ("from-env",)
    c.close()
    # the conninfo wins over the environment
    monkeypatch.setenv("PGDATABASE", "nope")
    c = wasmpg.connect("dbname=wasmpg_test")
    c.close()


def test_os_user_is_the_default_user(monkeypatch):
    monkeypatch.delenv("PGUSER", raising=False)
    monkeypatch.setenv("USER", "someone")
    assert ("PGUSER", "someone") in _env.defaults()
    monkeypatch.setenv("PGUSER", "explicit")
    assert [v for k, v in _env.defaults() if k == "PGUSER"] == ["explicit"]
    monkeypatch.delenv("USER")
    monkeypatch.delenv("LOGNAME", raising=False)
    monkeypatch.delenv("PGUSER")
    assert _env.os_user()  # from the passwd database


@pytest.mark.parametrize(
    "role, password",
    [("pw_user", "pw_secret"), ("md5_user", "md5_secret"), ("scram_user", "scram_secret")],
)
def test_passfile(cluster, tmp_path, role, password):
    """A password file the file policy grants supplies the password (the guest matches the
    lines; the host only reads the file)."""
    path = tmp_path / "pgpass"
    path.write_text("127.0.0.1:%d:*:%s:%s\n" % (cluster.port, role, password))
    os.chmod(path, 0o600)
    c = wasmpg.connect(cluster.dsn(role), passfile=str(path), allow_files=[str(path)])
    cur = c.cursor()
    cur.execute("SELECT current_user")
    assert cur.fetchone() == (role,)
    c.close()
    # PGPASSFILE too
    os.environ["PGPASSFILE"] = str(path)
    try:
        wasmpg.connect(cluster.dsn(role), allow_files=[str(path)]).close()
    finally:
        del os.environ["PGPASSFILE"]
    # a file readable by others is ignored, as libpq does
    os.chmod(path, 0o644)
    with pytest.raises(wasmpg.OperationalError):
        wasmpg.connect(cluster.dsn(role), passfile=str(path), allow_files=[str(path)])


def test_passfile_outside_the_file_policy_is_refused(cluster, tmp_path):
    """A passfile the file policy does not grant is never opened: a policy error."""
    path = tmp_path / "pgpass"
    path.write_text("*:*:*:*:pw_secret\n")
    os.chmod(path, 0o600)
    with pytest.raises(wasmpg.OperationalError) as e:
        wasmpg.connect(cluster.dsn("pw_user"), passfile=str(path))
    assert "file policy" in str(e.value)
    assert str(path) in str(e.value)


def test_passfile_in_the_default_location(cluster, tmp_path, monkeypatch):
    """~/.pgpass is readable by default: it supplies the password end to end."""
    monkeypatch.setenv("HOME", str(tmp_path))
    path = tmp_path / ".pgpass"
    path.write_text("127.0.0.1:%d:wasmpg_test:scram_user:scram_secret\n" % cluster.port)
    os.chmod(path, 0o600)
    c = wasmpg.connect(cluster.dsn("scram_user"))
    cur = c.cursor()
    cur.execute("SELECT current_user")
    assert cur.fetchone() == ("scram_user",)
    c.close()


@pytest.mark.parametrize("role", ["trust_user", "pw_user", "md5_user", "scram_user"])
def test_authentication_methods(cluster, role):
    from _pgcluster import ROLES

    password, _method = ROLES[role]
    c = wasmpg.connect(cluster.dsn(role, password))
    cur = c.cursor()
    cur.execute("SELECT current_user")
    assert cur.fetchone() == (role,)
    c.close()
    if password is not None:
        with pytest.raises(wasmpg.OperationalError) as e:
            wasmpg.connect(cluster.dsn(role, "wrong"))
        assert e.value.sqlstate == "28P01"
        with pytest.raises(wasmpg.OperationalError, match="password"):
            wasmpg.connect(cluster.dsn(role))  # no password anywhere


def test_unix_socket(cluster):
    c = wasmpg.connect(cluster.unix_dsn())
    cur = c.cursor()
    cur.execute("SELECT inet_server_addr()")
    assert cur.fetchone() == (None,)
    c.close()


def test_connection_refused():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(wasmpg.OperationalError) as e:
        wasmpg.connect(host="127.0.0.1", port=port, user="u", dbname="d")
    assert e.value.kind == "connection-refused"


def test_connect_timeout_covers_the_handshake():
    """A server that accepts the TCP connection and never answers: connect_timeout (raised to
    libpq's minimum of 2 s) bounds the whole establishment."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(4)  # the kernel completes the handshake; nobody ever reads
    try:
        start = time.monotonic()
        with pytest.raises(wasmpg.OperationalError) as e:
            wasmpg.connect(
                host="127.0.0.1", port=s.getsockname()[1], user="u", dbname="d", connect_timeout=1
            )
        elapsed = time.monotonic() - start
        assert e.value.kind == "timeout"
        assert 1.9 < elapsed < 5, elapsed
    finally:
        s.close()


def test_read_timeout(cluster):
    c = wasmpg.connect(cluster.dsn(), read_timeout=1.0, autocommit=True)
    cur = c.cursor()
    cur.execute("SELECT 1")
    with pytest.raises(wasmpg.OperationalError) as e:
        cur.execute("SELECT pg_sleep(10)")
    assert e.value.kind == "timeout"
    assert c.closed  # the request's outcome is unknown: the connection is given up
    with pytest.raises(wasmpg.ProgrammingError):
        wasmpg.connect(cluster.dsn(), read_timeout=-1)


def test_server_closing_during_startup():
    """A 'server' that closes the connection at once."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(4)
    import threading

    def serve():
        conn, _ = s.accept()
        conn.recv(1024)
        conn.close()

    t = threading.Thread(target=serve)
    t.start()
    try:
        with pytest.raises(wasmpg.OperationalError) as e:
            wasmpg.connect(
                host="127.0.0.1", port=s.getsockname()[1], user="u", dbname="d", connect_timeout=5
            )
        assert "closed" in str(e.value)
    finally:
        t.join()
        s.close()


def test_component_cache(tmp_path):
    """The compiled component is cached on disk, keyed by its sha256 and wasmtime's version."""
    import subprocess
    import sys

    env = dict(os.environ, WASMPG_CACHE_DIR=str(tmp_path))
    code = "import wasmpg._runtime as r; r.runtime(); print('ok')"
    for _ in range(2):
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
        )
        assert out.stdout.strip() == "ok", out.stderr
    files = os.listdir(tmp_path)
    from importlib.metadata import version

    assert len(files) == 1 and files[0].endswith(".cwasm")
    assert "wasmtime-%s-" % version("wasmtime") in files[0]
    assert stat.S_ISREG(os.stat(tmp_path / files[0]).st_mode)


def test_password_callback(cluster, tmp_path, monkeypatch):
    """The per-connection password callback: asked with what the password is for when nothing
    else gave one; its answer is used, None is "no password", a wrong one is 28P01."""
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.pgpass
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.delenv("PGPASSFILE", raising=False)
    asked = []

    def token(info):
        asked.append(info)
        return "scram_secret"

    c = wasmpg.connect(cluster.dsn("scram_user"), password_callback=token)
    cur = c.cursor()
    cur.execute("SELECT current_user")
    assert cur.fetchone() == ("scram_user",)
    c.close()
    assert asked == [
        {"host": "127.0.0.1", "port": cluster.port, "dbname": "wasmpg_test", "user": "scram_user"}
    ]
    with pytest.raises(wasmpg.OperationalError, match="no password was supplied"):
        wasmpg.connect(cluster.dsn("scram_user"), password_callback=lambda info: None)
    with pytest.raises(wasmpg.Error) as e:
        wasmpg.connect(cluster.dsn("scram_user"), password_callback=lambda info: "expired-token")
    assert e.value.sqlstate == "28P01"
    with pytest.raises(wasmpg.InterfaceError, match="str or None"):
        wasmpg.connect(cluster.dsn("scram_user"), password_callback=lambda info: 42)


def test_notifications_generator(cluster):
    """``notifications()``: what came with results first, then what arrives while idle;
    ``stop_after`` and ``timeout`` end it; the server ending the session raises its error."""
    listener = wasmpg.connect(cluster.dsn(), autocommit=True)
    sender = wasmpg.connect(cluster.dsn(), autocommit=True)
    try:
        cur = listener.cursor()
        cur.execute("LISTEN wasmpg_gen")
        scur = sender.cursor()
        scur.execute("SELECT pg_backend_pid()")
        sender_pid = scur.fetchone()[0]
        scur.execute("NOTIFY wasmpg_gen, 'early'")
        time.sleep(0.2)
        cur.execute("SELECT 1")  # the notification arrives with this result
        assert [n.payload for n in listener.notifications(timeout=0)] == ["early"]
        assert listener.notifies == []  # taken
        # While idle: another thread notifies after a while.
        timer = threading.Timer(0.3, lambda: scur.execute("NOTIFY wasmpg_gen, 'late'"))
        timer.start()
        got = list(listener.notifications(timeout=10, stop_after=1))
        timer.join()
        assert got == [wasmpg.Notify(sender_pid, "wasmpg_gen", "late")]
        # Nothing more: the timeout ends it.
        started = time.monotonic()
        assert list(listener.notifications(timeout=0.3)) == []
        assert 0.25 < time.monotonic() - started < 5
        # The connection still works.
        cur.execute("SELECT 2")
        assert cur.fetchone() == (2,)
        # The server ends the session while it waits: its error.
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]
        kill = threading.Timer(0.3, scur.execute, ("SELECT pg_terminate_backend(%s)", (pid,)))
        kill.start()
        with pytest.raises(wasmpg.OperationalError) as e:
            list(listener.notifications(timeout=10))
        kill.join()
        assert e.value.sqlstate == "57P01"
        assert listener.closed
    finally:
        listener.close()
        sender.close()
