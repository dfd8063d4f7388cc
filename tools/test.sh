#!/bin/sh
# The second README command (and CI's): install what is missing, build from
# scratch, run every test. GPU tests report "skipped" where there is no GPU.
set -eu
cd "$(dirname "$0")/.."
tools/install-deps.sh
rm -rf build-test
cmake -S . -B build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build-test -j "$(nproc)"
ctest --test-dir build-test --output-on-failure -j "$(nproc)"
