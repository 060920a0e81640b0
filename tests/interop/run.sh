#!/usr/bin/env bash
# Interoperability with clients we did not write, against the release binary:
#
#   openapi       openapi.yaml is valid OpenAPI (openapi-spec-validator) and GET /openapi.yaml
#                 serves it byte for byte
#   pyjwt         PyJWT + PyJWKClient from the discovery document (snippets/verify.py)
#   jose          node jose createRemoteJWKSet + jwtVerify (snippets/verify.mjs)
#   nginx         auth_request with /verify in front of an upstream (snippets/nginx.conf)
#   oauth-python  Authlib and requests-oauthlib fetch tokens from /token with both grants
#                 (snippets/oauth_authlib.py, snippets/oauth_requests_oauthlib.py)
#   oauth-node    openid-client does the same (snippets/oauth_client.mjs)
#   schemathesis  every operation of openapi.yaml, generated inputs, all checks
#
# PyJWT and jose verify EdDSA, ES256 and RS256 tokens and refuse an expired one, one with a
# flipped signature byte and one for another audience. The OAuth clients fetch tokens from a
# server of each token profile (jwt, rfc9068), with a client secret holding %, +, : and a
# space; PyJWT and jose verify those tokens; a wrong secret and a wrong password must fail
# with each library's own error for invalid_client and invalid_grant.
#
# Usage: bash tests/interop/run.sh    (from any directory; needs python3 with venv, node >= 18
# with npm, and nginx or apt-get). Everything is installed under one mktemp directory: a
# Python venv, an npm prefix, and nginx extracted from Debian's packages when it is not on
# PATH. A package that cannot be installed fails the run and is named; nothing is skipped.
# INTEROP_KEEP=1 keeps the temporary directory (logs, configs) for a look afterwards.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

die() {
  echo "interop: FAIL: $*" >&2
  exit 1
}

tmp="$(mktemp -d "${TMPDIR:-/tmp}/watchword-interop.XXXXXX")"
pids=()
cleanup() {
  local rc=$?
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  if [ -f "$tmp/nginx/nginx.pid" ]; then kill "$(cat "$tmp/nginx/nginx.pid")" 2>/dev/null || true; fi
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "${INTEROP_KEEP:-0}" = 1 ]; then
    echo "interop: kept $tmp"
  else
    rm -rf "$tmp"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------------
echo "== tools"
command -v python3 >/dev/null || die "python3 is not installed (needed for the venv)"
python3 -m venv "$tmp/venv" || die "python3 could not create a venv (Debian: apt-get install python3-venv)"
py="$tmp/venv/bin/python"
tools() { "$py" "$here/tools.py" "$@"; }
"$py" -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
for pkg in 'pyjwt[crypto]' schemathesis openapi-spec-validator authlib requests requests-oauthlib; do
  "$py" -m pip install --quiet "$pkg" || die "pip could not install $pkg"
done
echo "ok: venv with $("$py" -m pip list 2>/dev/null | grep -iE '^(pyjwt|schemathesis|openapi-spec-validator|authlib|requests-oauthlib) ' | tr -s ' ' | paste -sd, -)"

command -v node >/dev/null || die "node is not installed (needed for jose)"
command -v npm >/dev/null || die "npm is not installed (needed for jose)"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)' ||
  die "node $(node --version) is too old for jose (fetch and WebCrypto need >= 18)"
mkdir -p "$tmp/node"
for pkg in jose openid-client; do
  npm install --prefix "$tmp/node" --no-audit --no-fund --silent "$pkg" >/dev/null || die "npm could not install $pkg"
done
version() { node -p "require('$tmp/node/node_modules/$1/package.json').version"; }
echo "ok: node $(node --version) with jose $(version jose), openid-client $(version openid-client)"

if command -v nginx >/dev/null; then
  nginx_bin="$(command -v nginx)"
