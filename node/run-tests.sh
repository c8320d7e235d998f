#!/usr/bin/env bash
# Runs the Node package's checks and tests (tests/run-all's third step):
#   1. Node >= 20 is there (else a clear failure);
#   2. `npm ci` (the pinned jco, typescript and node-postgres; nothing at run time);
#   3. `npm run build`: the committed component transpiled into gen/;
#   4. `npm run check`: tsc on the hand-written index.d.ts through a typed consumer;
#   5. `npm test`: node's test runner over test/, each file against its own throwaway cluster
#      (the repository's pgcluster binary, as the Rust and Python tests), including the packed
#      tarball installed into an empty project (test/pack.test.js).
# Fails if any step fails or if the runner ran no test. `--prepare` stops after step 3 (tests/run-all
# prepares the package first, so the Rust hostile-server table can drive it too).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"

if ! command -v node >/dev/null 2>&1; then
    echo "node/run-tests.sh: Node.js is not installed; the Node package needs Node >= 20 (Debian: apt-get install nodejs npm)" >&2
    exit 1
fi
major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$major" -lt 20 ]; then
    echo "node/run-tests.sh: Node $(node --version) is too old; the Node package needs Node >= 20" >&2
    exit 1
fi

echo "-- npm ci (node $(node --version), npm $(npm --version))"
npm ci --no-audit --no-fund --loglevel=error
echo "-- npm run build"
npm run --silent build
if [ "${1:-}" = "--prepare" ]; then
    exit 0
fi
echo "-- npm run check"
npm run --silent check
echo "-- npm test"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
set +e
node --test --test-concurrency=1 --test-reporter=spec test/ 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
tests="$(grep -E '^ℹ tests [0-9]+' "$log" | awk '{print $3}' | tail -1)"
if [ "$rc" -ne 0 ]; then
    echo "node/run-tests.sh: the Node tests failed" >&2
    exit "$rc"
fi
if [ -z "$tests" ] || [ "$tests" -eq 0 ]; then
    echo "node/run-tests.sh: the Node test runner ran no test" >&2
    exit 1
fi
echo "node/run-tests.sh: $tests Node tests passed"
