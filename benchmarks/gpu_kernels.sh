#!/usr/bin/env bash
# The GPU session behind docs/benchmarks/kernels.md: GPU tests, then the kernel figures.
# Usage, from the repository root on a CUDA machine:  bash benchmarks/gpu_kernels.sh STAGE [STAGE ...]
#   stages: tests d128 d64 long ... (the H100 session of 2026-11-21), and for the H200 session of 2026-11-22:
#   h200-fwd h200-bwd window fidelity long-c; still to run (issue #3): d64-causal d64-full d128-short, then
#   fidelity and long-c again (the bracketed cross-check; 131k block masks built compiled); profile (where a
#   sweep's wall time goes) and main (`attnbench run` on the GPU). Several lanes at once: gpu_lanes.sh.
#   Left for issue #3 after the second H200 session: d128-causal d128-full (SEQS=1024,2048,4096,8192,16384;
#   S=512 is measured) and clocks (benchmarks/fidelity_clocks.py: the duty-cycle hypothesis).
#   Results go to $OUT (default attnbench-results/gpu) as gpu.tar.gz.
# Optional wheels in .whl/ (e.g. flash-linear-attention, fla-core) are installed to /tmp/site first.
set -uo pipefail
source "$(dirname "$0")/device_env.sh"
ab() { python3 -m attnbench "$@"; }
# CROSS_CHECK=0 drops the do_bench cross-check (it doubles the time of slow rows); SWEEP_TIMEOUT (or
# D64_TIMEOUT) bounds the d64/d128 sweep stages; SEQS overrides the
# sequence lengths of the d64 stages (to finish a sweep a timeout cut short).
common=(--dtype bfloat16 --num-heads 16 --tokens 16384 --db "$db")
[ "${CROSS_CHECK:-1}" = 1 ] && common+=(--cross-check)
for stage in "$@"; do
  echo "=== stage $stage ($(date +%T))"
  case $stage in
    tests) timeout 260 python3 -m pytest -q -m gpu tests -p no:cacheprovider -rs -n 6 > "$work/gpu_tests.log" 2>&1
           echo "pytest exit $?"; grep -E "passed|failed|FAILED|Error" "$work/gpu_tests.log" | tail -25 ;;
    d128) timeout 420 python3 -m attnbench kernel --impl all "${common[@]}" --head-dim 128 --seq-len 1024,4096,16384 \
            --causal both --mode fwd --output "$work/d128_fwd.json" --plot "$work/plots_d128" > "$work/d128.log" 2>&1
          echo "exit $?" ;;
    d128-16k) timeout 150 python3 -m attnbench kernel --impl sdpa-cudnn,sdpa-flash,flex,flex-sparse,sliding-window,alibi,gqa,linear,lsh,eager \
            "${common[@]}" --head-dim 128 --seq-len 4096,16384 --causal both --mode fwd --repeats 20 \
            --output "$work/d128_16k.json" > "$work/d128_16k.log" 2>&1
          echo "exit $?" ;;
    d64-4k) timeout 50 python3 -m attnbench kernel --impl sdpa-cudnn,sdpa-flash,flex "${common[@]}" --head-dim 64 \
            --seq-len 4096 --causal --mode fwd,bwd --output "$work/d64_4k.json" > "$work/d64_4k.log" 2>&1
          echo "exit $?" ;;
    d64) timeout 420 python3 -m attnbench kernel --impl all "${common[@]}" --head-dim 64 --seq-len 512:16384:x2 \
           --causal --mode fwd,bwd --output "$work/d64.json" --plot "$work/plots_d64" > "$work/d64.log" 2>&1
         echo "exit $?" ;;
    long) timeout 100 python3 -m attnbench kernel --impl sdpa-cudnn,eager,linear,lsh,sliding-window --dtype bfloat16 \
            --batch-size 1 --num-heads 16 --head-dim 64 --seq-len 8192:131072:x2 --causal --mode fwd --repeats 10 \
            --db "$db" --output "$work/long.json" --plot "$work/plots_long" > "$work/long.log" 2>&1
          echo "exit $?" ;;
    d128-16k-b) timeout 120 python3 -m attnbench kernel --impl sdpa-cudnn,sdpa-flash,flex,flex-sparse,sliding-window,alibi,gqa,eager \
            "${common[@]}" --head-dim 128 --seq-len 16384 --causal both --mode fwd --repeats 10 \
            --output "$work/d128_16k_b.json" > "$work/d128_16k_b.log" 2>&1
          echo "exit $?" ;;
    long-b) timeout 150 python3 -m attnbench kernel --impl sdpa-cudnn,linear,lsh,sliding-window,eager --dtype bfloat16 \
            --batch-size 1 --num-heads 16 --head-dim 64 --seq-len 32768:131072:x2 --causal --mode fwd --repeats 5 \
            --db "$db" --output "$work/long_b.json" > "$work/long_b.log" 2>&1
          echo "exit $?" ;;
    h200-fwd) timeout 300 python3 -m attnbench kernel --impl sdpa-cudnn,sdpa-flash,flex,flex-sparse,sliding-window,alibi,gqa \
            "${common[@]}" --head-dim 128 --seq-len 4096,16384 --causal both --mode fwd \
            --output "$work/h200_fwd.json" > "$work/h200_fwd.log" 2>&1
          echo "exit $?" ;;
    h200-bwd) timeout 240 python3 -m attnbench kernel --impl sdpa-cudnn,sdpa-flash,flex,flex-sparse,sliding-window,alibi,gqa \
            "${common[@]}" --head-dim 128 --seq-len 4096,16384 --causal --mode bwd \
            --output "$work/h200_bwd.json" > "$work/h200_bwd.log" 2>&1
          echo "exit $?" ;;
    window) # how the exact sparse variants' efficiency depends on how many key tiles each query tile keeps
      for w in 1024 4096; do
        timeout 60 python3 -m attnbench kernel --impl sliding-window --window $w "${common[@]}" --head-dim 128 \
          --seq-len 16384 --causal both --mode fwd --output "$work/window_$w.json" > "$work/window_$w.log" 2>&1
        echo "window $w exit $?"
      done
      for d in 0.1 0.3; do
        timeout 60 python3 -m attnbench kernel --impl flex-sparse --density $d "${common[@]}" --head-dim 128 \
          --seq-len 16384 --causal both --mode fwd --output "$work/density_$d.json" > "$work/density_$d.log" 2>&1
        echo "density $d exit $?"
      done ;;
    fidelity) # the same rows three times: is the timer's distance from do_bench noise or bias?
      for round in $(seq "${ROUNDS:-3}"); do
        timeout 60 python3 -m attnbench kernel --impl sdpa-cudnn,sdpa-flash,flex "${common[@]}" --head-dim 128 \
          --seq-len 16384 --causal both --mode fwd --no-check --output "$work/fidelity_$round.json" \
          > "$work/fidelity_$round.log" 2>&1
        echo "round $round exit $?"
      done ;;
    long-c) timeout 120 python3 -m attnbench kernel --impl sdpa-cudnn,linear,lsh,sliding-window --dtype bfloat16 \
            --batch-size 1 --num-heads 16 --head-dim 64 --seq-len 65536,131072 --causal --mode fwd --repeats 5 \
            --db "$db" --output "$work/long_c.json" > "$work/long_c.log" 2>&1
          echo "exit $?" ;;
    d64-causal|d64-full|d128-causal|d128-full) # every variant, 512 to 16384, fwd and bwd; causal, or not
      causal=$([[ "$stage" == *-causal ]] && echo true || echo false)
      head_dim=${stage%%-*}; head_dim=${head_dim#d}
      timeout "${SWEEP_TIMEOUT:-${D64_TIMEOUT:-560}}" python3 -m attnbench kernel --impl all "${common[@]}" --head-dim "$head_dim" \
        --seq-len "${SEQS:-512:16384:x2}" --causal "$causal" --mode fwd,bwd --repeats 20 \
        --output "$work/$stage.json" > "$work/$stage.log" 2>&1
      echo "exit $?" ;;
    clocks) # the fidelity gap's duty-cycle hypothesis: SM clock and power under each way of timing
      for args in "--impl sdpa-cudnn --causal" "--impl flex"; do
        # shellcheck disable=SC2086
        timeout 120 python3 benchmarks/fidelity_clocks.py $args --seq-len 16384 --head-dim 128 2>&1 | tail -14
      done ;;
    d128-short) timeout 400 python3 -m attnbench kernel --impl all "${common[@]}" --head-dim 128 --seq-len 512,2048 \
        --causal both --mode fwd,bwd --repeats 20 --output "$work/d128_short.json" > "$work/d128_short.log" 2>&1
      echo "exit $?" ;;
    profile) # where a sweep's wall time goes besides the kernels (compile, checks, gc, the database)
      timeout 120 python3 -m cProfile -o "$work/profile.out" -m attnbench kernel --impl sdpa-cudnn,flex,eager \
        "${common[@]}" --head-dim 64 --seq-len 1024,2048 --causal both --mode fwd,bwd > "$work/profile.log" 2>&1
      echo "exit $?"
      python3 -c "import pstats; p = pstats.Stats('$work/profile.out'); p.sort_stats('cumulative').print_stats(25)" \
        2>&1 | grep -E "function calls|^ +[0-9]" | cut -c1-150 | head -28 ;;
    main) # the main job on this GPU, as README.md gives it (kernel sweep, then training of every variant)
      timeout "${MAIN_TIMEOUT:-280}" python3 -m attnbench run --db "$db" --plots "$work/plots_run" \
        --report "$work/report_run" > "$work/main.log" 2>&1
      echo "exit $?"; tail -c 1500 "$work/main.log" ;;
    *) echo "unknown stage $stage" ;;
  esac
done
python3 benchmarks/summarize_rows.py "$db" > "$work/summary.txt" 2>&1
python3 benchmarks/summarize_rows.py --brief "$db" 2>&1
tar czf "$out/gpu.tar.gz" -C "$work" .
