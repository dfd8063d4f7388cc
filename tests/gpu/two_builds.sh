# Sourced by the GPU scripts that time a build against an earlier one
# (merged_check.sh, joined_check.sh): unpack_builds OLD NAME sets `out`
# ($OUT, else /tmp/gmmc-NAME-out, made) and unpacks
# .carry/gpu.tar.xz (tests/gpu/pack.sh) into /tmp/gmmc-new and
# .carry/gpu_OLD.tar.xz into /tmp/gmmc-OLD, each with a `gw` that runs its
# gmmc with its own libgmmc.so (for tests/bench/compare.py); 1 when a pack
# is missing.
unpack_builds() {
  out=${OUT:-/tmp/gmmc-$2-out}
  mkdir -p "$out"
  for b in new "$1"; do
    mkdir -p /tmp/gmmc-$b
    f=.carry/gpu.tar.xz
    [ "$b" = new ] || f=.carry/gpu_$b.tar.xz
    tar -C /tmp/gmmc-$b -xJf $f || { echo "FAIL: no $f"; return 1; }
    printf '#!/bin/sh\nd=$(dirname "$0"); export LD_LIBRARY_PATH=$d; exec $d/gmmc "$@"\n' >/tmp/gmmc-$b/gw
    chmod +x /tmp/gmmc-$b/gw
  done
}
