"""TLS against a real server of its own (``pgcluster start --tls``: ssl=on, a CA made for it, a
certificate for ``localhost`` only, ``ssl_ca_file`` the same CA, and the role ``cert_user``
that logs in with its client certificate over TLS only): sslmode's verification levels, the
causes of failures, client certificates and keys, the system trust store, channel binding,
require_auth, and what the server saw (pg_stat_ssl). Also the host's side of the TLS files
(the answers to the guest's ``f`` actions) and of TCP keepalives.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import time

import _pgcluster
import pytest
from conftest import accepted_nothing

import wasmpg
from wasmpg import _session
from wasmpg._policy import FilePolicy
from wasmpg._socket import set_keepalive


@pytest.fixture(scope="module")
def tls_cluster():  # type: ignore[no-untyped-def]
    c = _pgcluster.Cluster().start(tls=True)
    try:
        yield c
    finally:
        c.stop()


def _conninfo(c, host: str, extra: str) -> str:  # type: ignore[no-untyped-def]
    return "host=%s port=%d user=postgres dbname=wasmpg_test %s" % (host, c.port, extra)


def _ssl(conn) -> tuple:  # type: ignore[no-untyped-def]
    cur = conn.cursor()
    cur.execute("SELECT ssl, version, cipher FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
    return tuple(cur.fetchone())


def test_verify_full_succeeds_with_chacha20(tls_cluster):  # type: ignore[no-untyped-def]
    ca = tls_cluster.ca_file
    conn = wasmpg.connect(
        _conninfo(tls_cluster, "localhost", "sslmode=verify-full sslrootcert=%s" % ca),
        allow_files=[ca],
    )
    try:
        assert _ssl(conn) == (True, "TLSv1.3", "TLS_CHACHA20_POLY1305_SHA256")
        cur = conn.cursor()
        cur.execute("SELECT repeat('z', 100000) FROM generate_series(1, 20)")
        assert [len(r[0]) for r in cur.fetchall()] == [100000] * 20
    finally:
        conn.close()


def test_a_name_not_in_the_certificate_fails(tls_cluster):  # type: ignore[no-untyped-def]
    ca = tls_cluster.ca_file
    with pytest.raises(wasmpg.OperationalError) as e:
        wasmpg.connect(
            _conninfo(tls_cluster, "127.0.0.1", "sslmode=verify-full sslrootcert=%s" % ca),
            allow_files=[ca],
        )
    assert '"127.0.0.1"' in str(e.value) and "localhost" in str(e.value), str(e.value)
    # verify-ca checks the chain only.
    conn = wasmpg.connect(
        _conninfo(tls_cluster, "127.0.0.1", "sslmode=verify-ca sslrootcert=%s" % ca),
        allow_files=[ca],
    )
    conn.close()


def test_require_and_prefer_encrypt_disable_does_not(tls_cluster):  # type: ignore[no-untyped-def]
    for mode, encrypted in (("require", True), ("prefer", True), ("disable", False)):
        conn = wasmpg.connect(_conninfo(tls_cluster, "127.0.0.1", "sslmode=" + mode))
        try:
            assert _ssl(conn)[0] is encrypted, mode
        finally:
            conn.close()


def test_require_against_a_server_without_tls(dsn):  # type: ignore[no-untyped-def]
    with pytest.raises(wasmpg.OperationalError) as e:
        wasmpg.connect(dsn + " sslmode=require")
    assert "does not support SSL" in str(e.value)
    assert e.value.kind == "tls", e.value


def test_a_root_file_outside_the_file_policy_is_denied(tls_cluster):  # type: ignore[no-untyped-def]
    ca = tls_cluster.ca_file
    with pytest.raises(wasmpg.Error) as e:
        wasmpg.connect(
            _conninfo(tls_cluster, "localhost", "sslmode=verify-full sslrootcert=%s" % ca)
        )
    assert e.value.kind == "policy-denied", e.value


# -- client certificates ----------------------------------------------------------------------


def _cert_conninfo(c, extra: str) -> str:  # type: ignore[no-untyped-def]
    return (
        "host=localhost port=%d user=%s dbname=wasmpg_test sslmode=verify-full "
        "sslrootcert=%s %s" % (c.port, c.info["cert_user"], c.ca_file, extra)
    )


def _whoami(conn) -> tuple:  # type: ignore[no-untyped-def]
    """The role, and the client certificate's subject as the server saw it."""
    cur = conn.cursor()
    cur.execute(
        "SELECT current_user, (SELECT client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid())"
    )
    return tuple(cur.fetchone())


