#!/usr/bin/env bash
# Sets memwrap up on a Debian machine: installs the packages it needs (only those missing;
# with sudo when not root), then configures and builds it in ./build (Release).
# Used by both commands at the top of the README and by .ci/run.
# It prints one line per phase; what apt, dpkg, cmake and make say goes to build/setup.log,
# and when a phase fails the log's last 40 lines are shown and the script exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake pkg-config
  pocl-opencl-icd ocl-icd-opencl-dev opencl-headers clinfo  # OpenCL: CPU device + loader
  libclblast-dev libcjson-dev libcmocka-dev                  # CLBlast, cJSON, cmocka
  zlib1g-dev libpng-dev                                      # dataset readers: .gz/.mat, PNG
  dataset-fashion-mnist                                      # /usr/share/datasets/fashion-mnist
  python3 chromium-headless-shell                            # page checks (tests/browser_check.py)
  oclgrind                                                   # simulated device (ctest -L oclgrind)
  clang libclang-rt-14-dev                                   # ASan/UBSan suite, libFuzzer (-L sanitize)
  libopenmpi-dev openmpi-bin                                 # MPI: grids over ranks, --data-parallel
)

mkdir -p build
log=build/setup.log
: >"$log"
start=$SECONDS

say() { echo "setup: $*" >&2; }

fail() {  # exit status, what failed
  say "failed: $2 (exit $1); last 40 lines of $log:"
  tail -n 40 "$log" | sed 's/^/  | /' >&2
  exit "$1"
}

# quiet WHAT COMMAND...: runs COMMAND with its output appended to the log.
quiet() {
  local what=$1 rc=0
  shift
  echo "+ $*" >>"$log"
  "$@" >>"$log" 2>&1 || rc=$?
  ((rc == 0)) || fail "$rc" "$what"
}

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || fail 1 "not root and no sudo to install ${missing[*]}"
    sudo=(sudo)
  fi
  n=${#missing[@]}
  say "installing $n Debian package$( ((n == 1)) || echo s) (log in $log)..."
  quiet "apt-get update" "${sudo[@]}" apt-get update
  # env inside sudo: sudo drops the caller's environment. The lock timeout waits out a
  # concurrent apt (unattended upgrades) instead of failing at once.
  quiet "installing ${missing[*]}" "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends -o DPkg::Lock::Timeout=120 "${missing[@]}"
fi

say "configuring ./build (Release)"
quiet "configuring" cmake -S . -B build -DCMAKE_BUILD_TYPE=Release

# Targets to build, less CMake's own utility targets.
targets=$(grep -cvE '/(edit_cache|rebuild_cache|test|install.*|list_install_components)\.dir$' \
  build/CMakeFiles/TargetDirectories.txt 2>/dev/null || true)
what="building memwrap (${targets:-?} targets)..."
echo "+ cmake --build build" >>"$log"
if [ -t 2 ]; then
  # On a terminal, one line that follows make's percentage.
  if cmake --build build -j"$(nproc)" 2>&1 | tee -a "$log" |
     { grep --line-buffered -o '^\[ *[0-9]*%\]' || true; } |
     while read -r pct; do printf '\rsetup: %s %s ' "$what" "${pct//[][ ]/}" >&2; done
  then rc=0; else rc=$?; fi
  printf '\r\033[Ksetup: %s done\n' "$what" >&2
else
  say "$what"
  rc=0
  cmake --build build -j"$(nproc)" >>"$log" 2>&1 || rc=$?
fi
((rc == 0)) || fail "$rc" "building memwrap"
say "ready in $((SECONDS - start)) s: ./build/memwrap"
