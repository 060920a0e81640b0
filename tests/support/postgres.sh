#!/usr/bin/env bash
# A throwaway PostgreSQL server on loopback for the test suite (and the load benchmark).
#
#   eval "$(bash tests/support/postgres.sh start)"   # prints export lines, see below
#   bash tests/support/postgres.sh stop  "$WATCHWORD_TEST_POSTGRES_DIR"   # stop and delete
#   bash tests/support/postgres.sh pause "$DIR"   # stop the server, keep its data and port
#   bash tests/support/postgres.sh resume "$DIR"  # start it again on the same port
#   bash tests/support/postgres.sh freeze "$DIR"  # SIGSTOP the server and its backends: it
#                                                 # accepts connections and never answers
#   bash tests/support/postgres.sh thaw "$DIR"    # SIGCONT them
#
# `start [DIR]` installs Debian's `postgresql` package when no server binaries are found (as
# root only), runs initdb as the `postgres` user (initdb refuses root) in DIR (default: a new
# temporary directory), starts the server on a free port listening on 127.0.0.1 only, and
# prints:
#   export WATCHWORD_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:PORT/postgres
#   export WATCHWORD_TEST_POSTGRES_DIR=DIR
# The superuser `postgres` logs in without a password (trust) over loopback and the socket in
# DIR; every other role must give its password (scram-sha-256), so tests can check what a
# wrong password in database.url does. Nothing but the export lines goes to stdout.
set -euo pipefail

log() { echo "postgres.sh: $*" >&2; }

bindir() {
  local d
  if [ -n "${WATCHWORD_PG_BIN:-}" ] && [ -x "$WATCHWORD_PG_BIN/pg_ctl" ]; then
    echo "$WATCHWORD_PG_BIN"; return 0
  fi
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -n -r); do
    if [ -x "$d/pg_ctl" ] && [ -x "$d/initdb" ]; then echo "$d"; return 0; fi
  done
  return 1
}

ensure_installed() {
  if bindir >/dev/null; then return 0; fi
  if [ "$(id -u)" != 0 ]; then
    log "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin; install Debian's postgresql package"
    return 1
  fi
  log "installing Debian's postgresql package"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q postgresql >&2 || { apt-get update -q >&2 && apt-get install -y -q postgresql >&2; }
  bindir >/dev/null
}

# Run a PostgreSQL program as the `postgres` user when we are root (the server refuses root).
as_pg() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  python3 - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

server_start() {
  local dir=$1 bin port
  bin=$(bindir)
  port=$(cat "$dir/port")
  as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1" start >&2 || {
    log "the server did not start; its log:"; cat "$dir/server.log" >&2 || true; return 1; }
}

cmd_start() {
  ensure_installed
  local dir=${1:-} bin port
  bin=$(bindir)
  if [ -z "$dir" ]; then
    dir=$(mktemp -d "${TMPDIR:-/tmp}/watchword-pg.XXXXXX")
  fi
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then chown postgres: "$dir"; fi
  chmod 700 "$dir"
  as_pg "$bin/initdb" -D "$dir/data" -A trust -U postgres --no-sync -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || {
    log "initdb failed:"; cat "$dir/initdb.log" >&2; return 1; }
  # Loopback only. The superuser needs no password; every other role does, so tests can
  # check the answer to a wrong one.
  {
    echo "local all all trust"
    echo "host all postgres 127.0.0.1/32 trust"
    echo "host all all 127.0.0.1/32 scram-sha-256"
  } | as_pg tee "$dir/data/pg_hba.conf" >/dev/null
  # A throwaway server: durability off, which makes tests faster.
  {
    echo "fsync = off"
    echo "synchronous_commit = off"
    echo "full_page_writes = off"
    echo "max_connections = 300"
  } | as_pg tee -a "$dir/data/postgresql.conf" >/dev/null
  port=$(free_port)
  echo "$port" | as_pg tee "$dir/port" >/dev/null
  server_start "$dir"
  echo "export WATCHWORD_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:$port/postgres"
  echo "export WATCHWORD_TEST_POSTGRES_DIR=$dir"
}

cmd_pause() {
  local dir=${1:?usage: postgres.sh pause DIR}
  as_pg "$(bindir)/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >&2
}

cmd_resume() {
  local dir=${1:?usage: postgres.sh resume DIR}
  server_start "$dir"
}

# The postmaster and every process it started (backends, background workers).
server_pids() {
  local master
  master=$(head -1 "$1/data/postmaster.pid")
  echo "$master"
  pgrep -P "$master" || true
}

cmd_freeze() {
  local dir=${1:?usage: postgres.sh freeze DIR}
  # The postmaster first, so that no new backend starts unfrozen.
  server_pids "$dir" | xargs -r kill -STOP
}

cmd_thaw() {
  local dir=${1:?usage: postgres.sh thaw DIR}
  server_pids "$dir" | xargs -r kill -CONT
}

cmd_stop() {
  local dir=${1:?usage: postgres.sh stop DIR}
  if [ -f "$dir/data/postmaster.pid" ]; then
    # A frozen server (a test that failed before thawing it) would never see the signal.
    server_pids "$dir" | xargs -r kill -CONT 2>/dev/null || true
    as_pg "$(bindir)/pg_ctl" -D "$dir/data" -m immediate -w -t 60 stop >&2 || true
  fi
  case "$dir" in
    */watchword-pg.*) rm -rf "$dir" ;;
    *) log "not removing $dir (not made by this script)";;
  esac
}

case "${1:-}" in
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  pause) shift; cmd_pause "$@" ;;
  resume) shift; cmd_resume "$@" ;;
  freeze) shift; cmd_freeze "$@" ;;
  thaw) shift; cmd_thaw "$@" ;;
  *) echo "usage: $0 start [DIR] | stop DIR | pause DIR | resume DIR | freeze DIR | thaw DIR" >&2; exit 2 ;;
esac