def test_client_certificate_authenticates(tls_cluster):  # type: ignore[no-untyped-def]
    """pg_hba ``cert`` for cert_user: the server accepts the certificate the driver presents
    (its common name is the role) and the key proves it."""
    info = tls_cluster.info
    cert, key = info["client_cert"], info["client_key"]
    conn = wasmpg.connect(
        _cert_conninfo(tls_cluster, "sslcert=%s sslkey=%s" % (cert, key)),
        allow_files=[tls_cluster.ca_file, cert, key],
    )
    try:
        assert _whoami(conn) == ("cert_user", "/CN=cert_user")
    finally:
        conn.close()


def test_cert_user_without_a_certificate_is_refused_by_the_server(  # type: ignore[no-untyped-def]
    tls_cluster, tmp_path, monkeypatch
):
    """No client certificate: the server's ``cert`` method refuses (SQLSTATE 28000, invalid
    authorization); so does its ``hostnossl ... reject`` line without TLS."""
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.postgresql/postgresql.crt either
    with pytest.raises(wasmpg.OperationalError) as e:
        wasmpg.connect(_cert_conninfo(tls_cluster, ""), allow_files=[tls_cluster.ca_file])
    assert e.value.sqlstate == "28000", e.value
    assert "certificate" in str(e.value), e.value
    with pytest.raises(wasmpg.OperationalError) as e:
        wasmpg.connect(
            _conninfo(tls_cluster, "127.0.0.1", "sslmode=disable").replace(
                "user=postgres", "user=cert_user"
            )
        )
    assert e.value.sqlstate == "28000", e.value
    assert "no encryption" in str(e.value), e.value


def test_encrypted_key_with_its_password(tls_cluster):  # type: ignore[no-untyped-def]
    info = tls_cluster.info
    cert, key = info["client_cert"], info["client_key_encrypted"]
    conn = wasmpg.connect(
        _cert_conninfo(tls_cluster, "sslcert=%s sslkey=%s" % (cert, key)),
        sslpassword=info["client_key_password"],
        allow_files=[tls_cluster.ca_file, cert, key],
    )
    try:
        assert _whoami(conn) == ("cert_user", "/CN=cert_user")
    finally:
        conn.close()


@pytest.mark.parametrize("password", ["wrong password", None])
def test_a_key_that_cannot_be_decrypted_fails_before_connecting(  # type: ignore[no-untyped-def]
    tls_cluster, listener, password
):
    """A wrong sslpassword (or none) for the encrypted key: the error names sslpassword, and
    the files are read before the first connection, so no server is contacted at all."""
    info = tls_cluster.info
    cert, key = info["client_cert"], info["client_key_encrypted"]
    conninfo = (
        "host=127.0.0.1 port=%d user=cert_user dbname=d sslmode=require "
        "sslcert=%s sslkey=%s" % (listener.getsockname()[1], cert, key)
    )
    kwargs = {} if password is None else {"sslpassword": password}
    with pytest.raises(wasmpg.Error) as e:
        wasmpg.connect(conninfo, allow_files=[cert, key], **kwargs)
    assert "sslpassword" in str(e.value), e.value
    assert e.value.kind == "config", e.value
    assert accepted_nothing(listener)


def test_a_key_others_may_read_is_refused(tls_cluster, tmp_path):  # type: ignore[no-untyped-def]
    """libpq's rule: a key owned by the user must give group and others no access. A 0644
    copy is refused before any connection; the same copy at 0600 is accepted by the server."""
    info = tls_cluster.info
    cert = info["client_cert"]
    key = str(tmp_path / "client.key")
    shutil.copyfile(info["client_key"], key)
    os.chmod(key, 0o644)
    conninfo = _cert_conninfo(tls_cluster, "sslcert=%s sslkey=%s" % (cert, key))
    files = [tls_cluster.ca_file, cert, key]
    with pytest.raises(wasmpg.Error) as e:
        wasmpg.connect(conninfo, allow_files=files)
    assert "group or world access" in str(e.value), e.value
    assert key in str(e.value)
    os.chmod(key, 0o600)
    conn = wasmpg.connect(conninfo, allow_files=files)
    try:
        assert _whoami(conn)[0] == "cert_user"
    finally:
        conn.close()


