#!/usr/bin/env bash
# The throttle-store mode of loadtest/load.sh (`MODE=throttle bash loadtest/load.sh`): login
# throughput at saturation divided by the argon2 limit (cores / t_argon2) with the throttle's
# counters in memory, in SQLite and in PostgreSQL (throttle.store = "database", users in the
# file), in one run, each database's ratio against memory's; then what the store adds to one
# login (`cargo bench --bench throttle`: begin plus settlement, one at a time, no other load).
#
# Three servers run side by side on loopback (ports PORT, PORT+1, PORT+2), one per store, with
# the production argon2 defaults, the throttle on (its defaults) and the demo user logging in
# with the right password, so every login is a check and reservation before the hash and a
# success after it. PostgreSQL is a throwaway server from tests/support/postgres.sh. Only one
# server is loaded at a time. ROUNDS rounds; in each, every store gets DUR/2 s of saturating
# logins, in an order that rotates from round to round, with t_argon2 probed before and after
# each phase (a phase's cost is the mean of the two). The median per store counts.
#
# APART=1 is a replica whose database is another machine, on two cores: the server under load
# has core 1 to itself (one hashing thread, one HTTP worker; the limit is 1 / t_argon2, probed
# on that core), while wrk and the whole PostgreSQL cluster run on core 0. The ratio then is
# what the shared counters cost a replica's own login capacity; what they cost the database
# is the cluster's CPU per login in the second table. Without APART the cluster shares the
# server's cores, as on a single host.
#
# Environment: DUR, ROUNDS, PORT, PW_WORKERS, PW_QUEUE, NO_BUILD, SMOKE as for loadtest/load.sh;
# APART (0).
set -euo pipefail
cd "$(dirname "$0")/.."

SMOKE=${SMOKE:-0}
DUR=${DUR:-10}
[ "$SMOKE" = 1 ] && DUR=1
PORT=${PORT:-18080}
ROUNDS=${ROUNDS:-7}
APART=${APART:-0}
CORES=$(nproc)
# Prefixes of the server's and the load's commands: pinned in APART mode, none otherwise.
ON_SERVER=()
ON_CLIENT=()
if [ "$APART" = 1 ]; then
  [ "$CORES" -ge 2 ] || { echo "APART=1 needs two cores" >&2; exit 1; }
  CORES=1
  ON_SERVER=(taskset -c 1)
  ON_CLIENT=(taskset -c 0)
fi
W=${PW_WORKERS:-$CORES}
Q=${PW_QUEUE:-$((4 * W))}
HALF=$(( (DUR + 1) / 2 ))
LUA="$PWD/loadtest/wrk.lua"
STORES=(memory sqlite postgres)
N=2000
[ "$SMOKE" = 1 ] && N=100

NAME=loadtest/throttle.sh
# shellcheck source=loadtest/common.sh
source loadtest/common.sh

build_release probe throttle
start_postgres
# The cluster's backends are forked by the postmaster and inherit its core.
[ "$APART" = 1 ] && for p in $PG_MASTER $(pgrep -P "$PG_MASTER"); do taskset -a -p -c 0 "$p" >/dev/null; done
# A database of its own for the servers, another for the latency probe.
for db in throttle_servers throttle_probe; do
  psql -q "$WATCHWORD_TEST_POSTGRES_URL" -c "CREATE DATABASE $db" >/dev/null
