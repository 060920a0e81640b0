#!/usr/bin/env bash
# The database-store mode of loadtest/load.sh (`MODE=stores bash loadtest/load.sh`): login
# throughput at saturation divided by the argon2 limit (cores / t_argon2) for the users file,
# SQLite and PostgreSQL, in one run, and each database's ratio against the file's.
#
# Three servers run side by side on loopback (ports PORT, PORT+1, PORT+2), one per store, with
# the production argon2 defaults and the demo user (imported into the databases with
# `watchword users import config/users.toml`); PostgreSQL is a throwaway server from
# tests/support/postgres.sh. Only one server is loaded at a time. ROUNDS rounds; in each, every
# store gets DUR/2 s of saturating logins, in an order that rotates from round to round, with
# t_argon2 probed before and after each phase (a phase's cost is the mean of the two), so a
# slow moment of the machine lowers one phase's throughput and its cost together. The median
# per store counts.
#
# Environment: DUR, ROUNDS, PORT, PW_WORKERS, PW_QUEUE, NO_BUILD, SMOKE as for loadtest/load.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

SMOKE=${SMOKE:-0}
DUR=${DUR:-10}
[ "$SMOKE" = 1 ] && DUR=1
PORT=${PORT:-18080}
ROUNDS=${ROUNDS:-7}
CORES=$(nproc)
W=${PW_WORKERS:-$CORES}
Q=${PW_QUEUE:-$((4 * W))}
HALF=$(( (DUR + 1) / 2 ))
LUA="$PWD/loadtest/wrk.lua"
STORES=(file sqlite postgres)

NAME=loadtest/stores.sh
# shellcheck source=loadtest/common.sh
source loadtest/common.sh

build_release probe
start_postgres

export RUST_LOG=${RUST_LOG:-warn}
export WATCHWORD__THROTTLE__ENABLED=false
export WATCHWORD__PASSWORD__WORKERS="$W"
export WATCHWORD__PASSWORD__QUEUE="$Q"
# start STORE INDEX: a server for STORE on PORT + INDEX.
start() {
  local store=$1 port=$((PORT + $2)) env=()
  case "$store" in
    file) ;;
    sqlite) env=(WATCHWORD__USERS__STORE=database "WATCHWORD__DATABASE__URL=sqlite://$TMP/users.db") ;;
    postgres) env=(WATCHWORD__USERS__STORE=database "WATCHWORD__DATABASE__URL=$WATCHWORD_TEST_POSTGRES_URL") ;;
  esac
  if [ "$store" != file ]; then
    env "${env[@]}" "$BIN" migrate >/dev/null
    env "${env[@]}" "$BIN" users import config/users.toml 2>/dev/null
  fi
  env "${env[@]}" WATCHWORD__SERVER__BIND="127.0.0.1:$port" "$BIN" >"$TMP/$store.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -fs -X POST "http://127.0.0.1:$port/login" -H 'User-Name: user_test' -H 'Password: password_test' \
    | grep -q '"token"' || { echo "$store: the demo login failed" >&2; cat "$TMP/$store.log" >&2; exit 1; }
}
for i in "${!STORES[@]}"; do start "${STORES[$i]}" "$i"; done

get() { grep -o "\b$2=[^ ]*" "$TMP/$1" | head -1 | cut -d= -f2; }

LOGIN_CONNS=$((2 * W))
log "$ROUNDS rounds of ${HALF}s saturating logins per store ($LOGIN_CONNS connections), t_argon2 probed around each"
PREV=$(probe_argon2)
for r in $(seq 1 "$ROUNDS"); do
  for k in 0 1 2; do
    i=$(( (k + r) % 3 ))
    store=${STORES[$i]}
    WRK_METHOD=POST WRK_DELAY_MS=0 wrk -t1 -c"$LOGIN_CONNS" -d"${HALF}s" --timeout 5s -s "$LUA" \
      -H 'User-Name: user_test' -H 'Password: password_test' \
      "http://127.0.0.1:$((PORT + i))/login" >"$TMP/login_${store}_$r" 2>&1
    NOW=$(probe_argon2)
    T=$(calc "($PREV + $NOW) / 2")
    PREV=$NOW
    OK=$(get "login_${store}_$r" ok_rps)
    [[ $OK =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "no login figure for $store: $(cat "$TMP/login_${store}_$r")" >&2; exit 1; }
    echo "$(calc "$OK * $T / 1000 / $CORES") $OK $T $(get "login_${store}_$r" p50_ms) $(get "login_${store}_$r" p99_ms)" \
      >"$TMP/ratio_${store}_$r"
  done
done
for p in "${PIDS[@]}"; do kill -0 "$p" || { echo "a server died" >&2; exit 1; }; done

echo
echo "== watchword login throughput per user store ($(date -u +%Y-%m-%dT%H:%MZ))"
echo "machine: $CORES cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), Linux $(uname -r)"
echo "server:  argon2id defaults (config/default.toml), password.workers=$W, password.queue=$Q; ${HALF}s per phase, $ROUNDS rounds"
echo "stores:  file = config/users.toml; sqlite = a file in $TMP; postgres = PostgreSQL $("$(ls -d /usr/lib/postgresql/*/bin | tail -1)/postgres" --version | awk '{print $3}') on loopback"
echo
ratio_table "${STORES[@]}"
echo
for store in sqlite postgres; do
  paired file "$store" "$store login ratio >= 0.95 x the file store's"
done
echo
if [ "$FAILS" -eq 0 ]; then echo "all acceptance lines PASS"; else echo "$FAILS acceptance line(s) FAIL"; fi
echo "loadtest/stores.sh took ${SECONDS}s"
[ "$SMOKE" = 1 ] || [ "$FAILS" -eq 0 ]
