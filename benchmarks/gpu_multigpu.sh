#!/usr/bin/env bash
# The multi-GPU session behind docs/benchmarks/multigpu.md (issue #16), for a host of 2 GPUs (nvidia-h200-x2).
# Usage from the repository root:  bash benchmarks/gpu_multigpu.sh STAGE [STAGE ...]   (about 9 minutes for all)
#   ddp     GPT-2 124M at the single-GPU yardstick settings per GPU (preset gpu: 16 x 1024, bf16, compiled,
#           sdpa-cudnn): 40 steps on one GPU, then 40 steps per GPU on two (--batches 80 shared by 2 ranks)
#   fsdp    gpt2-xl on two GPUs, FSDP2 then DDP (batch 4 x 1024, 20 steps per GPU): memory per rank
#   kernel  one kernel sweep on one GPU, then sharded over two (separate databases, so both compile cold)
#   tests   the GPU tests, and the distributed CPU tests (pytest tests/distributed)
# Each stage's database is $work/<stage>/results.db; benchmarks/multigpu_summary.py prints the figures.
set -uo pipefail
source "$(dirname "$0")/device_env.sh"
export NCCL_NVLS_ENABLE=0  # NVLink multicast off, as this machine's notes require
GPUS=${GPUS:-2}
KERNEL_SWEEP=(--impl sdpa,flash2,flex,sliding-window,gqa --head-dim 64 --num-heads 16 --tokens 16384
              --seq-len 1024:8192:x2 --causal both --mode fwd_bwd --repeats 20)
train() {  # train DIR LIMIT_S ARGS...: one train run into DIR's database
  local dir=$work/$1 limit=$2; shift 2; mkdir -p "$dir"
  timeout "$limit" python3 -m attnbench train --preset gpu --db "$dir/results.db" --plots "$dir/plots" "$@" \
    > "$dir/$(date +%s).log" 2>&1
  echo "train $* exit $?"
}
for stage in "$@"; do
  echo "=== stage $stage ($(date +%T))"
  case $stage in
    ddp)
      train ddp1 150 --attn sdpa-cudnn --compile --batches 40
      train ddp2 170 --attn sdpa-cudnn --compile --batches $((40 * GPUS)) --gpus "$GPUS" ;;
    fsdp)
      train fsdp 150 --model gpt2-xl --attn sdpa --batch-size 4 --batches $((20 * GPUS)) --gpus "$GPUS" --parallel fsdp
      train xl_ddp 150 --model gpt2-xl --attn sdpa --batch-size 4 --batches $((20 * GPUS)) --gpus "$GPUS" --parallel ddp ;;
    kernel)
      for n in 1 "$GPUS"; do
        mkdir -p "$work/kernel$n"
        timeout 200 python3 -m attnbench kernel --device cuda "${KERNEL_SWEEP[@]}" --gpus "$n" \
          --db "$work/kernel$n/results.db" > "$work/kernel$n/kernel.log" 2>&1
        echo "kernel --gpus $n exit $?"
      done ;;
    tests)
      timeout 200 python3 -m pytest -q -m gpu tests -p no:cacheprovider -rs > "$work/gpu_tests.log" 2>&1
      echo "gpu tests exit $?"; tail -3 "$work/gpu_tests.log"
      timeout 200 python3 -m pytest -q tests/distributed -p no:cacheprovider > "$work/distributed_tests.log" 2>&1
      echo "distributed tests exit $?"; tail -3 "$work/distributed_tests.log" ;;
    *) echo "unknown stage $stage" ;;
  esac
done
python3 benchmarks/multigpu_summary.py "$work" 2>&1 | tee "$work/summary.txt"
tar czf "$out/gpu_multigpu.tar.gz" -C "$work" .
