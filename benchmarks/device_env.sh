# Sourced by the gpu_*.sh session scripts: output folder, carried wheels, PYTHONPATH, and what the GPU
# and the software are (into $work/gpu.txt). Sets: out, work, db.
out=${OUT:-attnbench-results/gpu}
work=$out/work
db=$work/results.db
mkdir -p "$work"
if compgen -G ".whl/*.whl" >/dev/null; then  # optional wheels (fla, nvidia-ml-py) go to /tmp/site
  wheels=$(cd .whl && ls ./*.whl)
  if [ "$(cat /tmp/site/.installed 2>/dev/null)" != "$wheels" ]; then  # once per set of wheels: lanes share it
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
      && echo "$wheels" > /tmp/site/.installed
  fi
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.max.sm --format=csv > "$work/gpu.txt"
python3 -c "import torch, triton, transformers; print(torch.__version__, torch.version.cuda, torch.backends.cudnn.version(), triton.__version__, transformers.__version__)" >> "$work/gpu.txt"
cat "$work/gpu.txt"
