#!/usr/bin/env bash
# Logins per second on the LDAP store (users.store = "ldap") against a throwaway slapd on the
# same machine (tests/support/ldap.sh), and where the CPU goes: wrk saturates /login with
# alice's right password (a search as the service account, a new connection with TLS, a bind
# as alice, a group search, a signed token) for DUR seconds per transport, and the CPU
# seconds that watchword and slapd used are read from /proc around each run.
#
#   bash loadtest/ldap.sh            # release build first (NO_BUILD=1 to skip it)
#
# Environment: DUR (10), CONNS (wrk connections, 8), PORT (18090), NO_BUILD, MAX_CONNECTIONS
# (ldap.max_connections, 16).
set -euo pipefail
cd "$(dirname "$0")/.."

DUR=${DUR:-10}
CONNS=${CONNS:-8}
PORT=${PORT:-18090}
BIN=target/release/watchword
LUA="$PWD/loadtest/wrk.lua"

if [ "${NO_BUILD:-0}" != 1 ]; then cargo build --release --bin watchword >&2; fi
command -v wrk >/dev/null || { echo "loadtest/ldap.sh: wrk is missing (apt-get install wrk)" >&2; exit 1; }

eval "$(bash tests/support/ldap.sh start)"
TMP=$(mktemp -d)
PID=
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null || true
  bash tests/support/ldap.sh stop "$WATCHWORD_TEST_LDAP_DIR"
  rm -rf "$TMP"
}
trap cleanup EXIT
SLAPD_PID=$(cat "$WATCHWORD_TEST_LDAP_DIR/slapd.run")

# CPU seconds (user + system) of a process so far.
cpu() { awk -v t="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$1/stat"; }

for transport in starttls ldaps; do
  case $transport in
    starttls) url="url = \"$WATCHWORD_TEST_LDAP_URL\"
start_tls = true" ;;
    ldaps) url="url = \"$WATCHWORD_TEST_LDAPS_URL\"" ;;
  esac
  cat > "$TMP/watchword.toml" <<TOML
[server]
bind = "127.0.0.1:$PORT"
[users]
store = "ldap"
[throttle]
enabled = false
[ldap]
$url
ca_file = "$WATCHWORD_TEST_LDAP_CA"
bind_dn = "cn=watchword,ou=services,dc=example,dc=org"
bind_password_file = "$WATCHWORD_TEST_LDAP_DIR/service-password"
user_base = "dc=example,dc=org"
user_filter = "(&(objectClass=inetOrgPerson)(uid={username}))"
group_base = "ou=groups,dc=example,dc=org"
group_filter = "(&(objectClass=groupOfNames)(member={dn}))"
group_roles = { "cn=developers,ou=groups,dc=example,dc=org" = ["dev"] }
max_connections = ${MAX_CONNECTIONS:-16}
TOML
  RUST_LOG=warn "$BIN" --config "$TMP/watchword.toml" serve >"$TMP/$transport.log" 2>&1 &
  PID=$!
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -fs -X POST "http://127.0.0.1:$PORT/login" -H 'User-Name: alice' -H 'Password: alice-password' >/dev/null
  w0=$(cpu "$PID"); s0=$(cpu "$SLAPD_PID")
  result=$(WRK_METHOD=POST wrk -t2 -c"$CONNS" -d"${DUR}s" -s "$LUA" \
    -H 'User-Name: alice' -H 'Password: alice-password' "http://127.0.0.1:$PORT/login" | grep '^RESULT' | head -1)
  w1=$(cpu "$PID"); s1=$(cpu "$SLAPD_PID")
  echo "$transport $result watchword_cpu_s=$(echo "$w1 - $w0" | bc) slapd_cpu_s=$(echo "$s1 - $s0" | bc) cores=$(nproc) load=$(cut -d' ' -f1 /proc/loadavg)"
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
done
