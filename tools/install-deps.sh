#!/bin/sh
# Installs the Debian packages gmmc needs that this machine lacks (Debian
# bookworm; run as root or with sudo). Nothing else is assumed installed.
set -eu
packages="build-essential cmake pkg-config llvm-19-dev libyaml-dev zlib1g-dev libzstd-dev
  python3 python3-numpy python3-sklearn python3-pytest python3-venv python3-pip
  clang-19 libclang-rt-19-dev clang-format-19 libopenmpi-dev openmpi-bin valgrind abigail-tools"
missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then
  echo "install-deps: everything is installed"
  exit 0
fi
echo "install-deps: installing$missing"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing
