#!/usr/bin/env bash
# Runs the wasmpg Python test suite in fresh virtual environments (`pip install ./python pytest`,
# no compiler needed) and fails if any run fails or collects no tests. The runs:
#
#   python3, newest wasmtime in the supported range       full suite (ctypes backend)
#   pypy3,   newest wasmtime in the supported range       full suite (cffi backend)
#   python3, oldest supported wasmtime (42.0.0)           full suite
#   pypy3,   oldest supported wasmtime (42.0.0)           full suite (WASMPG_OLDEST_PYPY=smoke:
#                                                         the smoke subset only)
#   python3, newest wasmtime, WASMPG_FFI=public           the public-API subset (the fallback)
#
# Needs: python3 (3.9+) with venv, pypy3 with venv (Debian: apt-get install pypy3 pypy3-venv),
# the PostgreSQL server binaries (the tests start their own throwaway cluster with the `pgcluster`
# binary: $WASMPG_PGCLUSTER, else target/release/pgcluster, built with cargo if missing), and the
# guest component (built by `cargo build --release -p wasmpg`, or built here by setup.py with cargo).
#
# Environment: WASMPG_PYTHONS="python3 pypy3" picks the interpreters; WASMPG_RUNS="newest oldest
# public" picks the runs; WASMPG_KEEP_VENVS=1 keeps the venvs (their directory is printed);
# extra arguments go to pytest (every run).
set -uo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
pythons="${WASMPG_PYTHONS:-python3 pypy3}"
runs="${WASMPG_RUNS:-newest oldest public}"
oldest="42.0.0"
# The subsets: the smoke subset exercises connect, queries, types, errors, cancel and the
# runtime checks; the public subset is the smoke subset minus the slow load test.
smoke=(tests/test_runtime.py tests/test_abi.py tests/test_cursor.py tests/test_connect.py
       tests/test_errors.py tests/test_transactions.py tests/test_async.py)
work="$(mktemp -d "${TMPDIR:-/tmp}/wasmpg-venvs.XXXXXX")"
if [ -z "${WASMPG_KEEP_VENVS:-}" ]; then
    trap 'rm -rf "$work"' EXIT
else
    echo "venvs kept in $work"
fi

overall=0
summary=()

# run LABEL PYTHON WASMTIME-SPEC FFI TESTS...
run() {
    local label="$1" py="$2" spec="$3" ffi="$4"
    shift 4
    echo "== $label"
    if ! command -v "$py" >/dev/null 2>&1; then
        echo "FAIL: $py not found"
        summary+=("$label: interpreter not found")
        overall=1
        return
    fi
    local venv="$work/$py-$spec"
    if [ ! -d "$venv" ]; then
        if ! "$py" -m venv "$venv"; then
            summary+=("$label: cannot create a venv")
            overall=1
            return
        fi
        # A fresh pip in a fresh venv: some distributions ship an old one.
        "$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null 2>&1 || true
        local pin=()
        if [ "$spec" != "newest" ]; then
            pin=("wasmtime==$spec")
        fi
        if ! "$venv/bin/python" -m pip install -q --disable-pip-version-check "$here" pytest "${pin[@]}"; then
            summary+=("$label: pip install failed")
            overall=1
            return
        fi
    fi
    WASMPG_FFI="$ffi" "$venv/bin/python" -c 'import platform, wasmpg._runtime as r
from importlib.metadata import version
print("%s %s, wasmtime %s, backend %s" % (platform.python_implementation(), platform.python_version(), version("wasmtime"), r.backend_name()))'
    local log="$work/$label.log"
    log="${log// /_}"
    # Run from the package directory, with the tests' own directory as the rootdir, so that
    # only the installed package is importable.
    (cd "$here" && WASMPG_FFI="$ffi" "$venv/bin/pytest" -q -rfEs -p no:cacheprovider "$@") >"$log" 2>&1
    local rc=$?
    if [ "$rc" -eq 0 ]; then
        # The header and the summary lines; the dots are noise.
        grep -E "^(=+ short test summary|SKIPPED|XFAIL|[0-9]+ (passed|failed))" "$log"
    else
        cat "$log"
    fi
    local last
    last="$(grep -E "^=*.*[0-9]+ (passed|failed|errors?|skipped|deselected)" "$log" | tail -n 1)"
    case "$rc" in
        0) summary+=("$label: OK: $last") ;;
        5) summary+=("$label: FAIL: no tests were collected"); overall=1 ;;
        *) summary+=("$label: FAIL (pytest exit $rc): $last"); overall=1 ;;
    esac
}

for r in $runs; do
    for py in $pythons; do
        case "$r" in
            newest) run "$py newest wasmtime" "$py" newest "" "$@" tests ;;
            oldest)
                if [ "$py" = "pypy3" ] && [ "${WASMPG_OLDEST_PYPY:-full}" = "smoke" ]; then
                    run "$py wasmtime $oldest (smoke)" "$py" "$oldest" "" "$@" "${smoke[@]}"
                else
                    run "$py wasmtime $oldest" "$py" "$oldest" "" "$@" tests
                fi
                ;;
            public)
                # The fallback path is interpreter-independent Python; once is enough.
                if [ "$py" = "python3" ]; then
                    run "$py WASMPG_FFI=public (subset)" "$py" newest public "$@" "${smoke[@]}"
                fi
                ;;
            *) echo "unknown run $r"; overall=1 ;;
        esac
    done
done

echo "== summary"
for line in "${summary[@]}"; do
    echo "$line"
done
exit "$overall"
