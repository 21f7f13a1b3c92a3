#!/usr/bin/env bash
# Complete numbers from a few minutes on a machine with a GPU (issue 10 item 5):
#
#   bash bench/gpu.sh [--device SPEC] [--rounds N] [--quick] [--skip-tests] [--debs DIR]
#                     [--wheels DIR] [--tests-limit SECONDS] [--bench-limit SECONDS]
#                     [--models LIST] [--variants LIST] [--setup-only]
#   bash bench/gpu.sh --fetch-debs DIR      # on a networked Debian machine, for an offline one
#
# 1. Set-up: the build's Debian packages (only those missing; with --debs, DIR's .deb files
#    unpacked into a private prefix rather than over /, for machines that cannot fetch; with
#    --wheels, DIR's Python wheels (memorywrap, entmax) installed for PyTorch's side), the
#    vendor's OpenCL ICD registered if its library is there but not its /etc/OpenCL/vendors
#    entry (NVIDIA's driver mounts often lack it), then a Release build as the README's
#    commands make it (Ninja where make is missing).
# 2. The device: `memwrap devices`; SPEC defaults to "gpu", and the script stops, saying
#    what it found, when there is none (when it is there but a first step fails, the tests
#    and timings still run, and their logs say what fails).
# 3. Tests on that device (MEMWRAP_DEVICE): every op, model and training test; the simulated
#    device, sanitizer, MPI and forced-limits suites are CPU-side and left out.
# 4. Speed: every encoder and variant with `memwrap bench`, beside PyTorch on CUDA when this
#    machine's python3 has a CUDA PyTorch (bench/compare.py, alternating rounds), memwrap
#    alone otherwise. --models and --variants narrow it (comma lists, as `memwrap bench` names
#    them; default every encoder, and std, memory and encoder_memory). Then each encoder's
#    Memory Wrap step profiled per op and per node (profiles.txt), and ResNet18's 3x3 convolutions per
#    pass on im2col + CLBlast and on Winograd's GPU shape (conv_paths.txt).
# 5. Results: bench/gpu-results/<date>-<device>/README.md (device, commit, tests, tables)
#    with the raw logs beside it. Elsewhere it writes only build/, the unpacked packages in
#    $TMPDIR/memwrap-gpu-deps, NVIDIA's ICD entry and a missing Fashion-MNIST (as root).
# --setup-only stops after the build and prints the environment the build needs, for
#   eval "$(bash bench/gpu.sh --debs DIR --setup-only)"; ./build/tests/test_conv ...
# The two limits bound the tests and the timings (whole seconds each; default none), so that
# a lease of a few minutes still ends with a results file: what ran out is said in it.
set -euo pipefail
cd "$(dirname "$0")/.."

invocation="bash bench/gpu.sh $*"
device=gpu rounds=2 quick=0 skip_tests=0 debs="" fetch="" setup_only=0
wheels="" tests_limit=0 bench_limit=0 models="" variants="" bench_note=""
while (($#)); do
  case "$1" in
    --device) device=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --quick) quick=1; shift ;;
    --setup-only) setup_only=1; shift ;;
    --skip-tests) skip_tests=1; shift ;;
    --debs) debs=$2; shift 2 ;;
    --fetch-debs) fetch=$2; shift 2 ;;
    --wheels) wheels=$2; shift 2 ;;
    --tests-limit) tests_limit=$2; shift 2 ;;
    --bench-limit) bench_limit=$2; shift 2 ;;
    --models) models=$2; shift 2 ;;
    --variants) variants=$2; shift 2 ;;
    -h|--help) sed -n '2,31p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu.sh: unknown option $1 (--help lists them)" >&2; exit 2 ;;
  esac
done

say() { echo "gpu.sh: $*" >&2; }
limited() {  # SECONDS COMMAND...: the command, stopped after SECONDS unless SECONDS is 0
  local s=$1; shift
  if ((s > 0)); then timeout --signal=TERM --kill-after=10 "$s" "$@"; else "$@"; fi
}

# The packages a build needs (a subset of .ci/setup.sh's: no browser, simulator, sanitizers
# or MPI, which the GPU run does not use).
packages=(build-essential cmake pkg-config ocl-icd-opencl-dev opencl-headers
  libclblast-dev libcjson-dev libcmocka-dev zlib1g-dev libpng-dev)

