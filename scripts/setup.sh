#!/usr/bin/env bash
# Installs every Debian package Berth needs (build, tests, fuzzing, benchmarks), then builds.
# Idempotent; run as root on a fresh Debian 12 machine. System services of the packages
# installed here (nginx, lighttpd, h2o, haproxy, postgresql, redis) are never started: Berth's
# scripts and tests run their own instances on loopback ports.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  # build
  build-essential cmake ninja-build ccache pkg-config git clang-format
  clang libclang-rt-14-dev llvm
  # libraries
  libuv1-dev liburing-dev libssl-dev libmaxminddb-dev libhiredis-dev libpqxx-dev libgit2-dev
  catch2 nlohmann-json3-dev libtomlplusplus-dev node-llhttp
  # control: upload archives (#16)
  libarchive-dev
  # real services for control-plane tests
  postgresql redis-server
  # tests and benchmarks
  curl wrk nginx-light h2o lighttpd python3
  # proxy (#14): test GeoIP databases, and HAProxy for the proxy benchmark
  libmaxmind-db-writer-perl haproxy
)

# control: node builds run node and npm in the build sandbox (#16). Machines that already
# carry a Node.js (NodeSource's nodejs bundles npm and conflicts with Debian's npm) keep it.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO="sudo"
  # Keep package postinst scripts from starting nginx/lighttpd/h2o/postgres/redis services.
  policy=/usr/sbin/policy-rc.d
  created_policy=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
    $SUDO chmod +x "$policy"
    created_policy=1
  fi
  trap '[[ $created_policy == 1 ]] && $SUDO rm -f "$policy"' EXIT
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi

if [[ "${BERTH_SETUP_NO_BUILD:-0}" != 1 ]]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
  cmake --build build
fi
