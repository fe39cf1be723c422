#!/usr/bin/env bash
# Installs the Debian packages fanout builds and runs with (DESIGN.md §9).
# Does nothing when every package is already present. Needs root (or sudo) only to install.
#
#   deploy/install-deps.sh             what `make build` and `make test` need
#   deploy/install-deps.sh --optional  also what some tests use when present and skip (saying
#                                      so) when absent: chromium (the status page test),
#                                      prometheus (promtool checks /metrics and
#                                      deploy/prometheus.yml), docker-compose (compose config)
#   deploy/install-deps.sh --fuzz      the optional packages of `make fuzz` instead (clang-16
#                                      and its libFuzzer runtime); nothing else needs them
set -euo pipefail

FUZZ_PACKAGES=(clang-16 libclang-rt-16-dev)
PACKAGES=(
  g++ make cmake pkg-config ninja-build python3
  libzmq3-dev cppzmq-dev libmsgpack-cxx-dev libhiredis-dev libuv1-dev
  libyaml-cpp-dev nlohmann-json3-dev libcli11-dev libspdlog-dev libfmt-dev
  libcpp-httplib-dev libsodium-dev libgtest-dev libgmock-dev libbenchmark-dev
  redis-server redis-tools
)
if [ "${1:-}" = "--optional" ]; then
  PACKAGES+=(chromium prometheus docker-compose)
fi

if [ "${1:-}" = "--fuzz" ]; then PACKAGES=("${FUZZ_PACKAGES[@]}"); fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# --no-install-recommends keeps libmsgpack-cxx-dev from pulling Boost's docs and friends;
# never install libmsgpack-dev (the C library) beside it: its CMake config shadows ours.
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
# The package enables a system redis-server; fanout starts its own on a free port.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  $SUDO systemctl disable --now redis-server >/dev/null 2>&1 || true
  # Likewise the optional prometheus package's own server: only promtool is used.
  $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
