#!/usr/bin/env bash
# A throwaway OpenLDAP directory (Debian's slapd) on loopback for the LDAP store's tests and
# benchmark.
#
#   eval "$(bash tests/support/ldap.sh start)"   # prints export lines, see below
#   bash tests/support/ldap.sh stop   "$WATCHWORD_TEST_LDAP_DIR"   # stop and delete
#   bash tests/support/ldap.sh pause  "$DIR"   # stop slapd, keep its data and ports
#   bash tests/support/ldap.sh resume "$DIR"   # start it again on the same ports
#
# `start [DIR]` installs Debian's `slapd` and `ldap-utils` when slapd is missing (as root only),
# makes a CA and a server certificate for 127.0.0.1/localhost (and a second CA that signed
# nothing, for the "does not chain" test), loads a few people and groups under
# dc=example,dc=org, and starts slapd on two free ports: ldap:// (StartTLS offered, plain
# allowed) and ldaps://. It prints:
#   export WATCHWORD_TEST_LDAP_URL=ldap://127.0.0.1:PORT
#   export WATCHWORD_TEST_LDAPS_URL=ldaps://127.0.0.1:PORT
#   export WATCHWORD_TEST_LDAP_CA=DIR/ca.pem
#   export WATCHWORD_TEST_LDAP_OTHER_CA=DIR/other-ca.pem
#   export WATCHWORD_TEST_LDAP_LOG=DIR/slapd.log
#   export WATCHWORD_TEST_LDAP_DIR=DIR
# The service account is cn=watchword,ou=services,dc=example,dc=org, its password in
# DIR/service-password. People (uid=NAME,ou=people,dc=example,dc=org, password NAME-password):
# alice, bob (in no group), carol (named by one test only, whose log lines it reads), admin,
# `jo*(ann)\` (filter metacharacters in the name), and `twin`, which exists twice (ou=people and ou=contractors). Groups
# (groupOfNames, ou=groups): admins = {admin}, developers = {alice, jo*(ann)\}.
#
# Lenient on purpose: `allow bind_anon_dn` makes a bind with a DN and an EMPTY password succeed
# as anonymous (RFC 4513 §5.1.2's unauthenticated bind), as many directories do; the tests
# prove watchword never sends one. slapd logs every operation (loglevel stats) to
# DIR/slapd.log, so a test can read which binds were made. `idletimeout 4` drops connections
# idle for 4 s, so the tests see the service connection dropped by the server and re-made.
# Nothing but the export lines goes to stdout.
set -euo pipefail

log() { echo "ldap.sh: $*" >&2; }

SUFFIX="dc=example,dc=org"

ensure_installed() {
  if command -v slapd >/dev/null 2>&1 || [ -x /usr/sbin/slapd ]; then
    if command -v ldapsearch >/dev/null 2>&1; then return 0; fi
  fi
  if [ "$(id -u)" != 0 ]; then
    log "slapd or ldapsearch is missing; install Debian's slapd and ldap-utils packages"
    return 1
  fi
  log "installing Debian's slapd and ldap-utils packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q slapd ldap-utils >&2 || { apt-get update -q >&2 && apt-get install -y -q slapd ldap-utils >&2; }
  # The package's own directory is not ours: never leave it running.
  if command -v systemctl >/dev/null 2>&1; then systemctl disable --now slapd >&2 2>/dev/null || true; fi
  if [ -x /etc/init.d/slapd ]; then /etc/init.d/slapd stop >&2 2>/dev/null || true; fi
}

SLAPD=/usr/sbin/slapd

