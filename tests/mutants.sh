#!/usr/bin/env bash
# Mutation testing of the defences this service exists for: cargo-mutants (crates.io, pinned
# below) changes one thing at a time in these files (a `>` into `>=`, a function body into
# `Default::default()`, …) and runs the tests; a mutant the tests do not catch is a gap.
#
#   bash tests/mutants.sh                 # every listed file (long: see TESTING.md)
#   bash tests/mutants.sh --in-diff REV   # only the mutants in lines changed since REV
#   bash tests/mutants.sh --list          # list the mutants, run nothing
#
# A mutant that cannot be caught because it changes nothing observable is listed, with one
# line of reason, in tests/mutants-equivalent.txt and is not counted as missed. Exit 1 when a
# mutant was missed. PostgreSQL cases need WATCHWORD_TEST_POSTGRES_URL, as in README.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=27.1.0
if ! cargo mutants --version 2>/dev/null | grep -q "$VERSION"; then
  echo "mutants.sh: installing cargo-mutants $VERSION from crates.io" >&2
  cargo install --locked --quiet cargo-mutants --version "$VERSION"
fi
files=(
  verify/src/validation.rs verify/src/authorization.rs verify/src/jws.rs verify/src/key_set.rs
  src/login/throttle/rules.rs src/login/throttle/memory.rs
  src/http/client_address.rs src/http/login_request.rs
  src/login/credentials.rs src/login/password.rs
  src/http/token_endpoint/request.rs
)
args=()
for f in "${files[@]}"; do args+=(--file "$f"); done
# Lines of tests/mutants-equivalent.txt: `FILE:LINE:COL: DESCRIPTION  # reason`; the part
# before `#` is the mutant's name as cargo-mutants prints it.
if [ -s tests/mutants-equivalent.txt ]; then
  while IFS= read -r line; do
    name=${line%%#*}; name=${name%"${name##*[![:space:]]}"}
    [ -n "$name" ] && args+=(--exclude-re "$(printf '%s' "$name" | sed 's/[][().*+?^$|\\{}]/\\&/g')")
  done < <(grep -v '^[[:space:]]*\(#\|$\)' tests/mutants-equivalent.txt)
fi
case "${1:-}" in
  --in-diff)
    rev=${2:?--in-diff REV}
    diff=$(mktemp); git diff "$rev" -- "${files[@]}" >"$diff"
    [ -s "$diff" ] || { echo "mutants.sh: none of the listed files changed since $rev"; exit 0; }
    args+=(--in-diff "$diff") ;;
  --list) args+=(--list) ;;
  "") ;;
  *) echo "usage: tests/mutants.sh [--in-diff REV | --list]" >&2; exit 2 ;;
esac
# The unit tests of each file and the HTTP suite that exercises it; `--all-features` as
# README's test command.
exec cargo mutants --no-shuffle --timeout-multiplier 3 "${args[@]}" -- --all-features