if [ -n "$fetch" ]; then
  mkdir -p "$fetch"
  # The libraries and what they need beyond a base system, as .deb files; the compiler,
  # CMake and pkg-config are taken to be there (GPU images carry a toolchain for CUDA).
  libs=(ocl-icd-opencl-dev ocl-icd-libopencl1 opencl-headers libclblast-dev libclblast1
    libcjson-dev libcjson1 libcmocka-dev libcmocka0 zlib1g-dev libpng-dev libpng16-16)
  deps=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
    --no-breaks --no-replaces --no-enhances --no-pre-depends "${libs[@]}" | grep '^\w' |
    grep -vE '^(libc6|libgcc-s1|libstdc\+\+6|gcc-12-base|libc-dev-bin|libc6-dev|linux-libc-dev|libcrypt1|libcrypt-dev|libnsl-dev|libtirpc-dev|rpcsvc-proto|libtirpc3|libtirpc-common|libgssapi-krb5-2|libkrb5-3|libk5crypto3|libkrb5support0|libcom-err2|libkeyutils1|libssl3|debconf|perl-base|dpkg|tar|zlib1g)$' |
    sort -u)
  # Fashion-MNIST, which the tests and the README's runs read from /usr/share/datasets.
  (cd "$fetch" && apt-get download $deps dataset-fashion-mnist >/dev/null)
  say "$(ls "$fetch"/*.deb | wc -l) packages in $fetch; on the GPU machine: bash bench/gpu.sh --debs $fetch"
  exit 0
fi

stamp=$(date -u +%Y%m%d-%H%M)
tmp_out=$(mktemp -d)   # the results' first files, moved beside the rest once named
# What --debs and --wheels unpack, used until the end; one fixed place, so that a second run
# finds the build's cached paths where the first left them.
deps_dir=${TMPDIR:-/tmp}/memwrap-gpu-deps
rm -rf "$deps_dir" && mkdir -p "$deps_dir"
log=$tmp_out/setup.log

# 1. set-up
if [ -n "$debs" ]; then
  # A private prefix: another distribution's libraries unpacked over / can break the system.
  # The packages' CMake files name /usr literally, so they are pointed at the prefix.
  prefix=$deps_dir/prefix
  say "unpacking $(ls "$debs"/*.deb | wc -l) packages from $debs into $prefix"
  for f in "$debs"/*.deb; do
    case $(basename "$f") in
      dataset-*) # data only, read from its fixed place: unpacked over / where it is missing
        dir=/usr/share/datasets/$(basename "$f" | sed 's/^dataset-//; s/_.*//')
        if [ -d "$dir" ]; then :
        elif [ -w / ] || [ -w /usr/share ]; then dpkg -x "$f" /
        else say "cannot write $dir: the tests that read it will fail"; fi ;;
      *) dpkg -x "$f" "$prefix" ;;
    esac
  done
  find "$prefix/usr" -name '*.cmake' -exec sed -i "s#\"/usr#\"$prefix/usr#g" {} +
  arch_lib=$prefix/usr/lib/$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
  export CMAKE_PREFIX_PATH=$prefix/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}
  export LD_LIBRARY_PATH=$arch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  export LIBRARY_PATH=$arch_lib${LIBRARY_PATH:+:$LIBRARY_PATH}
else
  sudo=(); [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    say "installing ${#missing[@]} packages (log: $log)"
    { "${sudo[@]}" apt-get update && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends "${missing[@]}"; } >>"$log" 2>&1 ||
      { say "apt failed (last lines below); on a machine without network use --debs"; tail -20 "$log" >&2; exit 1; }
  fi
  # Fashion-MNIST for the tests that read it: Debian has the package, other distributions
  # may not, and the rest of the run does not need it.
  if [ ! -d /usr/share/datasets/fashion-mnist ]; then
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      dataset-fashion-mnist >>"$log" 2>&1 ||
      say "no package dataset-fashion-mnist here: the tests that read Fashion-MNIST will fail"
  fi
fi
if [ ! -e /etc/OpenCL/vendors/nvidia.icd ]; then
  lib=$(ldconfig -p | awk '/libnvidia-opencl\.so\.1/ {print $NF; exit}' || true)
  [ -n "$lib" ] || lib=$(find /usr/local/nvidia /usr/lib -name 'libnvidia-opencl.so.1' 2>/dev/null | head -1 || true)
  if [ -n "$lib" ]; then
    mkdir -p /etc/OpenCL/vendors && echo "$lib" >/etc/OpenCL/vendors/nvidia.icd
    say "registered NVIDIA's OpenCL library $lib"
  fi
fi
if [ -n "$wheels" ]; then
  say "installing $(ls "$wheels"/*.whl | wc -l) Python wheels from $wheels"
  python3 -m pip install -q --no-index --no-deps --no-compile --target "$deps_dir/site" \
    "$wheels"/*.whl >>"$log" 2>&1 || { say "pip failed:"; tail -5 "$log" >&2; exit 1; }
  export PYTHONPATH=$deps_dir/site${PYTHONPATH:+:$PYTHONPATH}
fi
generator=()
command -v make >/dev/null || ! command -v ninja >/dev/null || generator=(-G Ninja)
say "building (Release, log: $log)"
# Warnings stay warnings: another distribution's compiler may warn where CI's does not, and
# that should not cost a lease its numbers.
{ cmake -S . -B build "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DMEMWRAP_WERROR=OFF &&
  cmake --build build -j"$(nproc)"; } >>"$log" 2>&1 ||
  { say "build failed; last lines:"; tail -30 "$log" >&2; exit 1; }
if ((setup_only)); then
  for v in CMAKE_PREFIX_PATH LD_LIBRARY_PATH LIBRARY_PATH PYTHONPATH; do
    [ -z "${!v:-}" ] || printf 'export %s=%q\n' "$v" "${!v}"
  done
  exit 0
fi

# 2. the device: a two-image step on it says whether it works and what it is called. When
#    the device is there but the step fails (a kernel its compiler rejects, say), the tests
#    and timings still run: their logs say which programs and ops fail.
./build/memwrap devices >"$tmp_out/devices.txt" 2>&1 || true
probe_rc=0
./build/memwrap bench --device "$device" --steps 1 --warmup 1 --batch 2 --memory 2 \
  --test-batch 2 --json >"$tmp_out/probe.json" 2>"$tmp_out/probe.err" || probe_rc=$?
if ((probe_rc)) && ! ./build/memwrap devices --device "$device" >/dev/null 2>&1; then
  say "no usable OpenCL device for --device $device. memwrap devices says:"
  cat "$tmp_out/devices.txt" >&2
  sed -n '1,5p' "$tmp_out/probe.err" >&2
  say "(a GPU needs its vendor's OpenCL ICD: NVIDIA's driver, ROCm's or Intel's runtime)"
  exit 1
fi
if ((probe_rc)); then
  name="$device (the two-image step failed)"
  slug=$device-step-failed
else
  name=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["device"])' "$tmp_out/probe.json")
  slug=$(echo "$name" | tr -cs 'A-Za-z0-9' '-' | sed 's/^-//; s/-$//' | cut -c1-40)
fi
out=bench/gpu-results/$stamp-$slug
mkdir -p "$out"
mv "$tmp_out"/* "$out"/
say "device: $name; results in $out"
((!probe_rc)) || { say "the two-image step failed on it (probe.err):"; head -c 3000 "$out/probe.err" >&2; }

# 3. tests on the device (--skip-tests: timings only, for a second look)
tests_rc=0 tests_line="not run (--skip-tests)"
if ((!skip_tests)); then
  say "running the tests on the device (log: $out/tests.log)"
  # One GPU serves several tests at once; the host's cores are the limit.
  jobs=$(( $(nproc) > 2 ? $(nproc) / 2 : 1 ))
  MEMWRAP_DEVICE=$device limited "$tests_limit" ctest --test-dir build -j"$jobs" \
    -LE 'oclgrind|sanitize|mpi|limits|fuzz' --timeout 1200 --output-on-failure \
    >"$out/tests.log" 2>&1 || tests_rc=$?
  tests_line=$(grep -E 'tests passed|tests failed' "$out/tests.log" | tail -1 || true)
  [ -n "$tests_line" ] || tests_line="stopped by --tests-limit $tests_limit before the end"
  say "tests: $tests_line"
fi

# 4. speed
if ((quick)); then
  models=${models:-mobilenetv2,resnet18} variants=${variants:-std,encoder_memory} rounds=1
fi
models=${models:-mobilenetv2,resnet18,efficientnet_b0,googlenet,densenet_cifar,shufflenetv2,wrn28_10}
variants=${variants:-std,memory,encoder_memory}
torch=(--no-torch)
if python3 -c 'import torch, sys; sys.exit(not torch.cuda.is_available())' 2>/dev/null; then
  torch=(--torch-device cuda)
  say "PyTorch $(python3 -c 'import torch; print(torch.__version__)') on CUDA beside memwrap"
else
  say "no CUDA PyTorch here: memwrap alone"
fi
bench() {  # FILE ARGS...: one compare.py table
  local file=$1; shift
  local left=0
  if ((bench_limit > 0)); then
    left=$((bench_limit - SECONDS + bench_start))
    if ((left <= 5)); then
      bench_note+="${bench_note:+; }$file skipped: --bench-limit $bench_limit was spent"
      return 0 # not a failure: the results file says it
    fi
  fi
  local rc=0
  limited "$left" python3 bench/compare.py --device "$device" "${torch[@]}" --rounds "$rounds" \
    --steps 5 --warmup 2 --keep-going --out "$out/$file" "$@" 2>>"$out/bench.log" >/dev/null ||
    rc=$?
  if ((rc == 124)); then
    bench_note+="${bench_note:+; }$file stopped by --bench-limit $bench_limit: rows after the last are missing"
    rc=0
  fi
  return "$rc"
}
bench_start=$SECONDS
say "timing every encoder and variant ($rounds rounds; log: $out/bench.log)"
bench encoders.md --models "$models" --variants "$variants" || say "a timing failed: bench.log"
# Where each Memory Wrap step's time goes on this device (profiling events, per op, and the
# 15 slowest nodes with their layers, shapes, GB/s and GFLOP/s).
for m in ${models//,/ }; do
  if ((bench_limit > 0 && bench_limit - SECONDS + bench_start <= 20)); then
    bench_note+="${bench_note:+; }profiles.txt stopped by --bench-limit $bench_limit before $m"
    break
  fi
  { echo "== $m encoder_memory"
    limited 60 ./build/memwrap bench --device "$device" --model "$m" --variant encoder_memory \
      --steps 3 --warmup 1 --profile-nodes 15 2>&1 | tr '\r' '\n' | grep -v '^\(train\|infer\) step'
    echo; } >>"$out/profiles.txt" || true
done
# ResNet18's 3x3 convolutions on im2col + CLBlast (the GPU default) and on Winograd's GPU
# shape (written and tested on the CPU device, not yet timed on a GPU), per pass: the evidence
# for choosing Winograd on GPUs.
if ((bench_limit > 0 && bench_limit - SECONDS + bench_start <= 20)); then
  bench_note+="${bench_note:+; }conv_paths.txt skipped: --bench-limit $bench_limit was spent"
else
  MEMWRAP_DEVICE=$device limited 120 ./build/tests/probe_conv_paths resnet18 228 3 winograd \
    >"$out/conv_paths.txt" 2>&1 || say "the convolution probe failed or ran out of time: conv_paths.txt"
fi
if ((!quick)); then
  bench baselines.md --models mobilenetv2 --variants protonet,matching || say "a timing failed: bench.log"
fi

# 5. results
{
  echo "# memwrap on $name"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), commit ${MEMWRAP_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo "?")},"
  echo "\`$invocation\`."
  echo
  echo "OpenCL devices (\`memwrap devices\`):"
  echo
  sed 's/^/    /' "$out/devices.txt"
  echo
  ((!probe_rc)) || { echo "The two-image step failed on the device (probe.err)."; echo; }
  echo "Tests on the device: $tests_line$( ((skip_tests)) || echo ' (tests.log)')."
  echo
  echo "## Speed, images/s"
  echo
  if [ -f "$out/encoders.md" ]; then cat "$out/encoders.md"; else echo "(failed: bench.log)"; fi
  if [ -f "$out/baselines.md" ]; then echo; cat "$out/baselines.md"; fi
  if [ -f "$out/profiles.txt" ]; then echo; echo "Per-op profiles of the Memory Wrap steps: profiles.txt."; fi
  if [ -f "$out/conv_paths.txt" ]; then
    echo; echo "ResNet18's 3x3 convolutions per pass, im2col + CLBlast / Winograd (conv_paths.txt):"
    echo; echo '```'; tail -n 8 "$out/conv_paths.txt"; echo '```'
  fi
  if [ -n "$bench_note" ]; then echo; echo "Timings: $bench_note."; fi
} >"$out/README.md"
say "done: $out/README.md"
((tests_rc)) || tests_rc=$probe_rc
exit "$tests_rc"
