#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (FUZZ_SECONDS each, default 30) and fails on the
# first crash, leak, timeout or out-of-memory. Installs cargo-fuzz if it is missing.
#
#   fuzz/run-ci.sh                      # every target, 30 s each
#   FUZZ_SECONDS=600 fuzz/run-ci.sh session decode
#
# cargo-fuzz passes nightly-only flags (-Z...) to rustc; RUSTC_BOOTSTRAP=1 lets the stable
# toolchain accept them (no nightly needed). Sanitizer: none (the guest has no unsafe code, and
# without ASan the targets run several times faster); debug assertions and overflow checks are
# on. New inputs go to fuzz/work/<target> (not committed); the seeds in fuzz/corpus/<target> are
# read only. A crash is saved under fuzz/artifacts/<target>/ and its input printed.
set -euo pipefail
cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR=never
seconds="${FUZZ_SECONDS:-30}"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(session conninfo decode encode batch scram step_decode request_decode dispatch)
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

cargo fuzz build -s none --debug-assertions

for target in "${targets[@]}"; do
    mkdir -p "work/$target" "corpus/$target"
    echo "== fuzz $target for ${seconds}s"
    log="work/$target.log"
    # -timeout: one input taking over 10 s is a hang; -rss_limit_mb bounds memory per run;
    # -max_len: 64 KiB inputs reach every message size the targets care about.
    if ! cargo fuzz run -s none --debug-assertions "$target" "work/$target" "corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 >"$log" 2>&1; then
        tail -60 "$log"
        echo "fuzz target $target FAILED (input saved under fuzz/artifacts/$target/)"
        exit 1
    fi
    grep -E "^stat::number_of_executed_units|^Done " "$log" | sed "s/^/$target: /"
done
echo "== fuzzing passed: ${targets[*]}"
