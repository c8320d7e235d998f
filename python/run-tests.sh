#!/usr/bin/env bash
# Runs the wasmpg Python test suite in fresh virtual environments and fails if any run fails or
# collects no tests. The package is tested as users get it: one `py3-none-any` wheel (the guest
# component inside) and an sdist are built first (`python -m build`); every venv installs that
# wheel, and pytest runs with no Rust toolchain on PATH. The runs:
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

# Every venv gets Django (tests/test_django.py runs Django's postgresql backend on wasmpg.compat,
# the psycopg2 layer; Django 5.x on CPython, 4.2 on PyPy 3.9), and a missing Django fails.
export WASMPG_REQUIRE_DJANGO=1
# Every venv gets SQLAlchemy (tests/test_sqlalchemy.py: the postgresql+wasmpg dialects), and a
# missing SQLAlchemy fails. The python3 newest-wasmtime venv also gets pg8000 and runs
# SQLAlchemy's dialect compliance suite (sqla_suite/run.py: wasmpg against pg8000, about a
# minute; WASMPG_SQLA_SUITE=0 skips it), then Django's own test suite through wasmpg.compat beside
# psycopg2 (django_suite/run.py, about a minute; WASMPG_DJANGO_SUITE=0 skips it).
export WASMPG_REQUIRE_SQLALCHEMY=1

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

# ---- the distribution: one wheel and one sdist, built once, checked, installed everywhere
dist="$work/dist"
build_venv="$work/build"
echo "== building the wheel and the sdist (python -m build)"
if ! python3 -m venv "$build_venv" ||
    ! "$build_venv/bin/python" -m pip install -q --disable-pip-version-check build ||
    ! "$build_venv/bin/python" -m build -q --wheel --sdist --outdir "$dist" "$here" >"$work/build.log" 2>&1; then
    cat "$work/build.log" 2>/dev/null
    echo "FAIL: cannot build the wheel and the sdist"
    exit 1
fi
wheels=("$dist"/wasmpg-*-py3-none-any.whl)
sdists=("$dist"/wasmpg-*.tar.gz)
if [ "${#wheels[@]}" -ne 1 ] || [ ! -f "${wheels[0]}" ] || [ "${#sdists[@]}" -ne 1 ] || [ ! -f "${sdists[0]}" ]; then
    echo "FAIL: expected one py3-none-any wheel and one sdist, got: $(ls "$dist")"
    exit 1
fi
wheel="${wheels[0]}"
# Both carry the component; the wheel's metadata names its entry points and extras.
if ! "$build_venv/bin/python" - "$wheel" "${sdists[0]}" <<'PY'
import sys, tarfile, zipfile
wheel, sdist = sys.argv[1:3]
names = zipfile.ZipFile(wheel).namelist()
assert "wasmpg/wasmpg_guest.wasm" in names, "the wheel lacks the component"
meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
text = zipfile.ZipFile(wheel).read(meta).decode()
for field in ("Name: wasmpg", "Requires-Python:", "License-Expression:", "Provides-Extra: sqlalchemy"):
    assert field in text, "the wheel's METADATA lacks %r" % field
entry = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
assert "postgresql.wasmpg" in zipfile.ZipFile(wheel).read(entry).decode()
assert any(n.endswith("src/wasmpg/wasmpg_guest.wasm") for n in tarfile.open(sdist).getnames()), \
    "the sdist lacks the component"
print("wheel %s and sdist %s: component, metadata and entry points present"
      % (wheel.rsplit("/", 1)[-1], sdist.rsplit("/", 1)[-1]))
PY
then
    echo "FAIL: the distribution files are incomplete"
    exit 1
fi

# The cluster tool the tests start their server with (built now, while cargo is on PATH).
if [ -z "${WASMPG_PGCLUSTER:-}" ]; then
    WASMPG_PGCLUSTER="${CARGO_TARGET_DIR:-$(dirname "$here")/target}/release/pgcluster"
    if [ ! -x "$WASMPG_PGCLUSTER" ]; then
        (cd "$(dirname "$here")" && cargo build --release -q -p wasmpg-pgcluster) || exit 1
    fi
    export WASMPG_PGCLUSTER
