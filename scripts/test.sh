#!/usr/bin/env bash
# The whole test suite: install, build (Release, then ASan+UBSan) and run
# every test with CTest. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs=$(nproc)
echo "== release build"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C build
ctest --test-dir build --output-on-failure -j "$jobs"
echo "== sanitizer build (AddressSanitizer + UndefinedBehaviorSanitizer)"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DHUIBAO_SANITIZE=ON -DHUIBAO_BENCH=OFF >/dev/null
ninja -C build-asan
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -j "$jobs"
echo "== benchmark smoke run"
build/bench/settle_bench --benchmark_min_time=0.05 --benchmark_filter=settle
# The HTTP load run, small: every answer must be a new durable settlement.
HUIBAO_BENCH_PG=0 bench/api_load.sh build 8 2 500 4000
RATE=500 HUIBAO_BENCH_PG=0 bench/api_load.sh build 8 2 500 4000
echo "all tests passed"
