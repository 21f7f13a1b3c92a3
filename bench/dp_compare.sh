#!/usr/bin/env bash
# Data-parallel training on one machine (bench/RESULTS.md, "Data-parallel scaling"): the
# training throughput of one run of MobileNetV2 (configs/fmnist/quick.json, 512 images) as
#   one process with every core (PoCL's default),
#   one process with one core (POCL_MAX_PTHREAD_COUNT=1: one "device"),
#   N processes with one core each, `mpirun -np N memwrap train --data-parallel`,
# alternated ROUNDS times (the machine drifts; compare within a round), medians printed.
# Usage: bench/dp_compare.sh [VARIANT ...]   (default: std encoder_memory)
# Environment: ROUNDS (default 2), RANKS (default: the number of cores), MEMWRAP
# (default build/memwrap), EXAMPLES (training images, default 512), EPOCHS (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
memwrap=${MEMWRAP:-build/memwrap}
rounds=${ROUNDS:-2} ranks=${RANKS:-$(nproc)} examples=${EXAMPLES:-512} epochs=${EPOCHS:-2}
variants=("$@")
((${#variants[@]})) || variants=(std encoder_memory)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
  OMPI_MCA_rmaps_base_oversubscribe=1

# Training images/s of the last progress line (the run's average over its epochs).
run() {  # label, variant, launcher... (the rest of the command line)
  local label=$1 variant=$2
  shift 2
  local out=$work/$label-$variant
  rm -rf "$out"
  "$@" "$memwrap" train configs/fmnist/quick.json --out "$out" \
    --set "variants=[\"$variant\"]" --set "train_examples=[$examples]" --set "epochs=$epochs" \
    --set schedule.kind=constant --set test_examples=500 --set eval_repeats=1 --set explain.images=0 \
    --set explain.metrics=false "${extra[@]}" >/dev/null 2>"$out.log" ||
    { echo "dp_compare: $label $variant failed:" >&2; tail -5 "$out.log" >&2; exit 1; }
  grep -o 'step [0-9]*/[0-9]* loss [0-9.]* lr [0-9.e-]* [0-9.]* img/s' "$out.log" | tail -1 |
    awk '{print $(NF-1)}'
}

median() { sort -g | awk '{v[NR]=$1} END {print (NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2)}'; }

echo "| variant | 1 process, all cores | 1 process, 1 core | $ranks processes, 1 core each (data-parallel) | speed-up over 1 core |"
echo "|---|---|---|---|---|"
for variant in "${variants[@]}"; do
  all=() one=() dp=()
  for ((r = 0; r < rounds; r++)); do
    extra=()
    all+=("$(run all "$variant")")
    one+=("$(POCL_MAX_PTHREAD_COUNT=1 run one "$variant")")
    extra=(--data-parallel)
    dp+=("$(run dp "$variant" mpirun -np "$ranks" -x POCL_MAX_PTHREAD_COUNT=1)")
    echo "round $((r + 1)): $variant all ${all[-1]}, one ${one[-1]}, dp ${dp[-1]} img/s" >&2
  done
  a=$(printf '%s\n' "${all[@]}" | median)
  o=$(printf '%s\n' "${one[@]}" | median)
  d=$(printf '%s\n' "${dp[@]}" | median)
  echo "| $variant | $a | $o | $d | $(awk -v d="$d" -v o="$o" 'BEGIN {printf "%.2f", d / o}') |"
done
