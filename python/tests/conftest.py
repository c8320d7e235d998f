"""Fixtures: one throwaway PostgreSQL cluster per test session (see _pgcluster.py).

The tests import the *installed* ``wasmpg`` package (``pip install ./python``), never the
source tree, so they check what users get, component included.
"""

from __future__ import annotations

import os
import socket
import sys
import uuid

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _pgcluster

import wasmpg


def pytest_report_header(config):  # type: ignore[no-untyped-def]
    from wasmpg import _runtime

    try:
        backend = _runtime.backend_name()
    except (ImportError, wasmpg.Error) as e:  # reported, and the tests that need it fail
        backend = "unavailable (%s)" % e
    return "wasmpg %s from %s; FFI backend: %s" % (
        wasmpg.__version__,
        os.path.dirname(wasmpg.__file__),
        backend,
    )


@pytest.fixture(scope="session", autouse=True)
def _clean_environment():  # type: ignore[no-untyped-def]
    """The runner's PG* variables must not leak into the tests."""
    saved = {k: v for k, v in os.environ.items() if k.startswith("PG")}
    for k in saved:
        del os.environ[k]
    yield
    os.environ.update(saved)


@pytest.fixture(scope="session")
def cluster():  # type: ignore[no-untyped-def]
    c = _pgcluster.Cluster().start()
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture
def dsn(cluster) -> str:  # type: ignore[no-untyped-def]
    return cluster.dsn()


@pytest.fixture
def conn(cluster):  # type: ignore[no-untyped-def]
    c = wasmpg.connect(cluster.dsn())
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def aconn(cluster):  # type: ignore[no-untyped-def]
    """An autocommit connection."""
    c = wasmpg.connect(cluster.dsn(), autocommit=True)
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def table(cluster):  # type: ignore[no-untyped-def]
    """A table name no other test uses; dropped afterwards."""
    name = "t_" + uuid.uuid4().hex[:12]
    yield name
    cluster.psql("DROP TABLE IF EXISTS %s" % name)


def is_pypy() -> bool:
    return sys.implementation.name == "pypy"


@pytest.fixture
def listener():  # type: ignore[no-untyped-def]
    """A listening TCP socket on 127.0.0.1 that records whether anything connected (see
    `accepted_nothing`): the proof that a refused target was never contacted."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    s.setblocking(False)
    yield s
    s.close()


def accepted_nothing(sock: socket.socket) -> bool:
    """Whether no connection reached the `listener`."""
    try:
        conn, _ = sock.accept()
    except BlockingIOError:
        return True
    conn.close()
    return False
