#!/usr/bin/env bash
# Installs huibao's build and test dependencies from Debian 12 packages.
# Runs apt-get only when something is missing; needs root for that.
set -euo pipefail
pkgs=(build-essential cmake ninja-build pkg-config time
      libsimdjson-dev libtomlplusplus-dev libcli11-dev libfmt-dev nlohmann-json3-dev
      libgtest-dev libgmock-dev libbenchmark-dev
      libsqlite3-dev libpq-dev postgresql-15 libsodium-dev libxlsxwriter-dev
      libcpp-httplib-dev curl)
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
