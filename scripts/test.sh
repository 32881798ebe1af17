#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls exactly this):
#   1. packages (scripts/setup.sh, idempotent), a RelWithDebInfo build, all ctest tests;
#   2. an AddressSanitizer + UndefinedBehaviorSanitizer build and the same tests under it;
#   3. a clang libFuzzer build: each fuzz target replays its corpus, then fuzzes for
#      FUZZ_SECONDS (default 20) seconds.
# Tests start their own berth-edge, PostgreSQL and Redis instances on free loopback ports.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
JOBS=${JOBS:-$(nproc)}

echo "== packages"
BERTH_SETUP_NO_BUILD=1 bash scripts/setup.sh

echo "== build (RelWithDebInfo) and tests"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j "$JOBS"
ctest --test-dir build --output-on-failure -j "$JOBS" --timeout 600

echo "== AddressSanitizer + UndefinedBehaviorSanitizer build and tests"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DBERTH_SANITIZE=address,undefined
cmake --build build-asan -j "$JOBS"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j "$JOBS" --timeout 900

echo "== libFuzzer targets: corpus replay, then ${FUZZ_SECONDS}s of fuzzing each"
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DBERTH_FUZZ=ON
cmake --build build-fuzz -j "$JOBS" --target berth_fuzzers
ctest --test-dir build-fuzz -L fuzz --output-on-failure -j "$JOBS"
for target in $(ctest --test-dir build-fuzz -L fuzz -N | sed -n 's/.*Test *#[0-9]*: \(.*\)_replay$/\1/p'); do
  scratch=$(mktemp -d)
  echo "-- fuzzing $target for ${FUZZ_SECONDS}s"
  # New inputs go to a scratch dir; the committed corpus is only read.
  mkdir -p build-fuzz/artifacts
  if ! build-fuzz/bin/$target -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 \
      -artifact_prefix=build-fuzz/artifacts/$target- \
      $( [[ -f fuzz/http.dict ]] && echo -dict=fuzz/http.dict ) "$scratch" "fuzz/corpus/$target" \
      > "$scratch.log" 2>&1; then
    # A crash: show the invariant or sanitizer report and the saved input, then fail.
    grep -v '^    #[1-9][0-9]' "$scratch.log" | tail -n 60
    ls build-fuzz/artifacts/
    exit 1
  fi
  tail -n 6 "$scratch.log"
  rm -rf "$scratch" "$scratch.log"
done
echo "== all test stages passed"
