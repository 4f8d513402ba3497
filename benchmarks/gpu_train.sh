#!/usr/bin/env bash
# The GPU session behind docs/benchmarks/train.md (issue #4): GPT-2 124M, sequence 1024, batch 16, bf16,
# every variant, and the sampler's overhead on the same steps. Not run yet: the first session's device
# time went to the kernel figures. Usage on a CUDA machine, from the repository root:
#   bash benchmarks/gpu_train.sh            (results and logs under $OUT, default attnbench-results/gpu)
set -uo pipefail
out=${OUT:-attnbench-results/gpu}
mkdir -p "$out/work"
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
db=$out/work/results.db
timeout 120 python3 benchmarks/sampler_overhead.py --model gpt2 --seq-len 1024 --batch-size 16 --device cuda \
  > "$out/work/sampler_overhead.json" 2>&1
timeout 300 python3 -m attnbench train --preset gpu --compile --attn sdpa-cudnn,sdpa-flash,flex --batches 60 \
  --db "$db" --plots "$out/work/plots" > "$out/work/train_fast.log" 2>&1
timeout 420 python3 -m attnbench train --preset gpu --attn all --batches 30 --db "$db" \
  --plots "$out/work/plots" > "$out/work/train_all.log" 2>&1
python3 -m attnbench results list --db "$db" | tail -8
tar czf "$out/gpu_train.tar.gz" -C "$out/work" .
