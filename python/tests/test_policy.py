"""The connection policy: a denied target is never contacted (our own listeners prove it)."""

import os
import socket
import tempfile

import pytest
from conftest import accepted_nothing

import wasmpg


def test_refused_before_any_socket(listener):
    port = listener.getsockname()[1]
    with pytest.raises(wasmpg.OperationalError) as e:
        wasmpg.connect(host="127.0.0.1", port=port, user="u", dbname="d", allow=["127.0.0.1:9"])
    message = str(e.value)
    assert "denied by policy" in message
    assert "allow 127.0.0.1:9" in message
    assert "127.0.0.1:%d" % port in message
    assert e.value.kind == "policy-denied"
    assert accepted_nothing(listener)


def test_empty_allow_list_denies_all(listener):
    port = listener.getsockname()[1]
    with pytest.raises(wasmpg.OperationalError, match="deny all"):
        wasmpg.connect(host="127.0.0.1", port=port, user="u", dbname="d", allow=[])
    assert accepted_nothing(listener)


def test_default_policy_is_the_conninfo_targets(cluster):
    c = wasmpg.connect(cluster.dsn())
    assert str(c._session.policy) == "allow 127.0.0.1:%d" % cluster.port
    c.close()


def test_multi_host_skips_denied_target(cluster, listener):
    port = listener.getsockname()[1]
    c = wasmpg.connect(
        "host=127.0.0.1,127.0.0.1 port=%d,%d user=postgres dbname=wasmpg_test"
        % (port, cluster.port),
        allow=["127.0.0.1:%d" % cluster.port],
    )
    cur = c.cursor()
    cur.execute("SELECT 1")
    assert cur.fetchone() == (1,)
    c.close()
    assert accepted_nothing(listener)


def test_all_denied_names_every_attempt(listener):
    port = listener.getsockname()[1]
    with pytest.raises(wasmpg.OperationalError) as e:
        wasmpg.connect(
            "host=127.0.0.1,localhost port=%d,%d user=u dbname=d" % (port, port),
            allow=["[::1]:5432"],
        )
    assert "could not connect to any host" in str(e.value)
    assert str(e.value).count("denied by policy") == 2
    assert accepted_nothing(listener)


def test_host_names_are_not_widened_by_resolution(listener):
    """Allowing 127.0.0.1 does not allow 'localhost', which resolves to it."""
    port = listener.getsockname()[1]
    with pytest.raises(wasmpg.OperationalError, match="denied by policy"):
        wasmpg.connect(
            host="localhost", port=port, user="u", dbname="d", allow=["127.0.0.1:%d" % port]
        )
    assert accepted_nothing(listener)


def test_entry_forms(cluster):
    c = wasmpg.connect(
        cluster.dsn(), allow=["db.example:1", "[::1]:5432", "127.0.0.1:%d" % cluster.port]
    )
    c.close()
    for bad in ["", "host", "host:", ":5432", "host:0", "host:99999", "::1:5432", "rel/path"]:
        with pytest.raises(wasmpg.InterfaceError, match="allow-list entry"):
            wasmpg.connect(cluster.dsn(), allow=[bad])
    with pytest.raises(wasmpg.InterfaceError):
        wasmpg.connect(cluster.dsn(), allow="127.0.0.1:5432")


def test_unix_socket_policy(cluster):
    c = wasmpg.connect(cluster.unix_dsn(), allow=[cluster.socket_path])
    cur = c.cursor()
    cur.execute("SELECT 1")
    assert cur.fetchone() == (1,)
    c.close()
    with pytest.raises(wasmpg.OperationalError, match="denied by policy"):
        wasmpg.connect(cluster.unix_dsn(), allow=["127.0.0.1:%d" % cluster.port])


def test_denied_unix_socket_is_not_touched():
    d = tempfile.mkdtemp()
    path = os.path.join(d, ".s.PGSQL.5432")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(4)
    s.setblocking(False)
    try:
        with pytest.raises(wasmpg.OperationalError, match="denied by policy"):
            wasmpg.connect("host=%s port=5432 user=u dbname=d" % d, allow=["/elsewhere"])
        assert accepted_nothing(s)
    finally:
        s.close()
        os.unlink(path)
        os.rmdir(d)
