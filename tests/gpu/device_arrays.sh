#!/bin/sh
# GPU arrays read in place (issue 22, item 3), in one device call on a GPU
# host with PyTorch, from tests/gpu/pack.sh's binaries (.carry/gpu.tar.xz:
# libgmmc.so) and the checkout's python/ package:
#   same: a CUDA tensor (float32 C and F order, float64) and the same data
#         as NumPy give the same model, predictions and partial_fit steps;
#         the dtype refusals on the GPU;
#   rss:  a 10^7 x 32 float32 CUDA tensor trains (16 components, full, 10
#         iterations) with peak host RSS below the tensor's size; prints
#         both, and what the fit itself added.
# Logs in $OUT (device_arrays_same.log, device_arrays_rss.log); under 5
# minutes on an H100 with an empty kernel cache.
set -u
out=${OUT:-/tmp/gmmc-device-arrays}; mkdir -p "$out"; work=/tmp/gmmc-device-arrays; mkdir -p "$work"
tar -C "$work" -xJf .carry/gpu.tar.xz
export GMMC_LIBRARY="$work/libgmmc.so" GMMC_CACHE_DIR="$work/cache" PYTHONPATH="$PWD/python" PYTHONDONTWRITEBYTECODE=1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" || { echo "FAIL: no PyTorch"; exit 1; }
rc=0
for part in same rss; do
  timeout 140 python3 tests/gpu/device_arrays.py $part >"$out/device_arrays_$part.log" 2>&1
  r=$?
  echo "== $part: rc=$r"
  grep -E "^(ok|FAIL|     )" "$out/device_arrays_$part.log"
  [ $r -eq 0 ] || { rc=1; tail -n 20 "$out/device_arrays_$part.log"; }
done
exit $rc
