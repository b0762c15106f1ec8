#!/usr/bin/env bash
# Builds gatehouse and runs the whole test suite (unit + integration) with CTest.
#   scripts/test.sh                 RelWithDebInfo build in ./build
#   BUILD_DIR=build-asan SANITIZE=address,undefined scripts/test.sh
# Extra arguments go to ctest (e.g. -R Routing, -L unit).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

build_dir=${BUILD_DIR:-build}
build_type=${BUILD_TYPE:-RelWithDebInfo}
jobs=${JOBS:-2}

cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE="$build_type" -DGATEHOUSE_SANITIZE="${SANITIZE:-}" >/dev/null
cmake --build "$build_dir" -j "$jobs"

cd "$build_dir"
ctest --output-on-failure -j "$jobs" --timeout 600 "$@"
