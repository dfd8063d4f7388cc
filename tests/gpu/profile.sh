#!/bin/sh
# Profiles the kernels gmmc picks for one problem size with Nsight Compute
# (speed of light, warp stall reasons, shared-memory traffic), after
# tests/gpu/run.sh has unpacked the binaries into /tmp/gmmc-gpu.
#   tests/gpu/profile.sh SPEC N=..,M=..,D=.. KERNEL_REGEX
set -u
work=/tmp/gmmc-gpu
out=${OUT:-/tmp/gmmc-gpu-out}
export PATH="$work:$PATH" LD_LIBRARY_PATH="$work" GMMC_CACHE_DIR="$work/cache"
ncu=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
[ -n "$ncu" ] || { echo "profile.sh: ncu not found"; exit 1; }
"$ncu" --kernel-name "regex:$3" --launch-count 2 --clock-control none \
  --section SpeedOfLight --section WarpStateStats --section MemoryWorkloadAnalysis_Tables \
  --section LaunchStats --section Occupancy \
  gmmc bench "$1" --sizes "$2" --iters 1 > "$out/profile_$(echo "$3" | tr -c 'A-Za-z0-9' _).txt" 2>&1
grep -E "Kernel|Duration|Compute \(SM\) Throughput|Memory Throughput|Stall|Achieved Occupancy|Registers|Shared Memory|Bank|Warp Cycles|Issue Slots|^ *smsp__pcsamp" \
  "$out/profile_$(echo "$3" | tr -c 'A-Za-z0-9' _).txt" | head -80
