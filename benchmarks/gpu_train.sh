#!/usr/bin/env bash
# The GPU session behind docs/benchmarks/train.md (issue #4): GPT-2 124M, sequence 1024, batch 16, bf16.
# Usage on a CUDA machine, from the repository root:  bash benchmarks/gpu_train.sh STAGE [STAGE ...]
#   fast   the nanoGPT yardstick (benchmarks/nanogpt_yardstick.py), the sampler's overhead on attnbench's
#          compiled step, and attnbench train --compile with the fastest exact candidates
#   compiled  the same without the yardstick (env: ATTN=variants, BATCHES=n, SKIP_OVERHEAD=1)
#   checks  what a sampler reading costs here (sampler_cost.py); repeated fwd+bwd of the flex family at
#          the training shape against the first result and the float64 reference (check_repeat.py)
#   all    attnbench train, every variant, uncompiled (the per-variant table)
#   tests  the GPU tests (pytest -m gpu)
# Results and logs go to $OUT (default attnbench-results/gpu) as gpu_train.tar.gz.
set -uo pipefail
source "$(dirname "$0")/device_env.sh"
for stage in "$@"; do
  echo "=== stage $stage ($(date +%T))"
  case $stage in
    fast)
      timeout 150 python3 benchmarks/nanogpt_yardstick.py --steps 50 --json "$work/nanogpt.json" > "$work/nanogpt.log" 2>&1
      echo "yardstick exit $?"; grep -m1 "tokens/s" "$work/nanogpt.log"
      ;&  # and on into the compiled stage
    compiled)
      TORCH_LOGS=recompiles,graph_breaks timeout 250 python3 -m attnbench train --preset gpu --compile \
        --attn "${ATTN:-sdpa-cudnn,flex}" --batches "${BATCHES:-60}" --db "$db" --plots "$work/plots_fast" \
        > "$work/train_fast.log" 2>&1
      echo "train exit $?; recompiles: $(grep -c 'Recompiling function' "$work/train_fast.log"); graph breaks:" \
        "$(grep -c 'Graph break in user code' "$work/train_fast.log")"
      [ -n "${SKIP_OVERHEAD:-}" ] || timeout 140 python3 benchmarks/sampler_overhead.py --model gpt2 --seq-len 1024 --batch-size 16 --device cuda \
        --attn sdpa-cudnn --vocab-size 50304 --compile --steps 15 > "$work/sampler_overhead.json" 2> "$work/sampler_overhead.log"
      echo "sampler exit $?"; cat "$work/sampler_overhead.json" ;;
    checks)
      timeout 60 python3 benchmarks/sampler_cost.py --device cuda 2>&1 | tee "$work/sampler_cost.txt"
      timeout 150 python3 benchmarks/check_repeat.py --repeats 50 2>&1 | tee "$work/check_repeat.txt" | tail -8 ;;
    all)
      timeout 330 python3 -m attnbench train --preset gpu --attn all --batches 30 --db "$db" \
        --plots "$work/plots_all" > "$work/train_all.log" 2>&1
      echo "train exit $?" ;;
    tests)
      timeout 250 python3 -m pytest -q -m gpu tests -p no:cacheprovider -rs -n 6 > "$work/gpu_tests.log" 2>&1
      echo "pytest exit $?"; grep -E "passed|failed|FAILED|Error" "$work/gpu_tests.log" | tail -25 ;;
    *) echo "unknown stage $stage" ;;
  esac
done
python3 benchmarks/summarize_train.py "$db" 2>&1 | tee "$work/summary.txt"
tar czf "$out/gpu_train.tar.gz" -C "$work" .