else
  # Debian's package, extracted rather than installed: no service is started, nothing outside
  # $tmp changes (apt-get update refreshes the package lists when they are missing).
  command -v apt-get >/dev/null || die "nginx is not installed and there is no apt-get to fetch it"
  mkdir -p "$tmp/debs" "$tmp/nginx-root"
  (cd "$tmp/debs" && apt-get download nginx >/dev/null 2>&1) ||
    { apt-get update -qq >/dev/null 2>&1 && (cd "$tmp/debs" && apt-get download nginx >/dev/null 2>&1); } ||
    die "nginx is not installed and apt-get could not download Debian's nginx package"
  # Its shared libraries, when this machine lacks them (libc6 is always there).
  for dep in $(apt-cache depends nginx 2>/dev/null | awk '/Depends: lib/ {print $2}' | sort -u); do
    [ "$dep" = libc6 ] && continue
    dpkg -s "$dep" >/dev/null 2>&1 && continue
    (cd "$tmp/debs" && apt-get download "$dep" >/dev/null 2>&1) || die "apt-get could not download $dep (needed by nginx)"
  done
  for deb in "$tmp"/debs/*.deb; do dpkg-deb -x "$deb" "$tmp/nginx-root" || die "dpkg-deb could not unpack $deb"; done
  nginx_bin="$tmp/nginx-root/usr/sbin/nginx"
  nginx_libs="$(find "$tmp/nginx-root" -name '*.so*' -printf '%h\n' | sort -u | paste -sd: -)"
fi
# Only nginx sees the libraries extracted for it.
nginx() {
  if [ -n "${nginx_libs:-}" ]; then
    LD_LIBRARY_PATH="$nginx_libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$nginx_bin" "$@"
  else
    "$nginx_bin" "$@"
  fi
}
nginx -V 2>&1 | grep -q -- --with-http_auth_request_module ||
  die "$nginx_bin has no auth_request module"
echo "ok: $(nginx -v 2>&1) ($nginx_bin)"

# ---------------------------------------------------------------------------------------------
echo "== release binary"
if [ -n "${WATCHWORD_BIN:-}" ]; then
  bin="$WATCHWORD_BIN"
else
  cargo build --release --locked
  bin="${CARGO_TARGET_DIR:-$root/target}/release/watchword"
fi
[ -x "$bin" ] || die "no binary at $bin"
echo "ok: $bin"

# Cheap argon2 for hashes made here and for the servers' dummy hash; clean of the caller's config.
ww_env=(env -u WATCHWORD_CONFIG -u RUST_LOG
  WATCHWORD__PASSWORD__M_COST=64 WATCHWORD__PASSWORD__T_COST=1 WATCHWORD__PASSWORD__P_COST=1)
ww() { "${ww_env[@]}" "$@"; }

user=alice
password='correct horse battery staple'
roles=reader,writer
audience=interop
# A service account whose secret holds every character Basic's two encodings treat differently.
service=reports-batch
service_secret='50% of a+b: c d'
hash="$(printf %s "$password" | ww "$bin" hash-password)"
demo_hash="$(printf %s password_test | ww "$bin" hash-password)"
service_hash="$(printf %s "$service_secret" | ww "$bin" hash-password)"
demo_service_hash="$(printf %s pass-code-9 | ww "$bin" hash-password)"
cat >"$tmp/users.toml" <<EOF
[[users]]
name = "$user"
password_hash = "$hash"
roles = ["reader", "writer"]

# The example user of openapi.yaml, so Schemathesis's example requests log in.
[[users]]
name = "user_test"
password_hash = "$demo_hash"
roles = ["demo"]

[[service_accounts]]
identifier = "$service"
pass_code_hash = "$service_hash"
roles = ["reader"]

# The example client of openapi.yaml's /token.
[[service_accounts]]
identifier = "billing-batch"
pass_code_hash = "$demo_service_hash"
roles = ["reader"]
EOF
# Roles grant permissions, which are the scopes /token grants.
cat >"$tmp/permissions.toml" <<EOF
[permissions]
reader = ["read_docs"]
writer = ["write_docs"]
EOF

# start NAME PORT [VAR=value …]: a watchword on 127.0.0.1:PORT, ready when /healthz answers.
start() {
  local name=$1 port=$2
  shift 2
  # Not through a shell function: `env` execs the server, so $! is the server's own pid.
  "${ww_env[@]}" WATCHWORD__SERVER__BIND="127.0.0.1:$port" WATCHWORD__SERVER__WORKERS=1 \
    WATCHWORD__USERS__FILE="$tmp/users.toml" WATCHWORD__TOKEN__AUDIENCE="$audience" "$@" \
    "$bin" serve >"$tmp/$name.log" 2>&1 &
  pids+=($!)
  tools wait "http://127.0.0.1:$port/healthz" "$!" 30 || { tail -20 "$tmp/$name.log" >&2; die "$name did not start"; }
}

# One server per algorithm, and a second one with the same key and issuer whose tokens live
# one second, for the expired cases.
: >"$tmp/tokens"
short=()
for alg in EdDSA ES256 RS256; do
  ww "$bin" keygen --alg "$alg" --out "$tmp/$alg.pem" 2>/dev/null
  port="$(tools port)"
  issuer="http://127.0.0.1:$port"
  start "$alg" "$port" WATCHWORD__TOKEN__ISSUER="$issuer" WATCHWORD__TOKEN__ALGORITHM="$alg" \
    WATCHWORD__KEYS__SIGNING_KEY_FILE="$tmp/$alg.pem" WATCHWORD__THROTTLE__ENABLED=false
  short_port="$(tools port)"
  start "$alg-short" "$short_port" WATCHWORD__TOKEN__ISSUER="$issuer" WATCHWORD__TOKEN__ALGORITHM="$alg" \
    WATCHWORD__KEYS__SIGNING_KEY_FILE="$tmp/$alg.pem" WATCHWORD__THROTTLE__ENABLED=false WATCHWORD__TOKEN__TTL=1s
  short+=("${pids[-1]}")
  fresh="$(tools login "$issuer" "$user" "$password")"
  expired="$(tools login "http://127.0.0.1:$short_port" "$user" "$password")"
  echo "$alg $issuer $fresh $expired" >>"$tmp/tokens"
done
kill "${short[@]}"
expired_at=$(($(date +%s) + 1))
tools cases "$tmp/cases.json" "$user" "$roles" "$audience" <"$tmp/tokens"
# exp = iat + 1 s. PyJWT and jose allow no clock skew by default; watchword's /verify allows
# 30 s, so the nginx cases come last and wait for that (see below).
sleep 3
echo "ok: servers for EdDSA, ES256, RS256; fresh, expired and tampered tokens"

# ---------------------------------------------------------------------------------------------
total_passed=0
total_failed=0
# run NAME CMD…: runs a client, which prints `NAME: N passed, M failed`; adds it to the totals.
run() {
  local name=$1 line
  shift
  echo "== $name"
  "$@" 2>&1 | tee "$tmp/$name.out" || true
  line="$(grep -E "^$name: [0-9]+ passed, [0-9]+ failed$" "$tmp/$name.out" | tail -1 || true)"
  if [ -z "$line" ]; then
    line="$name: 0 passed, 1 failed"
    echo "$line (it ended without a summary)"
  fi
  read -r p f < <(sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed/\1 \2/' <<<"$line")
  total_passed=$((total_passed + p))
  total_failed=$((total_failed + f))
  summary+=("$line")
}
summary=()

openapi_cases() {
  local passed=0 failed=0
  if "$tmp/venv/bin/openapi-spec-validator" "$root/openapi.yaml"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
  fi
  if tools served "http://127.0.0.1:$contract_port" "$root/openapi.yaml"; then
    echo "  ok   GET /openapi.yaml is openapi.yaml byte for byte, as application/yaml"
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
  fi
  echo "openapi: $passed passed, $failed failed"
}

# Two servers for the OAuth clients: today's tokens, and RFC 9068 access tokens.
: >"$tmp/oauth-servers"
for profile in jwt rfc9068; do
  port="$(tools port)"
  start "oauth-$profile" "$port" WATCHWORD__TOKEN__ISSUER="http://127.0.0.1:$port" WATCHWORD__TOKEN__PROFILE="$profile" \
    WATCHWORD__KEYS__SIGNING_KEY_FILE="$tmp/EdDSA.pem" WATCHWORD__THROTTLE__ENABLED=false WATCHWORD_CONFIG="$tmp/permissions.toml"
  echo "$profile http://127.0.0.1:$port" >>"$tmp/oauth-servers"
done
tools oauth "$tmp/oauth.json" "$audience" "$user" "$password" "$roles" "$service" "$service_secret" <"$tmp/oauth-servers"
echo "ok: OAuth servers for the jwt and rfc9068 token profiles"

# The contract server throttles per user name as by default (5 failures), so Schemathesis
# meets 429 answers for the names it repeats, but not per address: with the default 50 every
# login after the first few dozen generated ones would be a 429 and test nothing else.
contract_port="$(tools port)"
start contract "$contract_port" WATCHWORD__TOKEN__ISSUER="http://127.0.0.1:$contract_port" \
  WATCHWORD__KEYS__SIGNING_KEY_FILE="$tmp/EdDSA.pem" WATCHWORD__THROTTLE__MAX_FAILURES_PER_IP=1000000 \
  WATCHWORD_CONFIG="$tmp/permissions.toml"

run openapi openapi_cases
run pyjwt "$py" "$here/pyjwt_cases.py" "$tmp/cases.json"

cp "$here/snippets/verify.mjs" "$here/jose_cases.mjs" "$here/snippets/oauth_client.mjs" "$here/oauth_cases.mjs" "$tmp/node/"
run jose node "$tmp/node/jose_cases.mjs" "$tmp/cases.json"

run oauth-python "$py" "$here/oauth_cases.py" "$tmp/oauth.json"
run oauth-node node "$tmp/node/oauth_cases.mjs" "$tmp/oauth.json"

# Schemathesis: every operation, examples + coverage + fuzzing, every check but one. /verify
# gets a valid token through the spec's bearerAuth scheme, so its 200 answer is exercised too
# (and the ignored_auth check probes it without and with a wrong token).
#
# unsupported_method is left out, for two reasons:
# - watchword's 405 answers carry no `Allow` header (RFC 9110 requires one; Schemathesis
#   fails "TRACE returned 405 without required `Allow` header" on every path but /verify);
# - /verify answers every method, including QUERY, which OpenAPI 3.1 cannot declare.
# SCHEMATHESIS_EXCLUDE_CHECKS overrides the list; SCHEMATHESIS_MAX_EXAMPLES the examples per operation.
schemathesis_cases() {
  local token rc=0
  token="$(tools login "http://127.0.0.1:$contract_port" "$user" "$password")"
  cat >"$tmp/schemathesis.toml" <<EOF
[auth.openapi.bearerAuth]
bearer = "$token"
EOF
  (cd "$tmp" && "$tmp/venv/bin/schemathesis" --config-file "$tmp/schemathesis.toml" run \
    "http://127.0.0.1:$contract_port/openapi.yaml" --url "http://127.0.0.1:$contract_port" \
    --checks all --exclude-checks "${SCHEMATHESIS_EXCLUDE_CHECKS:-unsupported_method}" \
    --phases examples,coverage,fuzzing --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-100}" \
    --generation-database none --no-color --report junit --report-junit-path "$tmp/schemathesis.xml") || rc=$?
  "$py" - "$tmp/schemathesis.xml" "$rc" <<'EOF'
import sys
import xml.etree.ElementTree as ET
cases = ET.parse(sys.argv[1]).getroot().iter("testcase")
passed = failed = 0
for case in cases:
    if case.find("failure") is not None or case.find("error") is not None:
        failed += 1
    elif case.find("skipped") is None:
        passed += 1
if sys.argv[2] != "0" and not failed:
    failed = 1  # a non-zero exit without a failing operation is still a failure
print(f"schemathesis: {passed} passed, {failed} failed")
EOF
}
run schemathesis schemathesis_cases

# nginx in front of an echo upstream; /verify of the EdDSA server is the auth endpoint.
echo_port="$(tools port)"
"$py" "$here/echo_upstream.py" "$echo_port" &
pids+=($!)
nginx_port="$(tools port)"
eddsa_issuer="$(head -1 "$tmp/tokens" | cut -d' ' -f2)"
mkdir -p "$tmp/nginx/logs"
cat >"$tmp/nginx/nginx.conf" <<EOF
$([ "$(id -u)" = 0 ] && echo "user root root;")
worker_processes 1;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/logs/error.log warn;
events { worker_connections 64; }
http {
    access_log $tmp/nginx/logs/access.log;
    client_body_temp_path $tmp/nginx/body;
    proxy_temp_path $tmp/nginx/proxy;
    fastcgi_temp_path $tmp/nginx/fastcgi;
    uwsgi_temp_path $tmp/nginx/uwsgi;
    scgi_temp_path $tmp/nginx/scgi;
    upstream watchword { server ${eddsa_issuer#http://}; }
    upstream app { server 127.0.0.1:$echo_port; }
    server {
        listen 127.0.0.1:$nginx_port;
        include $here/snippets/nginx.conf;
    }
}
EOF
nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/logs/error.log" -t -q ||
  die "nginx does not accept $tmp/nginx/nginx.conf"
nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/logs/error.log" ||
  die "nginx did not start"
tools wait "http://127.0.0.1:$echo_port/" "${pids[-1]}" 10 || die "echo upstream did not start"
for _ in $(seq 50); do [ -s "$tmp/nginx/nginx.pid" ] && break; sleep 0.1; done
# /verify refuses a token 30 s (its clock leeway) after exp.
wait_s=$((expired_at + 32 - $(date +%s)))
if [ "$wait_s" -gt 0 ]; then
  echo "(waiting ${wait_s} s until the expired tokens are past /verify's 30 s leeway)"
  sleep "$wait_s"
fi
run nginx "$py" "$here/nginx_cases.py" "$tmp/cases.json" "http://127.0.0.1:$nginx_port"

# ---------------------------------------------------------------------------------------------
echo "== summary"
printf '%s\n' "${summary[@]}"
echo "interop: $total_passed passed, $total_failed failed"
[ "$total_failed" = 0 ]
