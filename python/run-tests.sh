#!/usr/bin/env bash
# Runs the wasmpg Python test suite under CPython (python3) and PyPy (pypy3), each in a fresh
# virtual environment with `pip install ./python pytest` (no compiler needed), and fails if
# either run fails or collects no tests.
#
# Needs: python3 (3.9+) with venv, pypy3 with venv (Debian: apt-get install pypy3 pypy3-venv),
# the PostgreSQL server binaries (the tests start their own throwaway cluster with the `pgcluster`
# binary: $WASMPG_PGCLUSTER, else target/release/pgcluster, built with cargo if missing), and the
# guest component (built by `cargo build --release -p wasmpg`, or built here by setup.py with cargo).
#
# Environment: WASMPG_PYTHONS="python3 pypy3" picks the interpreters; WASMPG_KEEP_VENVS=1 keeps
# the venvs (their directory is printed); extra arguments go to pytest.
set -uo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
pythons="${WASMPG_PYTHONS:-python3 pypy3}"
work="$(mktemp -d "${TMPDIR:-/tmp}/wasmpg-venvs.XXXXXX")"
if [ -z "${WASMPG_KEEP_VENVS:-}" ]; then
    trap 'rm -rf "$work"' EXIT
else
    echo "venvs kept in $work"
fi

overall=0
summary=()
for py in $pythons; do
    echo "== $py"
    if ! command -v "$py" >/dev/null 2>&1; then
        echo "FAIL: $py not found"
        summary+=("$py: interpreter not found")
        overall=1
        continue
    fi
    venv="$work/$py"
    if ! "$py" -m venv "$venv"; then
        summary+=("$py: cannot create a venv")
        overall=1
        continue
    fi
    # A fresh pip in a fresh venv: some distributions ship an old one.
    "$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
    if ! "$venv/bin/python" -m pip install -q --disable-pip-version-check "$here" pytest; then
        summary+=("$py: pip install failed")
        overall=1
        continue
    fi
    "$venv/bin/python" -c 'import platform, wasmtime, wasmpg._runtime as r
from importlib.metadata import version
print("%s %s, wasmtime %s, FFI backend %s" % (platform.python_implementation(), platform.python_version(), version("wasmtime"), r._B_.name))'
    log="$work/$py.log"
    # Run from the tests' own directory so that only the installed package is importable.
    (cd "$here" && "$venv/bin/pytest" -q -rfEs -p no:cacheprovider "$@" tests) >"$log" 2>&1
    rc=$?
    if [ "$rc" -eq 0 ]; then
        # The header and the summary lines; the dots are noise.
        grep -E "^(=+ short test summary|SKIPPED|XFAIL|[0-9]+ (passed|failed))" "$log"
    else
        cat "$log"
    fi
    last="$(grep -E "^=*.*[0-9]+ (passed|failed|errors?|skipped|deselected)" "$log" | tail -n 1)"
    case "$rc" in
        0) summary+=("$py: OK: $last") ;;
        5) summary+=("$py: FAIL: no tests were collected"); overall=1 ;;
        *) summary+=("$py: FAIL (pytest exit $rc): $last"); overall=1 ;;
    esac
done

echo "== summary"
for line in "${summary[@]}"; do
    echo "$line"
done
exit "$overall"
