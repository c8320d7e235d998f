"""TLS against a real server of its own (``pgcluster start --tls``: ssl=on, a CA made for it, a
certificate for ``localhost`` only): sslmode's verification levels, the causes of failures, and
what the server saw (pg_stat_ssl)."""

from __future__ import annotations

import _pgcluster
import pytest

import wasmpg


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


def test_a_root_file_outside_the_file_policy_is_denied(tls_cluster):  # type: ignore[no-untyped-def]
    ca = tls_cluster.ca_file
    with pytest.raises(wasmpg.Error) as e:
        wasmpg.connect(
            _conninfo(tls_cluster, "localhost", "sslmode=verify-full sslrootcert=%s" % ca)
        )
    assert e.value.kind == "policy-denied", e.value
