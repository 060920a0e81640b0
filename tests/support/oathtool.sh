#!/usr/bin/env bash
# Installs Debian's `oathtool` (OATH Toolkit), the TOTP generator the TOTP tests take their
# codes from: an implementation nobody here wrote. Idempotent; root only (as in CI).
set -euo pipefail
if command -v oathtool >/dev/null 2>&1; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq oathtool >&2
oathtool --version | head -1 >&2
