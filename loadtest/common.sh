# Sourced by loadtest/load.sh, loadtest/stores.sh, loadtest/throttle.sh and loadtest/side_by_side.sh: what
# every benchmark needs (wrk, a scratch folder that is cleaned up with the servers in
# it, the release binary, a throwaway PostgreSQL, the argon2 probe, small arithmetic).
# The caller sets NAME (its own path, for messages) and runs from the repository's root.

log() { printf '>> %s\n' "$*" >&2; }

if ! command -v wrk >/dev/null 2>&1; then
  log "installing wrk (Debian package)"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq wrk >/dev/null
fi

TMP=$(mktemp -d)
PIDS=()
PG_DIR=""
cleanup() {
  for p in "${PIDS[@]}"; do
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  [ -n "$PG_DIR" ] && bash tests/support/postgres.sh stop "$PG_DIR" >/dev/null 2>&1
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

# build_release [BENCH…]: the release binary and the named benches, unless NO_BUILD=1; sets BIN.
build_release() {
  if [ "${NO_BUILD:-0}" != 1 ]; then
    log "building the release binary${1:+ and the benches $*} (cargo build --release; cargo bench --no-run)"
    cargo build --release --quiet
    local b
    for b in "$@"; do cargo bench --bench "$b" --no-run --quiet 2>/dev/null; done
  fi
  BIN=${CARGO_TARGET_DIR:-target}/release/watchword
  [ -x "$BIN" ] || { echo "no $BIN: run without NO_BUILD=1" >&2; exit 1; }
}

# start_postgres: a throwaway PostgreSQL (tests/support/postgres.sh), stopped by cleanup;
# sets WATCHWORD_TEST_POSTGRES_URL, PG_DIR and PG_MASTER (the postmaster's pid).
start_postgres() {
  log "a throwaway PostgreSQL (tests/support/postgres.sh)"
  eval "$(bash tests/support/postgres.sh start)"
  PG_DIR=$WATCHWORD_TEST_POSTGRES_DIR
  PG_MASTER=$(head -1 "$PG_DIR/data/postmaster.pid")
}

# probe_argon2 [PREFIX…]: one argon2 check's time in ms on one thread (benches/probe.rs),
# run under PREFIX (e.g. `taskset -c 1`) when given.
probe_argon2() {
  local t
  t=$("$@" cargo bench --quiet --bench probe -- --only argon2 2>/dev/null | cut -d= -f2)
  [[ $t =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "$NAME: the probe gave no t_argon2 figure ('$t')" >&2; exit 1; }
  echo "$t"
}

# median: of the numbers on stdin (of an even count, the lower middle one).
median() { sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
# calc EXPR [DIGITS]
calc() { awk "BEGIN {printf \"%.${2:-3}f\", $1}"; }

# The per-store phases of loadtest/stores.sh and loadtest/throttle.sh leave, for each STORE and round
# R, $TMP/ratio_STORE_R: "login/limit logins/s t_argon2 p50_ms p99_ms".
# col STORE COLUMN: that column's values over the ROUNDS rounds.
col() {
  local r
  for r in $(seq 1 "$ROUNDS"); do awk -v c="$2" '{print $c}' "$TMP/ratio_$1_$r"; done
}
# ratio_table STORE…: a row per store (medians and the rounds); fills RATIO[STORE].
declare -A RATIO
ratio_table() {
  local store
  printf '| %-9s | %-24s | %-12s | %-20s | %-40s |\n' store "login / limit (median)" "logins/s" "p50 / p99 ms" "per round"
  printf '| %-9s | %-24s | %-12s | %-20s | %-40s |\n' --------- ------------------------ ------------ -------------------- ----------------------------------------
  for store in "$@"; do
    RATIO[$store]=$(col "$store" 1 | median)
    printf '| %-9s | %-24s | %-12s | %-20s | %-40s |\n' "$store" "${RATIO[$store]}" "$(col "$store" 2 | median)" \
      "$(col "$store" 4 | median) / $(col "$store" 5 | median)" "$(col "$store" 1 | tr '\n' ' ')"
  done
}
# paired REFERENCE STORE LABEL: the acceptance line "STORE >= 0.95 x REFERENCE", paired per
# round (the store's ratio over the reference's in the same round: adjacent phases, each divided
# by the argon2 cost probed around it, so a slow minute of the VM lowers both sides), then the
# median; the ratio of the medians is printed too. Counts a failure in FAILS.
FAILS=0
paired() {
  local ref=$1 store=$2 pairs rel v r
  pairs=$(for r in $(seq 1 "$ROUNDS"); do
    calc "$(awk '{print $1}' "$TMP/ratio_${store}_$r") / $(awk '{print $1}' "$TMP/ratio_${ref}_$r")"; echo
  done)
  rel=$(median <<<"$pairs")
  echo "$store / $ref, per round: $(tr '\n' ' ' <<<"$pairs")(median $rel; ratio of the medians $(calc "${RATIO[$store]} / ${RATIO[$ref]}"))"
  if awk "BEGIN {exit !($rel >= 0.95)}"; then v=PASS; else v=FAIL; FAILS=$((FAILS + 1)); fi
  printf '| %-60s | %-8s | %-8s | %-4s |\n' "$3" "$rel x" ">= 0.95" "$v"
}
