#!/bin/sh
# The once statements on a GPU host, in one device call (tests/gpu/pack.sh's
# binaries in .carry/gpu.tar.xz): the mixtures against their float64 EM
# (tests/gpu/mixtures.sh: bernoulli, poisson, multinomial, poisson_prior, the
# last two also streamed), then tests/bench/mixtures_bench.py (gmmc against
# PyTorch, ms per iteration at N = 10^6, D = 32, M = 64; it prints the table
# of docs/performance.md). Logs in $OUT.
set -u
out=${OUT:-/tmp/gmmc-once}; mkdir -p "$out"; work=/tmp/gmmc-once; mkdir -p "$work"
tar -C "$work" -xJf .carry/gpu.tar.xz
export PATH="$work:$PATH" LD_LIBRARY_PATH="$work" GMMC_CACHE_DIR="$work/cache"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
timeout 200 sh tests/gpu/mixtures.sh >"$out/mixtures.log" 2>&1
echo "== mixtures: rc=$? $(grep -c 'largest differences' "$out/mixtures.log") fits agree; $(grep -c FAIL "$out/mixtures.log") FAIL lines"
timeout 300 python3 tests/bench/mixtures_bench.py --gmmc "$work/gmmc" 2>&1 | tee "$out/bench.log" | tail -8
