#!/usr/bin/env bash
# FlashAttention-4 on the H200, in one device call of at most 9 minutes: the GPU tests of attention,
# measure and bench, then a d=128 kernel sweep (flash4, sdpa-cudnn, sdpa-flash, sdpa-fa4, flex on Triton,
# flex on its FA4 backend; H=16, batch x length = 16384, S = 4096 and 16384, causal and not, fwd and bwd,
# cross-checked with do_bench), the machine's load and the matmul ceiling before and after, and last a
# compact table (benchmarks/fa4_summary.py). Everything it writes goes to $OUT (7 files).
#
# FA4 first, per ../shared/tools/gpu-fa4.sh's header: a call with .fa4/part1 carried unpacks the CuTe
# DSL libraries into /tmp/site; then, at once while the machine is warm, this script with .fa4/part2
# carried (it unzips those wheels into /tmp/site itself):
#     bash benchmarks/gpu_fa4.sh            (run's carry: [".fa4/part2"])
# Stage limits (seconds): TESTS_S=200 SWEEP_S=180 FLEX_FA4_S=110; a stage cut by its limit is interrupted
# (SIGINT), keeping the rows it measured.
set -uo pipefail
out=${OUT:-attnbench-results/gpu_fa4}
mkdir -p "$out"
site=/tmp/site
if [ ! -d "$site/nvidia_cutlass_dsl" ]; then
  echo "gpu_fa4: $site has no CuTe DSL libraries: run part 1 of ../shared/tools/gpu-fa4.sh first" | tee "$out/summary.txt"
  exit 2
fi
if [ ! -f "$site/.part2" ] && compgen -G ".fa4/part2/*.whl" >/dev/null; then
  for w in .fa4/part2/*.whl; do
    python3 -c "import zipfile,sys; zipfile.ZipFile(sys.argv[1]).extractall('$site')" "$w" || exit 2
  done
  touch "$site/.part2"
fi
export PYTHONPATH=$PWD:$site:$site/nvidia_cutlass_dsl/dsl_packages PYTHONUNBUFFERED=1
db=$out/results.db
{ nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.max.sm --format=csv
  python3 -c "import torch, triton, flash_attn.cute, importlib.metadata as m; print(torch.__version__, torch.version.cuda,
torch.backends.cudnn.version(), triton.__version__, 'flash-attn-4', m.version('flash-attn-4'))"; } > "$out/env.txt" 2>&1
cat "$out/env.txt"
load() {  # the machine's load and the matmul ceiling, as the kernel command will see them
  python3 - "$out/load.json" "$1" <<'PY'
import json, os, sys
from attnbench.measure.ceiling import ceiling_change, ceiling_reading
from attnbench.measure.load import machine_load
path, when = sys.argv[1], sys.argv[2]
data = json.load(open(path)) if os.path.exists(path) else {}
data[when] = machine_load("cuda")
data[f"ceiling_{when}"] = ceiling_reading("cuda")
if when == "after":
    data["ceiling"] = ceiling_change(data["ceiling_before"], data["ceiling_after"])
json.dump(data, open(path, "w"), indent=1, default=str)
PY
}
echo "=== tests ($(date +%T))"
timeout -s INT -k 15 "${TESTS_S:-200}" python3 -m pytest -q -m gpu tests/attention tests/measure tests/bench -p no:cacheprovider \
  -rs -n 6 > "$out/tests.log" 2>&1
echo "pytest exit $?"; grep -E "passed|failed|FAILED|ERROR" "$out/tests.log" | tail -15
load before
common=(--dtype bfloat16 --num-heads 16 --tokens 16384 --head-dim 128 --seq-len 4096,16384 --causal both
        --mode fwd,bwd --cross-check --repeats 20 --db "$db")
echo "=== sweep ($(date +%T))"
timeout -s INT -k 15 "${SWEEP_S:-180}" python3 -m attnbench kernel --impl flash4,sdpa-cudnn,sdpa-flash,sdpa-fa4,flex "${common[@]}" \
  > "$out/sweep.log" 2>&1
echo "sweep exit $?"
echo "=== flex on its FA4 backend ($(date +%T))"
timeout -s INT -k 15 "${FLEX_FA4_S:-110}" python3 -m attnbench kernel --impl flex --opt backend=fa4 "${common[@]}" \
  > "$out/flex_fa4.log" 2>&1
echo "flex fa4 exit $?"
load after
python3 -c "import sqlite3, sys; sqlite3.connect(sys.argv[1]).close()" "$db"  # a cut run's WAL folded in: one file
echo "=== summary ($(date +%T))"
python3 benchmarks/fa4_summary.py "$db" "$out/load.json" 2>&1 | tee "$out/summary.txt"
