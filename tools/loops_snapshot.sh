#!/bin/sh
# Writes the loop IR (`gmmc compile --emit loops`) of every shipped spec at
# ten sizes, float32 and float64, for the GPU and the host, one file each,
# into DIR. A change meant to leave the generated code alone (a refactor of
# the lowering or of a variant generator) shows it with two snapshots:
#
#   tools/loops_snapshot.sh /tmp/before        # on the old code
#   tools/loops_snapshot.sh /tmp/after         # on the new code
#   diff -r /tmp/before /tmp/after
#
# The PTX and the host code are functions of the loop IR, so equal
# snapshots mean equal kernels. GMMC: the gmmc to run (default build/gmmc).
set -eu
[ $# -eq 1 ] || { echo "usage: tools/loops_snapshot.sh DIR" >&2; exit 2; }
cd "$(dirname "$0")/.."
out=$1
gmmc=${GMMC:-build/gmmc}
mkdir -p "$out"
for spec in full diag spherical tied kmeans; do
  for sizes in M=1,D=33 M=3,D=1 M=4,D=3 M=8,D=8 M=16,D=19 M=32,D=16 M=100,D=24 M=128,D=32 M=64,D=64 M=200,D=40; do
    for dtype in float32 float64; do
      for target in nvptx host; do
        "$gmmc" compile "$spec" --sizes "$sizes" --dtype "$dtype" --target "$target" --emit loops \
          -o "$out/$spec.$sizes.$dtype.$target.loops"
      done
    done
  done
done
echo "loops_snapshot.sh: $(ls "$out" | wc -l) dumps in $out"