free_port() {
  python3 - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

make_certs() {
  local dir=$1
  (
    cd "$dir"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
      -subj "/CN=watchword test LDAP CA" -keyout ca.key -out ca.pem \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
      -subj "/CN=some other CA" -keyout other-ca.key -out other-ca.pem \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
      -subj "/CN=localhost" -keyout server.key -out server.csr 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' > server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 \
      -extfile server.ext -out server.pem 2>/dev/null
    rm -f server.csr server.ext ca.srl
    chmod 600 ca.key other-ca.key server.key
  )
}

ssha() { /usr/sbin/slappasswd -h '{SSHA}' -s "$1"; }

# person UID OU CN NUMBER [RDN]: RDN is the UID as a DN value (escaped) when it differs.
person() {
  local uid=$1 ou=$2 cn=$3 rdn=${5:-$1}
  cat <<EOF
dn: uid=$rdn,ou=$ou,$SUFFIX
objectClass: inetOrgPerson
uid: $uid
cn: $cn
sn: $cn
mail: $uid@example.org
employeeNumber: ${4:-0}
userPassword: $(ssha "$uid-password")

EOF
}

directory_ldif() {
  cat <<EOF
dn: $SUFFIX
objectClass: dcObject
objectClass: organization
dc: example
o: example

dn: ou=people,$SUFFIX
objectClass: organizationalUnit
ou: people

dn: ou=contractors,$SUFFIX
objectClass: organizationalUnit
ou: contractors

dn: ou=groups,$SUFFIX
objectClass: organizationalUnit
ou: groups

dn: ou=services,$SUFFIX
objectClass: organizationalUnit
ou: services

dn: cn=watchword,ou=services,$SUFFIX
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: watchword
userPassword: $(ssha "$(cat "$1/service-password")")

EOF
  person alice people "Alice Example" 1001
  person bob people "Bob Example" 1002
  person admin people "Admin Example" 1003
  person 'jo*(ann)\' people "Jo Ann" 1004 'jo*(ann)\5C'
  person carol people "Carol Example" 1007
  person twin people "Twin One" 1005
  person twin contractors "Twin Two" 1006
  cat <<EOF
dn: cn=admins,ou=groups,$SUFFIX
objectClass: groupOfNames
cn: admins
member: uid=admin,ou=people,$SUFFIX

dn: cn=developers,ou=groups,$SUFFIX
objectClass: groupOfNames
cn: developers
member: uid=alice,ou=people,$SUFFIX
member: uid=jo*(ann)\5C,ou=people,$SUFFIX

EOF
}

slapd_conf() {
  local dir=$1
  cat <<EOF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile $dir/slapd.pid
argsfile $dir/slapd.args
# Lenient like many directories: a DN with an empty password binds as anonymous.
allow bind_anon_dn bind_anon_cred
idletimeout 4
sizelimit 500
TLSCACertificateFile $dir/ca.pem
TLSCertificateFile $dir/server.pem
TLSCertificateKeyFile $dir/server.key

database mdb
maxsize 104857600
suffix "$SUFFIX"
rootdn "cn=admin,$SUFFIX"
rootpw $(ssha "$(cat "$dir/service-password")")
directory $dir/data
access to attrs=userPassword by anonymous auth by * none
access to * by users read by * none
EOF
}

server_start() {
  local dir=$1 port sport i
  port=$(cat "$dir/port")
  sport=$(cat "$dir/sport")
  # -d stats: stay in the foreground and log every connection and operation (BIND lines).
  nohup "$SLAPD" -f "$dir/slapd.conf" -h "ldap://127.0.0.1:$port/ ldaps://127.0.0.1:$sport/" \
    -d stats >>"$dir/slapd.log" 2>&1 </dev/null &
  echo $! > "$dir/slapd.run"
  for i in $(seq 1 100); do
    if LDAPTLS_CACERT="$dir/ca.pem" ldapsearch -x -H "ldap://127.0.0.1:$port" -b "" -s base \
        namingContexts >/dev/null 2>&1; then
      return 0
    fi
    if ! kill -0 "$(cat "$dir/slapd.run")" 2>/dev/null; then break; fi
    sleep 0.1
  done
  log "slapd did not start; its log:"; tail -30 "$dir/slapd.log" >&2 || true
  return 1
}

cmd_start() {
  ensure_installed
  local dir=${1:-} port sport
  if [ -z "$dir" ]; then
    dir=$(mktemp -d "${TMPDIR:-/tmp}/watchword-ldap.XXXXXX")
  fi
  mkdir -p "$dir/data"
  chmod 700 "$dir"
  head -c 18 /dev/urandom | base64 | tr -d '/+=\n' > "$dir/service-password"
  chmod 600 "$dir/service-password"
  make_certs "$dir"
  slapd_conf "$dir" > "$dir/slapd.conf"
  directory_ldif "$dir" > "$dir/directory.ldif"
  /usr/sbin/slapadd -q -f "$dir/slapd.conf" -l "$dir/directory.ldif" >"$dir/slapadd.log" 2>&1 || {
    log "slapadd failed:"; cat "$dir/slapadd.log" >&2; return 1; }
  port=$(free_port)
  sport=$(free_port)
  echo "$port" > "$dir/port"
  echo "$sport" > "$dir/sport"
  server_start "$dir"
  echo "export WATCHWORD_TEST_LDAP_URL=ldap://127.0.0.1:$port"
  echo "export WATCHWORD_TEST_LDAPS_URL=ldaps://127.0.0.1:$sport"
  echo "export WATCHWORD_TEST_LDAP_CA=$dir/ca.pem"
  echo "export WATCHWORD_TEST_LDAP_OTHER_CA=$dir/other-ca.pem"
  echo "export WATCHWORD_TEST_LDAP_LOG=$dir/slapd.log"
  echo "export WATCHWORD_TEST_LDAP_DIR=$dir"
}

cmd_pause() {
  local dir=${1:?usage: ldap.sh pause DIR} pid i
  pid=$(cat "$dir/slapd.run" 2>/dev/null || true)
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || return 0
  for i in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$dir/slapd.run"; return 0; }
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$dir/slapd.run"
}

cmd_resume() {
  local dir=${1:?usage: ldap.sh resume DIR}
  server_start "$dir"
}

cmd_stop() {
  local dir=${1:?usage: ldap.sh stop DIR}
  cmd_pause "$dir"
  case "$dir" in
    */watchword-ldap.*) rm -rf "$dir" ;;
    *) log "not removing $dir (not made by this script)";;
  esac
}

case "${1:-}" in
  start) shift; cmd_start "$@" ;;
  stop) shift; cmd_stop "$@" ;;
  pause) shift; cmd_pause "$@" ;;
  resume) shift; cmd_resume "$@" ;;
  *) echo "usage: $0 start [DIR] | stop DIR | pause DIR | resume DIR" >&2; exit 2 ;;
esac