def test_the_default_files_under_dot_postgresql(tls_cluster, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """Without sslrootcert, sslcert and sslkey the driver reads libpq's defaults,
    ~/.postgresql/root.crt, postgresql.crt and postgresql.key, which the default file policy
    allows: verify-full works, and cert_user logs in with the certificate found there."""
    home = tmp_path / "home"
    ssl_dir = home / ".postgresql"
    ssl_dir.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    info = tls_cluster.info
    conninfo = "host=localhost port=%d user=%%s dbname=wasmpg_test sslmode=verify-full" % (
        tls_cluster.port
    )
    # Nothing there: verify-full has no root certificate.
    with pytest.raises(wasmpg.Error) as e:
        wasmpg.connect(conninfo % "postgres")
    assert "root.crt" in str(e.value) and str(ssl_dir) in str(e.value), e.value
    shutil.copyfile(tls_cluster.ca_file, ssl_dir / "root.crt")
    conn = wasmpg.connect(conninfo % "postgres")
    try:
        assert _whoami(conn) == ("postgres", None)
        assert _ssl(conn)[0] is True
    finally:
        conn.close()
    shutil.copyfile(info["client_cert"], ssl_dir / "postgresql.crt")
    shutil.copyfile(info["client_key"], ssl_dir / "postgresql.key")
    os.chmod(ssl_dir / "postgresql.key", 0o600)
    conn = wasmpg.connect(conninfo % "cert_user")
    try:
        assert _whoami(conn) == ("cert_user", "/CN=cert_user")
    finally:
        conn.close()


# -- TLS failures and the system trust store -------------------------------------------------


def test_tls_failures_have_kind_tls(tls_cluster):  # type: ignore[no-untyped-def]
    """A certificate for another name, and one from a CA the roots do not hold: kind ``tls``,
    an OperationalError."""
    ca = tls_cluster.ca_file
    with pytest.raises(wasmpg.OperationalError) as e:
        wasmpg.connect(
            _conninfo(tls_cluster, "127.0.0.1", "sslmode=verify-full sslrootcert=%s" % ca),
            allow_files=[ca],
        )
    assert e.value.kind == "tls", e.value
    bundle = _session.system_roots()
    if bundle is None:
        pytest.skip("this system has no CA bundle")
    with pytest.raises(wasmpg.OperationalError) as e:
        wasmpg.connect(
            _conninfo(tls_cluster, "localhost", "sslmode=verify-ca sslrootcert=%s" % bundle),
            allow_files=[bundle],
        )
    assert e.value.kind == "tls", e.value
    assert "unknown issuer" in str(e.value), e.value


def test_sslrootcert_system_uses_the_system_store(tls_cluster, monkeypatch):  # type: ignore[no-untyped-def]
    """sslrootcert=system (sslmode then defaults to verify-full): the host's CA bundle, which
    does not hold the test server's private CA, so the server's certificate is refused."""
    if _session.system_roots() is None:
        pytest.skip("this system has no CA bundle")
    with pytest.raises(wasmpg.OperationalError) as e:
        wasmpg.connect(_conninfo(tls_cluster, "localhost", "sslrootcert=system"))
    assert e.value.kind == "tls", e.value
    assert "unknown issuer" in str(e.value), e.value


def test_sslrootcert_system_reads_ssl_cert_file(tls_cluster, monkeypatch):  # type: ignore[no-untyped-def]
    """$SSL_CERT_FILE is the system store (OpenSSL's rule): pointed at the test CA, the same
    conninfo verifies the server, with no allow_files (the store is not the conninfo's path);
    pointed at nothing, there is no store to give."""
    monkeypatch.setenv("SSL_CERT_FILE", tls_cluster.ca_file)
    conn = wasmpg.connect(_conninfo(tls_cluster, "localhost", "sslrootcert=system"))
    try:
        assert _ssl(conn)[0] is True
    finally:
        conn.close()
    # verify-full is the default: the name is checked.
    with pytest.raises(wasmpg.OperationalError) as e:
        wasmpg.connect(_conninfo(tls_cluster, "127.0.0.1", "sslrootcert=system"))
    assert e.value.kind == "tls", e.value
    monkeypatch.setenv("SSL_CERT_FILE", os.path.join(tls_cluster.dir, "no-such-bundle.pem"))
    with pytest.raises(wasmpg.Error) as e:
        wasmpg.connect(_conninfo(tls_cluster, "localhost", "sslrootcert=system"))
    assert "system trust store" in str(e.value), e.value


# -- channel binding and require_auth --------------------------------------------------------


def _user(c, user: str, password: str, extra: str) -> str:  # type: ignore[no-untyped-def]
    return "host=127.0.0.1 port=%d user=%s password=%s dbname=wasmpg_test %s" % (
        c.port,
        user,
        password,
        extra,
    )


def test_channel_binding_required_over_tls(tls_cluster):  # type: ignore[no-untyped-def]
    conn = wasmpg.connect(
        _user(tls_cluster, "scram_user", "scram_secret", "sslmode=require channel_binding=require")
    )
    try:
        cur = conn.cursor()
        cur.execute("SELECT current_user")
        assert cur.fetchone() == ("scram_user",)
        assert _ssl(conn)[0] is True
    finally:
        conn.close()


def test_channel_binding_required_but_md5(tls_cluster):  # type: ignore[no-untyped-def]
    """md5 cannot bind the channel: the driver refuses to authenticate with it."""
    with pytest.raises(wasmpg.OperationalError) as e:
        wasmpg.connect(
            _user(tls_cluster, "md5_user", "md5_secret", "sslmode=require channel_binding=require")
        )
    assert "channel binding" in str(e.value), e.value


def test_channel_binding_required_without_tls(tls_cluster):  # type: ignore[no-untyped-def]
    with pytest.raises(wasmpg.OperationalError) as e:
        wasmpg.connect(
            _user(
                tls_cluster, "scram_user", "scram_secret", "sslmode=disable channel_binding=require"
            )
        )
    assert "SSL is not in use" in str(e.value), e.value


def test_require_auth(tls_cluster):  # type: ignore[no-untyped-def]
    """require_auth names the methods the server may use: SCRAM is not md5; trust is no
    authentication at all; SCRAM satisfies scram-sha-256."""
    with pytest.raises(wasmpg.OperationalError) as e:
        wasmpg.connect(_user(tls_cluster, "scram_user", "scram_secret", "require_auth=md5"))
    assert 'authentication method requirement "md5" failed' in str(e.value), e.value
    with pytest.raises(wasmpg.OperationalError) as e:
        wasmpg.connect(_conninfo(tls_cluster, "127.0.0.1", "require_auth=scram-sha-256"))
    assert "server did not complete authentication" in str(e.value), e.value
    conn = wasmpg.connect(
        _user(tls_cluster, "scram_user", "scram_secret", "require_auth=scram-sha-256")
    )
    try:
        cur = conn.cursor()
        cur.execute("SELECT current_user")
        assert cur.fetchone() == ("scram_user",)
    finally:
        conn.close()


# -- the host's answers to the guest's file requests (no server) -----------------------------


def _stat(mode: int, uid: int) -> os.stat_result:
    return os.stat_result((0o100000 | mode, 0, 0, 1, uid, 0, 0, 0, 0, 0))


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_the_permission_rule_of_each_purpose():
    """libpq's rules: the password file and a key owned by the user allow no access to group
    or others; a root-owned key allows group read (0640); a key owned by anybody else is not
    checked; certificates and revocation lists are public."""
    me, other = os.geteuid(), os.geteuid() + 4242
    assert [
        _session.file_rule(p)
        for p in ("passfile", "sslrootcert", "sslcert", "sslcrl", "sslkey", "whatever")
    ] == ["passfile", "public", "public", "public", "key", "passfile"]
    for purpose in ("passfile", "sslkey"):
        assert not _session.too_open(purpose, _stat(0o600, me))
        assert _session.too_open(purpose, _stat(0o640, me))
        assert _session.too_open(purpose, _stat(0o604, me))
    for purpose in ("sslrootcert", "sslcert", "sslcrl"):
        assert not _session.too_open(purpose, _stat(0o666, me))
    if me != 0:
        assert not _session.too_open("sslkey", _stat(0o640, 0))
        assert _session.too_open("sslkey", _stat(0o660, 0))
        assert _session.too_open("sslkey", _stat(0o644, 0))
    assert not _session.too_open("sslkey", _stat(0o644, other))
    assert _session.too_open("passfile", _stat(0o644, other))


def test_file_answers_are_the_bytes(tmp_path):  # type: ignore[no-untyped-def]
    """A file is answered byte for byte (``Y``): a DER key or certificate is not text."""
    path = tmp_path / "key.der"
    data = bytes(range(256)) + b"\x1d\x00"
    path.write_bytes(data)
    os.chmod(path, 0o600)
    policy = FilePolicy.default([str(path)])
    assert _session.read_file(policy, str(path), "sslkey") == data
    os.chmod(path, 0o644)
    assert _session.read_file(policy, str(path), "sslkey")[0] == "too-open"
    assert _session.read_file(policy, str(path), "sslcert") == data
    denied = FilePolicy.default([])
    assert _session.read_file(denied, str(path), "sslcert")[0] == "denied"
    assert _session.read_file(policy, str(tmp_path / "nope"), "sslcrl")[0] == "denied"
    assert (
        _session.read_file(FilePolicy([], [str(tmp_path)]), str(tmp_path / "nope"), "sslcrl")[0]
        == "missing"
    )


def test_the_system_store_is_read_without_the_policy(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    deny_all = FilePolicy([], [])
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(b"-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    assert _session.read_file(deny_all, "system", "sslrootcert") == bundle.read_bytes()
    # Only for sslrootcert: elsewhere "system" is a relative path, which no policy allows.
    assert _session.read_file(deny_all, "system", "sslcert")[0] == "denied"
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "none.pem"))
    assert _session.read_file(deny_all, "system", "sslrootcert")[0] == "missing"
    monkeypatch.delenv("SSL_CERT_FILE")
    default = ssl.get_default_verify_paths().cafile
    if default is not None:
        with open(default, "rb") as f:
            assert _session.read_file(deny_all, "system", "sslrootcert") == f.read()


def test_the_init_options_name_the_default_ssl_dir(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HOME", str(tmp_path))
    options = dict(_session._init_options(1 << 20, 16))
    assert options["default_ssl_dir"] == os.path.join(str(tmp_path), ".postgresql")
    assert options["default_passfile"] == os.path.join(str(tmp_path), ".pgpass")
    assert FilePolicy.default().allows(os.path.join(str(tmp_path), ".postgresql", "root.crt"))


# -- TCP keepalives ---------------------------------------------------------------------------


@pytest.fixture
def tcp_pair():  # type: ignore[no-untyped-def]
    """A connected TCP socket (the client end) on 127.0.0.1."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.create_connection(server.getsockname())
    accepted, _ = server.accept()
    try:
        yield client
    finally:
        client.close()
        accepted.close()
        server.close()


def _keepalive_of(sock: socket.socket) -> tuple:
    """(SO_KEEPALIVE, idle, interval, count) as the kernel reports them."""
    on = sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) != 0
    return (
        on,
        sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
        sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
        sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT),
    )


_LINUX_KEEPALIVE = pytest.mark.skipif(
    not all(hasattr(socket, n) for n in ("TCP_KEEPIDLE", "TCP_KEEPINTVL", "TCP_KEEPCNT")),
    reason="needs TCP_KEEPIDLE, TCP_KEEPINTVL and TCP_KEEPCNT",
)


@_LINUX_KEEPALIVE
def test_set_keepalive_on_a_socket(tcp_pair):  # type: ignore[no-untyped-def]
    before = _keepalive_of(tcp_pair)
    assert before[0] is False
    set_keepalive(tcp_pair, (True, 7, 3, 4))
    assert _keepalive_of(tcp_pair) == (True, 7, 3, 4)
    # Items not given keep what the socket has.
    set_keepalive(tcp_pair, (True, 11, None, None))
    assert _keepalive_of(tcp_pair) == (True, 11, 3, 4)
    set_keepalive(tcp_pair, (False, None, None, None))
    assert _keepalive_of(tcp_pair)[0] is False
    # A value the kernel refuses (an idle time of 0) keeps the previous one: best effort.
    set_keepalive(tcp_pair, (True, 0, None, 4294967295))
    assert _keepalive_of(tcp_pair) == (True, 11, 3, 4)


def _socket_of(conn) -> socket.socket:  # type: ignore[no-untyped-def]
    sock = conn._session._io.sock
    assert sock is not None
    return sock


@_LINUX_KEEPALIVE
def test_keepalive_keywords_reach_the_socket(cluster):  # type: ignore[no-untyped-def]
    """libpq's keepalives* keywords, end to end: the guest's ``o`` action carries them and the
    host sets them on the connection's socket; libpq's default is keepalives on."""
    conn = wasmpg.connect(
        cluster.dsn() + " keepalives_idle=7 keepalives_interval=3 keepalives_count=4"
    )
    try:
        assert _keepalive_of(_socket_of(conn)) == (True, 7, 3, 4)
        cur = conn.cursor()
        cur.execute("SELECT 1")
        assert cur.fetchone() == (1,)
    finally:
        conn.close()
    conn = wasmpg.connect(cluster.dsn())
    try:
        assert _keepalive_of(_socket_of(conn))[0] is True
    finally:
        conn.close()
    conn = wasmpg.connect(cluster.dsn() + " keepalives=0 keepalives_idle=7")
    try:
        assert _keepalive_of(_socket_of(conn))[0] is False
    finally:
        conn.close()


def test_keepalives_are_for_tcp_only(cluster, monkeypatch):  # type: ignore[no-untyped-def]
    """What the ``o`` action carries, as the host receives it: the keywords for TCP (libpq's
    default, on with the system's times, when none is given), nothing for a Unix socket."""
    from wasmpg import _socket

    seen = []

    def spy(sock, keepalive):  # type: ignore[no-untyped-def]
        seen.append((sock.family, keepalive))
        set_keepalive(sock, keepalive)

    monkeypatch.setattr(_socket, "set_keepalive", spy)
    wasmpg.connect(cluster.dsn()).close()
    wasmpg.connect(cluster.dsn() + " keepalives_idle=7 keepalives_count=4").close()
    wasmpg.connect(cluster.dsn() + " keepalives=0").close()
    wasmpg.connect(cluster.unix_dsn() + " keepalives_idle=7").close()
    assert seen == [
        (socket.AF_INET, (True, None, None, None)),
        (socket.AF_INET, (True, 7, None, 4)),
        (socket.AF_INET, (False, None, None, None)),
    ]


def test_cancel_over_tls(tls_cluster):  # type: ignore[no-untyped-def]
    """A session over TLS cancels over TLS too (its token carries the TLS settings and roots):
    the server cancels the statement (57014) and the session stays usable."""
    import threading

    ca = tls_cluster.ca_file
    conn = wasmpg.connect(
        _conninfo(tls_cluster, "localhost", "sslmode=verify-full sslrootcert=%s" % ca),
        allow_files=[ca],
    )
    try:
        timer = threading.Timer(1.0, conn.cancel)
        timer.start()
        cur = conn.cursor()
        started = time.monotonic()
        with pytest.raises(wasmpg.Error) as e:
            cur.execute("SELECT pg_sleep(30)")
        timer.join()
        assert e.value.sqlstate == "57014"
        assert time.monotonic() - started < 20
        if not conn.autocommit:
            conn.rollback()
        cur.execute("SELECT 1")
        assert cur.fetchone() == (1,)
    finally:
        conn.close()


def test_asyncio_over_tls(tls_cluster):  # type: ignore[no-untyped-def]
    """The asyncio connection over TLS (verify-full): the same guest does TLS, the async host
    only moves bytes; a big result, and a cancel request over TLS from another task."""
    import asyncio

    ca = tls_cluster.ca_file

    async def main() -> None:
        conn = await wasmpg.AsyncConnection.connect(
            _conninfo(tls_cluster, "localhost", "sslmode=verify-full sslrootcert=%s" % ca),
            allow_files=[ca],
            autocommit=True,
        )
        try:
            cur = await conn.execute(
                "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
            )
            assert await cur.fetchone() == (True, "TLSv1.3")
            await cur.execute("SELECT repeat('z', 100000) FROM generate_series(1, 20)")
            assert [len(r[0]) for r in await cur.fetchall()] == [100000] * 20

            async def later() -> None:
                await asyncio.sleep(0.5)
                await conn.cancel()

            t = asyncio.ensure_future(later())
            with pytest.raises(wasmpg.QueryCanceledError):
                await cur.execute("SELECT pg_sleep(30)")
            await t
            await cur.execute("SELECT 1")
            assert await cur.fetchone() == (1,)
        finally:
            await conn.close()

    asyncio.run(main())
