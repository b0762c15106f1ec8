#!/usr/bin/env bash
# Installs everything gatehouse needs to build, test and benchmark on Debian 12.
# Idempotent: does nothing when every package is already present.
#   scripts/install-deps.sh          build + test dependencies
#   scripts/install-deps.sh --bench  also nginx, haproxy and wrk for bench/
#   scripts/install-deps.sh --package  also the .deb/.rpm tools (scripts/package.sh)
set -euo pipefail

packages=(
  build-essential cmake pkg-config ccache git ca-certificates curl
  libpoco-dev libssl-dev libsqlite3-dev sqlite3 libfmt-dev libcxxopts-dev
  libgtest-dev libgmock-dev node-llhttp libvalijson-dev libpcre2-dev
  python3
)
if [[ "${1:-}" == "--bench" ]]; then
  packages+=(nginx haproxy wrk)
fi
if [[ "${1:-}" == "--package" ]]; then
  packages+=(dpkg-dev file binutils lintian rpm rpmlint systemd)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then
  sudo="sudo"
fi
echo "installing: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