done
PG_SERVERS=${WATCHWORD_TEST_POSTGRES_URL%/*}/throttle_servers
PG_PROBE=${WATCHWORD_TEST_POSTGRES_URL%/*}/throttle_probe

export RUST_LOG=${RUST_LOG:-warn}
export WATCHWORD__PASSWORD__WORKERS="$W"
export WATCHWORD__PASSWORD__QUEUE="$Q"
[ "$APART" = 1 ] && export WATCHWORD__SERVER__WORKERS=1
# start STORE INDEX: a server whose throttle counts in STORE, on PORT + INDEX.
start() {
  local store=$1 port=$((PORT + $2)) env=()
  case "$store" in
    memory) ;;
    sqlite) env=(WATCHWORD__THROTTLE__STORE=database "WATCHWORD__DATABASE__URL=sqlite://$TMP/throttle.db") ;;
    postgres) env=(WATCHWORD__THROTTLE__STORE=database "WATCHWORD__DATABASE__URL=$PG_SERVERS") ;;
  esac
  # /metrics is served only on metrics.bind: a port of its own, PORT + 10 + INDEX.
  "${ON_SERVER[@]}" env "${env[@]}" WATCHWORD__SERVER__BIND="127.0.0.1:$port" \
    WATCHWORD__METRICS__BIND="127.0.0.1:$((port + 10))" "$BIN" >"$TMP/$store.log" 2>&1 &
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

# CPU time in ms (user + system) of a process, and of every PostgreSQL process of the
# throwaway cluster (its postmaster and the backends it forked), from /proc.
TICK_MS=$(awk -v h="$(getconf CLK_TCK)" 'BEGIN {print 1000 / h}')
cpu_ms() { awk -v t="$TICK_MS" '{print ($14 + $15) * t}' "/proc/$1/stat"; }
pg_cpu_ms() {
  local p total=0
  for p in $PG_MASTER $(pgrep -P "$PG_MASTER"); do
    [ -r "/proc/$p/stat" ] && total=$(awk -v a="$total" -v b="$(cpu_ms "$p" 2>/dev/null || echo 0)" 'BEGIN {print a + b}')
  done
  echo "$total"
}

# t_argon2 on the cores the server runs on.
on_server_probe() { probe_argon2 "${ON_SERVER[@]}"; }
LOGIN_CONNS=$((2 * W))
log "$ROUNDS rounds of ${HALF}s saturating logins per store ($LOGIN_CONNS connections), t_argon2 probed around each"
PREV=$(on_server_probe)
for r in $(seq 1 "$ROUNDS"); do
  for k in 0 1 2; do
    i=$(( (k + r) % 3 ))
    store=${STORES[$i]}
    S0=$(cpu_ms "${PIDS[$i]}"); D0=$(pg_cpu_ms)
    WRK_METHOD=POST WRK_DELAY_MS=0 "${ON_CLIENT[@]}" wrk -t1 -c"$LOGIN_CONNS" -d"${HALF}s" --timeout 5s -s "$LUA" \
      -H 'User-Name: user_test' -H 'Password: password_test' \
      "http://127.0.0.1:$((PORT + i))/login" >"$TMP/login_${store}_$r" 2>&1
    S1=$(cpu_ms "${PIDS[$i]}"); D1=$(pg_cpu_ms)
    N_OK=$(get "login_${store}_$r" s200)
    echo "$(calc "($S1 - $S0) / $N_OK" 3) $(calc "($D1 - $D0) / $N_OK" 3)" >"$TMP/cpu_${store}_$r"
    NOW=$(on_server_probe)
    T=$(calc "($PREV + $NOW) / 2")
    PREV=$NOW
    OK=$(get "login_${store}_$r" ok_rps)
    [[ $OK =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "no login figure for $store: $(cat "$TMP/login_${store}_$r")" >&2; exit 1; }
    echo "$(calc "$OK * $T / 1000 / $CORES") $OK $T $(get "login_${store}_$r" p50_ms) $(get "login_${store}_$r" p99_ms)" \
      >"$TMP/ratio_${store}_$r"
  done
done
for p in "${PIDS[@]}"; do kill -0 "$p" || { echo "a server died" >&2; exit 1; }; done
# Every login went through each store: no throttle errors, no refusals.
for i in "${!STORES[@]}"; do
  m=$(curl -fs "http://127.0.0.1:$((PORT + 10 + i))/metrics") \
    || { echo "${STORES[$i]}: no /metrics on its metrics.bind port $((PORT + 10 + i))" >&2; exit 1; }
  errors=$(awk '/^watchword_throttle_store_errors_total /{print $2}' <<<"$m")
  [ "${errors:-0}" = 0 ] || { echo "${STORES[$i]}: $errors throttle store errors" >&2; exit 1; }
done
for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
PIDS=()

log "what the store adds to one login: cargo bench --bench throttle ($N logins of each kind, one at a time)"
cargo bench --quiet --bench throttle -- --n "$N" --sqlite "sqlite://$TMP/probe.db" --postgres "$PG_PROBE" \
  >"$TMP/latency" 2>/dev/null
lat() { grep "^$1=" "$TMP/latency" | cut -d= -f2; }

echo
echo "== watchword login throughput per throttle store ($(date -u +%Y-%m-%dT%H:%MZ))"
echo "machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), Linux $(uname -r)"
echo "server:  argon2id defaults (config/default.toml), password.workers=$W, password.queue=$Q, throttle defaults; ${HALF}s per phase, $ROUNDS rounds"
[ "$APART" = 1 ] && echo "APART:   the server under load alone on core 1 (limit = 1 / t_argon2 there); wrk and the PostgreSQL cluster on core 0"
echo "stores:  memory = throttle.store \"memory\"; sqlite = throttle.store \"database\" on a file in $TMP; postgres = the same on PostgreSQL $("$(ls -d /usr/lib/postgresql/*/bin | tail -1)/postgres" --version | awk '{print $3}') on loopback; users in the file"
echo
ratio_table "${STORES[@]}"
echo
# CPU per login (median of the rounds): the server process (argon2 included) and the
# PostgreSQL cluster, which runs on the same cores here and would not on a real deployment.
cpucol() { local r; for r in $(seq 1 "$ROUNDS"); do awk -v c="$2" '{print $c}' "$TMP/cpu_$1_$r"; done | median; }
echo "CPU per login, ms (median of the rounds; user + system from /proc):"
printf '| %-9s | %-16s | %-18s | %-30s |\n' store "server process" "PostgreSQL cluster" "server's extra over memory"
printf '| %-9s | %-16s | %-18s | %-30s |\n' --------- ---------------- ------------------ ------------------------------
for store in "${STORES[@]}"; do
  printf '| %-9s | %-16s | %-18s | %-30s |\n' "$store" "$(cpucol "$store" 1)" "$(cpucol "$store" 2)" \
    "$(calc "$(cpucol "$store" 1) - $(cpucol memory 1)" 3)"
