#!/usr/bin/env bash
# Runs every zerorl test: the README's test command.
#   1. installs the Debian packages the build and tests need (deploy/install-deps.sh);
#   2. builds (CUDA sources included when nvcc is found) and runs the whole ctest suite;
#   3. builds again with AddressSanitizer + UndefinedBehaviorSanitizer and runs the unit and
#      integration tests once more;
#   4. builds the libFuzzer targets with clang and runs each for $ZERORL_FUZZ_SECONDS (30).
# Build trees: build/, build-asan/, build-fuzz/. Exit status 0 only if every stage passed.
# Environment: ZERORL_SHARED_DATA (default ../shared/data) for tests that use real datasets;
# ZERORL_TEST_JOBS (default: number of cores) for ctest parallelism.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=${ZERORL_TEST_JOBS:-$(nproc)}
fuzz_seconds=${ZERORL_FUZZ_SECONDS:-30}
export ZERORL_SHARED_DATA=${ZERORL_SHARED_DATA:-$root/../shared/data}

stage() { printf '\n=== %s ===\n' "$*"; }

stage "dependencies"
deploy/install-deps.sh

stage "build (build/)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"

stage "tests (build/)"
ctest --test-dir build --output-on-failure -j"$jobs"

stage "tests under AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/)"
# -O1, as the sanitizer documentation recommends: -O0 makes the numeric tests needlessly slow
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS_DEBUG="-g -O1" \
  -DZERORL_SANITIZE=address,undefined -DZERORL_CUDA=OFF >/dev/null
cmake --build build-asan -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j"$jobs" -L 'unit|integration'

stage "fuzzing, ${fuzz_seconds}s per target (build-fuzz/)"
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DZERORL_FUZZ=ON \
  -DZERORL_SANITIZE=address,undefined -DZERORL_CUDA=OFF >/dev/null
cmake --build build-fuzz -j"$jobs" --target fuzz_targets
# seed the frame fuzzer with a valid encoding of every message type
mkdir -p build-fuzz/corpus/frame
build/tests/unit_frame --write-seeds build-fuzz/corpus/frame >/dev/null 2>&1
for fuzzer in build-fuzz/tests/fuzz/fuzz_*; do
  name=$(basename "$fuzzer")
  corpus=build-fuzz/corpus/${name#fuzz_}
  mkdir -p "$corpus"
  seeds=tests/fuzz/seeds/${name#fuzz_}
  extra=()
  [[ -d "$seeds" ]] && extra+=("$seeds")
  echo "-- $name (${fuzz_seconds}s)"
  if ! "$fuzzer" -max_total_time="$fuzz_seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix=build-fuzz/ "$corpus" "${extra[@]}" 2>build-fuzz/$name.log; then
    tail -n 40 build-fuzz/$name.log
    echo "FAIL: $name found a crash; the input is in build-fuzz/ (see build-fuzz/$name.log)"
    exit 1
  fi
  grep -E '^stat::number_of_executed_units' build-fuzz/$name.log || true
done

stage "all tests passed"
