#!/usr/bin/env bash
# Several gpu_kernels.sh / gpu_train.sh sessions at once, one per GPU of a multi-GPU machine: a lane is
# a quoted list of stages, run on its own GPU with its own output folder and results database.
# Usage:  bash benchmarks/gpu_lanes.sh SCRIPT "STAGE ..." ["STAGE ..." ...]
#   e.g.  bash benchmarks/gpu_lanes.sh gpu_kernels.sh "tests d128-short" "CROSS_CHECK=0 SEQS=8192,16384 d64-causal"
# Words with '=' set that lane's environment. Keep each lane's stage timeouts within the device call's
# limit: a lane cut by it leaves no archive (its rows stay in its database, which is then lost).
# Lane i runs on GPU i (CUDA_VISIBLE_DEVICES=i) into $OUT/lane<i>; each lane's log is printed when all end,
# and what is left under $OUT is one archive and one log per lane (two files: at most 4 lanes fit the
# device tool's 8 returned files).
set -uo pipefail
here=$(dirname "$0")
script=$1; shift
root=${OUT:-attnbench-results/gpu}
(OUT=$root/setup; source "$here/device_env.sh" > /dev/null)  # installs the carried wheels once, before the lanes
gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
if [ "$#" -gt "${gpus:-0}" ]; then echo "gpu_lanes.sh: $# lanes but $gpus GPUs" >&2; exit 2; fi
set -f  # the lanes' words are split, never globbed
i=0
for lane in "$@"; do
  mkdir -p "$root/lane$i"
  settings=(); stages=()
  for word in $lane; do [[ $word == *=* ]] && settings+=("$word") || stages+=("$word"); done
  env CUDA_VISIBLE_DEVICES=$i OUT="$root/lane$i" "${settings[@]}" bash "$here/$script" "${stages[@]}" \
    > "$root/lane$i/lane.log" 2>&1 &
  i=$((i + 1))
done
pids=$(jobs -p); status=0
for pid in $pids; do wait "$pid" || status=$?; done
for ((j = 0; j < i; j++)); do echo "##### lane $j on GPU $j"; cat "$root/lane$j/lane.log"; done
# Only 8 files come back from a device run: keep each lane's archive and log, drop the loose copies.
set +f
rm -rf "$root/setup" "$root"/lane*/work
exit "$status"