done
echo
echo "one login's throttle work (begin + settlement), µs, p50 / p99, no other load:"
printf '| %-9s | %-22s | %-22s | %-22s | %-22s |\n' store "right password" "wrong password, new name" "refused (locked)" "added to a login (p50)"
printf '| %-9s | %-22s | %-22s | %-22s | %-22s |\n' --------- ---------------------- ---------------------- ---------------------- ----------------------
for store in "${STORES[@]}"; do
  added=$(calc "$(lat "${store}_success_p50_us") - $(lat memory_success_p50_us)" 1)
  printf '| %-9s | %-22s | %-22s | %-22s | %-22s |\n' "$store" \
    "$(lat "${store}_success_p50_us") / $(lat "${store}_success_p99_us")" \
    "$(lat "${store}_failure_p50_us") / $(lat "${store}_failure_p99_us")" \
    "$(lat "${store}_refused_p50_us") / $(lat "${store}_refused_p99_us")" "$added"
done
echo
for store in sqlite postgres; do
  paired memory "$store" "$store throttle login ratio >= 0.95 x the memory throttle's"
done
echo
if [ "$FAILS" -eq 0 ]; then echo "all acceptance lines PASS"; else echo "$FAILS acceptance line(s) FAIL"; fi
echo "loadtest/throttle.sh took ${SECONDS}s"
[ "$SMOKE" = 1 ] || [ "$FAILS" -eq 0 ]
