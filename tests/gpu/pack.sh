#!/bin/sh
# Builds what tests/gpu/run.sh needs on a GPU host that has no LLVM 19: the
# self-contained gmmc and libgmmc.so of a static-LLVM build, and the GPU test
# programs and the host-level soak's (public API, linked to that libgmmc.so),
# packed into
# .carry/gpu.tar.xz for the device tool to carry.
set -eu
cd "$(dirname "$0")/../.."
build=build-static
# no MPI: the GPU host need not have libmpi, and run.sh tests no MPI (GMMC_PACK_MPI=ON to keep it)
cmake -S . -B $build -DGMMC_STATIC_LLVM=ON -DGMMC_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=Release -DGMMC_MPI="${GMMC_PACK_MPI:-OFF}" >/dev/null
cmake --build $build -j "$(nproc)" --target gmmc_cli gmmc
stage=$(mktemp -d)
cp $build/gmmc $stage/
# the current library and its links only (an old build folder keeps older versions' files)
real=$(readlink -f $build/libgmmc.so)
cp -P $build/libgmmc.so "$build/libgmmc.so.$(basename "$real" | cut -d. -f3)" "$real" $stage/
for t in tests/gpu/test_gpu.c tests/gpu/jit_rounds.c tests/em/test_sklearn_agreement.c tests/stream/test_stream.c \
         tests/weights/test_weights.c tests/em/test_mixtures.c tests/many/test_fit_many.c; do
  cc -O2 -std=gnu11 -Iinclude -Itests -I$build/include "$t" -L$build -lgmmc -lm -Wl,-rpath,'$ORIGIN' \
     -o "$stage/$(basename "$t" .c)"
done
cp tests/em/poisson_prior.yaml $stage/ # test_mixtures poisson_prior reads it beside itself
mkdir -p .carry
tar -C "$stage" -cJf .carry/gpu.tar.xz .
rm -rf "$stage"
ls -la .carry/gpu.tar.xz
