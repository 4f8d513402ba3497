"""The inference benchmark's accuracy check: a variant's task outputs on real tokens against eager's.

The reference is the same model in float64 with transformers' own eager attention (scores plus the
additive padding mask, softmax, weighted sum: the textbook, sharing no code with attnbench's kernels),
on one check batch per task: CHECK_BATCH sequences of varied real lengths (about half padding), padded
to the shortest --max-seqlen, at most CHECK_MAX_LEN. Only outputs at real tokens are compared
(tasks.bert.real_outputs); the error is the relative Frobenius norm (attention.verify.compare).

The tolerance is dtype-aware and model-aware: a whole BERT in float16 drifts from float64 more than
one attention call does, so the bound is CHECK_FACTOR times the error eager attention itself makes in
the run's dtype, and never below attention.verify's per-call REL_TOL for that dtype. A kernel that
attends to padding, or drops real keys, is off by 1e-2 or more on a random BERT (measured: 2e-2
relative on bert-tiny when packed sequences saw each other), far above float32's 1e-4.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch

from attnbench.attention.verify import REL_TOL, compare
from attnbench.bench.failures import classify, free_memory
from attnbench.data.padding import draw_lengths
from attnbench.tasks.bert import InputBatch, make_batch, model_inputs, real_outputs

CHECK_BATCH = 4
CHECK_MAX_LEN = 128
CHECK_FACTOR = 4.0


@dataclass(frozen=True)
class Reference:
    """What every variant of one task is checked against."""

    batch: InputBatch  # on the model's device
    expected: torch.Tensor  # float64 outputs at real tokens
    eager_error: float  # eager attention's own error in the run's dtype
    tolerance: float
    use_mask: bool

    def fields(self) -> dict:
        return {"check_batch": len(self.batch.lengths), "check_seq_len": self.batch.input_ids_BS.shape[1],
                "eager_rel_error": self.eager_error, "check_tolerance": self.tolerance}


def check_batch(task: str, max_len: int, source, seed: int) -> InputBatch:
    """CHECK_BATCH sequences around half of max_len, spread wide, so padding matters and lengths differ."""
    generator = torch.Generator().manual_seed(seed + 7)
    length = min(max_len, CHECK_MAX_LEN)
    lengths = draw_lengths(CHECK_BATCH, length, avg=length / 2, stdev=length / 4, generator=generator)
    lengths[0] = length  # one full sequence: the padded and unpadded shapes differ
    return make_batch(task, lengths, length, source, generator)


def reference(task: str, model, batch: InputBatch, use_mask: bool) -> Reference:
    """float64 eager outputs, and eager's own error in the model's dtype (which sets the tolerance)."""
    dtype = next(model.parameters()).dtype
    device = next(model.parameters()).device
    batch = batch.to(device)
    with torch.no_grad():
        ref = copy.deepcopy(model).double()
        ref.set_attn_implementation("eager")
        expected = real_outputs(task, ref(**model_inputs(batch, use_mask)), batch).double()
        ref.to(dtype)  # the same weights, rounded as the model's are
        eager = real_outputs(task, ref(**model_inputs(batch, use_mask)), batch)
    del ref
    free_memory(device)
    eager_error = compare(eager, expected, dtype, "eager").rel_error
    return Reference(batch, expected, eager_error, max(REL_TOL[dtype], CHECK_FACTOR * eager_error), use_mask)


def check(task: str, forward, ref: Reference, label: str) -> dict:
    """Accuracy fields of a variant whose forward(batch) gives the task's outputs; never raises but
    KeyboardInterrupt (a variant that cannot run says so in check_status)."""
    fields = ref.fields()
    try:
        with torch.no_grad():
            got = real_outputs(task, forward(ref.batch), ref.batch)
    except KeyboardInterrupt:
        raise
    except Exception as e:  # noqa: BLE001 - the row itself will fail the same way and say so
        status, reason = classify(e)
        return {**fields, "check_ok": None, "check_status": status, "check_detail": reason}
    result = compare(got, ref.expected, got.dtype, label)
    ok = result.rel_error <= ref.tolerance
    detail = "" if ok else (f"{label}: outputs at real tokens off by {result.rel_error:.3g} relative to float64 "
                            f"eager (tolerance {ref.tolerance:.3g}, eager's own error {ref.eager_error:.3g})")
    return {**fields, "check_ok": ok, "check_status": "ok" if ok else "failed", "rel_error": result.rel_error,
            "max_abs_error": result.max_abs_error, "check_detail": detail}
