#!/usr/bin/env bash
# Sets memwrap up on a Debian machine: installs the packages it needs (only those missing;
# with sudo when not root), then configures and builds it in ./build (Release).
# Used by both commands at the top of the README and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake pkg-config
  pocl-opencl-icd ocl-icd-opencl-dev opencl-headers clinfo  # OpenCL: CPU device + loader
  libclblast-dev libcjson-dev libcmocka-dev                  # CLBlast, cJSON, cmocka
  zlib1g-dev libpng-dev                                      # dataset readers: .gz/.mat, PNG
  dataset-fashion-mnist                                      # /usr/share/datasets/fashion-mnist
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"
