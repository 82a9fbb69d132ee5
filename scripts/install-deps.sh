#!/usr/bin/env bash
# Installs what phial needs on Debian/Ubuntu, and only what is missing. Idempotent.
# Usage: scripts/install-deps.sh [--dev]   (--dev adds what the test suite, fuzzers and demo training use)
set -euo pipefail

packages=(build-essential cmake pkg-config libboost1.81-dev libboost-json1.81-dev libopenblas-dev libre2-dev)
if [[ "${1:-}" == "--dev" ]]; then
  packages+=(catch2 clang libclang-rt-14-dev)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#packages[@]} packages already installed"
  exit 0
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done"
