"""The runtime: which backend calls the guest, the load-time checks and the fallback to the
wasmtime package's public API, and the guest's contract version."""

import os
import subprocess
import sys

import pytest

import wasmpg
from wasmpg import _abi, _capi, _runtime


def expected_backend():
    forced = os.environ.get("WASMPG_FFI")
    if forced:
        return forced
    return "cffi" if sys.implementation.name == "pypy" else "ctypes"


def run_python(code, **env):
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=dict(os.environ, **env),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_backend_choice():
    assert _runtime.backend_name() == expected_backend()


def test_guest_implements_this_contract():
    inst = _runtime.runtime().component.instantiate(16 << 20)
    try:
        assert inst.func(_runtime.IFACE, "version", nargs=0)("") == _abi.VERSION
    finally:
        inst.close()


def test_library_is_found_without_importing_wasmtime():
    code = (
        "import sys, wasmpg._capi as c; p = c.library_path(); "
        "print(p.exists(), 'wasmtime' in sys.modules)"
    )
    assert run_python(code) == "True False"


def test_closed_instance_raises_instead_of_crashing():
    inst = _runtime.runtime().component.instantiate(16 << 20)
    call = inst.func(_runtime.IFACE, "call")
    inst.close()
    with pytest.raises(_capi.Trap):
        call("t")


def test_mismatch_falls_back_to_the_public_api(cluster):
    """A wasmtime outside the checked range: a RuntimeWarning, then the public API runs the
    guest (correctly)."""
    code = (
        "import warnings\n"
        "import wasmpg, wasmpg._capi as c, wasmpg._runtime as r\n"
        "c.MAX_VERSION = 0\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        "    name = r.backend_name()\n"
        "conn = wasmpg.connect(%r)\n"
        "cur = conn.cursor(); cur.execute('SELECT %%s::int + 1', (41,))\n"
        "print(name, [x.category.__name__ for x in w], cur.fetchone())\n" % cluster.dsn()
    )
    out = run_python(code, WASMPG_FFI="")
    assert out == "public ['RuntimeWarning'] (42,)"


def test_forced_backend_mismatch_is_an_import_error():
    code = (
        "import wasmpg._capi as c, wasmpg._runtime as r\n"
        "c.MAX_VERSION = 0\n"
        "try:\n"
        "    r.backend_name()\n"
        "except ImportError as e:\n"
        "    print('ImportError', 'outside the range' in str(e))\n"
    )
    forced = "cffi" if sys.implementation.name == "pypy" else "ctypes"
    assert run_python(code, WASMPG_FFI=forced) == "ImportError True"


def test_public_api_runs_the_guest(cluster):
    code = (
        "import wasmpg, wasmpg._runtime as r\n"
        "conn = wasmpg.connect(%r, autocommit=True)\n"
        "cur = conn.cursor(); cur.execute(\"SELECT 'x' || %%s, 2\", ('y',))\n"
        "print(r.backend_name(), cur.fetchall())\n" % cluster.dsn()
    )
    assert run_python(code, WASMPG_FFI="public") == "public [('xy', 2)]"


def test_trap_discards_only_that_instance():
    rt = _runtime.runtime()
    a = rt.component.instantiate(16 << 20)
    b = rt.component.instantiate(16 << 20)
    try:
        call_a = a.func(_runtime.IFACE, "call")
        # Not a request the guest knows: an error step or a trap, never a crash.
        try:
            out = call_a("\x01")
        except _capi.Trap:
            assert a.closed
        else:
            assert isinstance(out, str)
        assert b.func(_runtime.IFACE, "version", nargs=0)("") == _abi.VERSION
    finally:
        a.close()
        b.close()


def test_guest_errors_map_to_exception_classes():
    err = wasmpg.errors.from_guest("db", "x", {"code": "42P01", "message": "nope"})
    assert isinstance(err, wasmpg.ProgrammingError) and err.sqlstate == "42P01"
    err = wasmpg.errors.from_guest("policy-denied", "denied", None)
    assert isinstance(err, wasmpg.OperationalError) and err.kind == "policy-denied"
