#!/bin/sh
# CUDA driver fault injection on a GPU host (tests/gpu/fault_driver.c): a fit
# and a predict with the N-th driver call failing, for every N, in a fresh
# context each time; every run must fail cleanly (GMMC_ERR_DEVICE, or
# GMMC_ERR_OUT_OF_MEMORY for cuMemAlloc, with a message naming the call) or
# succeed without what failed, and the device's free memory must come back.
# A plain GMMC_FAULT_INJECTION build, not ASan: ASan and the CUDA driver do
# not mix well (its allocations and threads); the device-memory check stands
# in for the leak check on the device side.
#
#   tests/gpu/faults.sh [cold|warm|all] [step]
#       builds build-gpufaults (needs LLVM 19 and cuda.h) or, where there is
#       no LLVM 19 (the device machine), takes .carry/gpu_faults.tar.xz, and
#       runs gpu_faults; step N tries every N-th driver call only (faster).
#   tests/gpu/faults.sh --pack
#       on a machine with LLVM 19 and cuda.h (no GPU needed): builds the
#       program self-contained (static LLVM) into .carry/gpu_faults.tar.xz
#       for a GPU host without LLVM (carry .carry/gpu_faults.tar.xz).
#
# Prints the driver calls of a clean run (how many, of which kinds), one
# FAIL line per bad run, and a summary per pass. Exits 0 when all passed or
# when there is no GPU ("skipped: no GPU"), 1 otherwise. Log: $OUT/faults.log
# (the device tool's output folder) or /tmp/gmmc-gpu-out/faults.log.
set -u
cd "$(dirname "$0")/../.." || exit 1
build=${GMMC_FAULTS_BUILD:-build-gpufaults}
out=${OUT:-/tmp/gmmc-gpu-out}
mkdir -p "$out"

build_it() { # static LLVM: the binary runs on a host without LLVM 19
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGMMC_FAULT_INJECTION=ON -DGMMC_STATIC_LLVM=ON \
    -DGMMC_MPI=OFF -DGMMC_BUILD_TESTS=ON >"$out/faults-build.log" 2>&1 || { tail -n 30 "$out/faults-build.log"; exit 1; }
  if grep -q '^CUDA_H_DIR:PATH=.*NOTFOUND' "$build/CMakeCache.txt"; then
    echo "faults.sh: cuda.h not found: this build would have no CUDA backend (set CUDA_HOME)"; exit 1
  fi
  cmake --build "$build" -j "$(nproc)" --target gpu_faults >>"$out/faults-build.log" 2>&1 ||
    { tail -n 30 "$out/faults-build.log"; exit 1; }
}

if [ "${1:-}" = "--pack" ]; then
  build_it
  mkdir -p .carry
  tar -C "$build/tests/gpu" -cf - gpu_faults | xz -T0 -3 >.carry/gpu_faults.tar.xz || exit 1
  ls -la .carry/gpu_faults.tar.xz
  exit 0
fi

have_llvm19() {
  for c in llvm-config-19 llvm-config; do
    command -v "$c" >/dev/null && "$c" --version | grep -q '^19' && return 0
  done
  return 1
}

if have_llvm19; then
  build_it
  prog=$build/tests/gpu/gpu_faults
elif [ -f .carry/gpu_faults.tar.xz ]; then
  work=$(mktemp -d /tmp/gmmc-faults.XXXXXX)
  trap 'rm -rf "$work"' EXIT
  tar -C "$work" -xJf .carry/gpu_faults.tar.xz || exit 1
  prog=$work/gpu_faults
else
  echo "faults.sh: no LLVM 19 to build with and no .carry/gpu_faults.tar.xz (run tests/gpu/faults.sh --pack first)"
  exit 1
fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
# the kernel cache is the program's own (a temporary folder, or none)
unset GMMC_CACHE_DIR GMMC_PROFILE
"$prog" "$@" 2>&1 | tee "$out/faults.log"
grep -q -e '^gpu_faults: all passed' -e '^skipped:' "$out/faults.log" && exit 0
exit 1
