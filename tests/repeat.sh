#!/usr/bin/env bash
# Runs the tests matching FILTER N times and reports how many runs failed: a test that fails
# once in N runs blocks every landing, so the timing- and concurrency-sensitive ones are run
# many times before they are trusted (TESTING.md records the last runs).
#
#   bash tests/repeat.sh N FILTER [TEST_BINARY]     # TEST_BINARY: api (default) or verifier
#
# Builds once (cargo test --no-run), then runs the test binary directly N times with
# `FILTER` as its filter. PostgreSQL cases need WATCHWORD_TEST_POSTGRES_URL, as in README.
# Each failed run's output is kept in a file named in the report. Exit 1 when a run failed.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:?usage: tests/repeat.sh N FILTER [api|verifier]}
filter=${2:?usage: tests/repeat.sh N FILTER [api|verifier]}
binary=${3:-api}
package=()
[ "$binary" = verifier ] && package=(-p watchword-verify)
exe=$(cargo test --locked --all-features "${package[@]}" --test "$binary" --no-run --message-format json 2>/dev/null |
  python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["test"]:
        print(m["executable"])' | tail -1)
[ -x "$exe" ] || { echo "repeat.sh: no test binary for $binary" >&2; exit 2; }
logs=$(mktemp -d "${TMPDIR:-/tmp}/watchword-repeat.XXXXXX")
failed=0
started=$(date +%s)
for i in $(seq 1 "$n"); do
  if ! "$exe" "$filter" >"$logs/run-$i.log" 2>&1; then
    failed=$((failed + 1))
    echo "run $i failed: $logs/run-$i.log"
  elif ! grep -q "test result: ok. [1-9]" "$logs/run-$i.log"; then
    echo "repeat.sh: run $i ran no test for filter '$filter'" >&2
    exit 2
  fi
done
tests=$(grep -o "test result: ok. [0-9]*" "$logs/run-1.log" | grep -o "[0-9]*$" || echo "?")
echo "repeat: '$filter' ($tests tests) x $n in $(( $(date +%s) - started )) s: $((n - failed)) passed, $failed failed"
[ "$failed" = 0 ]
