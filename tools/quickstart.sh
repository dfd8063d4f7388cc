#!/bin/sh
# The first README command: install what is missing, build, and train a
# Gaussian mixture on the iris data set (no GPU needed).
set -eu
cd "$(dirname "$0")/.."
tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)"
build/gmmc fit examples/data/iris.csv --n-components 3 --covariance-type full --verbose -o build/iris-model.yaml