fi
# The tests run with no Rust toolchain on PATH: the installed wheel needs none.
no_rust_path="$(printf '%s' "$PATH" | tr ':' '\n' | grep -v -e '/\.cargo/' -e '/\.rustup/' -e 'rustup' | paste -sd: -)"

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
        if ! "$venv/bin/python" -m pip install -q --disable-pip-version-check "$wheel" pytest "${pin[@]}"; then
            summary+=("$label: pip install failed")
            overall=1
            return
        fi
        if ! "$venv/bin/python" -m pip install -q --disable-pip-version-check 'django>=4.2,<6'; then
            summary+=("$label: pip install of Django failed")
            overall=1
            return
        fi
        local sqla=('sqlalchemy[asyncio]>=2.0,<2.1')
        if [ "$py" = "python3" ] && [ "$spec" = "newest" ]; then
            sqla+=(pg8000)  # the reference driver of the compliance suite
        fi
        if ! "$venv/bin/python" -m pip install -q --disable-pip-version-check "${sqla[@]}"; then
            summary+=("$label: pip install of SQLAlchemy failed")
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
    (cd "$here" && PATH="$no_rust_path" WASMPG_FFI="$ffi" "$venv/bin/pytest" -q -rfEs -p no:cacheprovider "$@") >"$log" 2>&1
    local rc=$?
    # PyPy 7.3.11 has crashed (SIGSEGV) inside its own compiler while pytest rewrote a test
    # module's asserts during collection, before any test ran (twice in six PyPy runs of two CI
    # runs, both wasmtime versions; never in the runs of that step alone). Such a crash is run
    # again once, printed, and the summary says so; a crash once tests have started is never
    # run again.
    local note=""
    if [ "$rc" -eq 139 ] && grep -q "in pytest_collection" "$log" \
        && ! grep -qE "^[.sxXFE]+( |$)" "$log"; then
        cp "$log" "$log.crash"
        echo "$label: pytest crashed while collecting, before any test ran; running it again. The crash:"
        head -n 15 "$log.crash"
        (cd "$here" && PATH="$no_rust_path" WASMPG_FFI="$ffi" "$venv/bin/pytest" -q -rfEs -p no:cacheprovider "$@") >"$log" 2>&1
        rc=$?
        note=" (run again after a crash while collecting, printed above)"
    fi
    if [ "$rc" -eq 0 ]; then
        # The header and the summary lines; the dots are noise.
        grep -E "^(=+ short test summary|SKIPPED|XFAIL|[0-9]+ (passed|failed))" "$log"
    else
        cat "$log"
    fi
    local last
    last="$(grep -E "^=*.*[0-9]+ (passed|failed|errors?|skipped|deselected)" "$log" | tail -n 1)"
    case "$rc" in
        0) summary+=("$label: OK: $last$note") ;;
        5) summary+=("$label: FAIL: no tests were collected$note"); overall=1 ;;
        *) summary+=("$label: FAIL (pytest exit $rc): $last$note"); overall=1 ;;
    esac
}

# suite PYTHON LABEL SWITCH SCORE-PATTERN COMMAND...: a project's own test suite in the venv of
# PYTHON's newest run (SWITCH=0 in the environment skips it); the lines matching SCORE-PATTERN
# go to the summary, and its exit status decides.
#   SQLAlchemy's dialect compliance suite: wasmpg against pg8000 (sqla_suite/run.py prints the
#   scores and fails if wasmpg has more failures + errors);
#   Django's own suite (apps basic backends model_fields queries transactions expressions, from
#   the sdist of the installed Django) through wasmpg.compat, beside the real psycopg2
#   (psycopg2-binary, in a venv of its own) on the same cluster; it fails if a test fails
#   through wasmpg that passes through psycopg2.
suite() {
    local py="$1" label="$1 $2" switch="$3" pattern="$4"
    shift 4
    local venv="$work/$py-newest"
    [ "${!switch:-1}" = "0" ] && return
    echo "== $label"
    if [ ! -x "$venv/bin/python" ]; then
        summary+=("$label: FAIL: no venv")
        overall=1
        return
    fi
    local log="$work/${label// /_}.log"
    (cd "$here" && PATH="$no_rust_path" "$venv/bin/python" "$@") >"$log" 2>&1
    local rc=$?
    tail -n 30 "$log"
    local scores
    scores="$(grep -E "$pattern" "$log" | tr '\n' ';')"
    if [ "$rc" -eq 0 ]; then
        summary+=("$label: OK: $scores")
    else
        summary+=("$label: FAIL (exit $rc): $scores")
        overall=1
    fi
}

for r in $runs; do
    for py in $pythons; do
        case "$r" in
            newest)
                run "$py newest wasmtime" "$py" newest "" "$@" tests
                if [ "$py" = "python3" ]; then
                    suite "$py" "SQLAlchemy compliance suite" WASMPG_SQLA_SUITE \
                        "^(wasmpg|wasmpg_async|pg8000): " sqla_suite/run.py --logs "$work/sqla-suite"
                    suite "$py" "Django test suite" WASMPG_DJANGO_SUITE "^(wasmpg|psycopg2)" \
                        django_suite/run.py --python "$work/$py-newest/bin/python" --work "$work/django-suite"
                fi
                ;;
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
