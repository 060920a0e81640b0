#!/usr/bin/env bash
# Compares jsonwebtoken's crypto backends (aws_lc_rs, rust_crypto) on the same keys: builds this
# crate once per backend and runs its criterion bench. About 4 minutes on 2 cores once built.
# Needs openssl (for the keys) and cargo.
set -euo pipefail
cd "$(dirname "$0")"
BACKEND_KEYS=$(mktemp -d)
export BACKEND_KEYS
trap 'rm -rf "$BACKEND_KEYS"' EXIT
openssl genpkey -algorithm ed25519 -out "$BACKEND_KEYS/ed25519.pem"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$BACKEND_KEYS/p256.pem"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$BACKEND_KEYS/rsa2048.pem" 2>/dev/null
for k in ed25519 p256 rsa2048; do
  openssl pkey -in "$BACKEND_KEYS/$k.pem" -pubout -out "$BACKEND_KEYS/$k.pub.pem"
done
openssl rand 32 >"$BACKEND_KEYS/hs256.key"
for backend in aws_lc_rs rust_crypto; do
  echo "== jsonwebtoken with $backend"
  # One line per benchmark: "test <backend>/<alg>/<what> ... bench: <ns> ns/iter (+/- <ns>)".
  cargo bench --quiet --features "$backend" --bench backends -- --output-format bencher "$@" 2>/dev/null \
    | grep '^test '
done
