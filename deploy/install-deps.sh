#!/usr/bin/env bash
# Installs the Debian packages that zerorl's build, tests and demo need.
# Idempotent: packages already installed are skipped; nothing else is touched.
# Usage: deploy/install-deps.sh [--print]   (--print lists the packages and exits)
set -euo pipefail

PACKAGES=(
  # build
  build-essential cmake pkg-config
  # wire, event loop, state
  libzmq3-dev libprotobuf-c-dev protobuf-c-compiler libuv1-dev libhiredis-dev
  # runtime services used by tests and the demo; nftables: random loss in tests/fault/netns.sh
  redis-server nftables
  # compute and utilities
  libopenblas-dev libjansson-dev libxxhash-dev
  # tokenizer: Unicode regexes (pre-tokenizers) and NFC normalisation
  libpcre2-dev libutf8proc-dev
  # reward tier: exact arithmetic for math answers, the sandbox (seccomp), interpreters it runs
  libgmp-dev libmpfr-dev libseccomp-dev python3 g++
  # the peer the sandbox is benchmarked against
  bubblewrap
  # `zerorl plot` draws metrics with gnuplot; `systemd-analyze verify` checks the units
  gnuplot-nox systemd
  # fuzzing and sanitizer runtimes (libFuzzer comes with clang)
  clang libclang-rt-dev
)

if [[ "${1:-}" == "--print" ]]; then
  printf '%s\n' "${PACKAGES[@]}"
  exit 0
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-deps: error: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get update -qq; then
  echo "install-deps: error: 'apt-get update' failed; check network access to the Debian mirrors" >&2
  exit 1
fi
if ! $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
  echo "install-deps: error: could not install: ${missing[*]}" >&2
  exit 1
fi
echo "install-deps: done"
