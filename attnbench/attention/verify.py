"""Agreement of a variant with its float64 reference, with dtype-aware tolerances.

Used by the tests (every variant, outputs and gradients) and by the kernel benchmark's accuracy
column (a failed check invalidates the row). Errors are relative Frobenius norms ||a - r|| / ||r||,
plus the max absolute error for the record.

Tolerances: float32 lands far under 1e-4 at test sizes; bf16 keeps 8 mantissa bits (about 4e-3 per
element, a few 1e-3 after accumulation); fp16 keeps 11. The bounds leave a factor of a few over what
correct kernels give and stay an order of magnitude under what a wrong mask or scale gives (0.1 to 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

REL_TOL = {torch.float64: 1e-10, torch.float32: 1e-4, torch.float16: 5e-3, torch.bfloat16: 3e-2}
GRAD_FACTOR = 2.0  # gradients go through one more matmul chain than outputs


@dataclass(frozen=True)
class Check:
    what: str
    rel_error: float
    max_abs_error: float
    tolerance: float

    @property
    def ok(self) -> bool:
        return self.rel_error <= self.tolerance

    def __str__(self) -> str:
        verdict = "ok" if self.ok else "FAILED"
        return (f"{self.what}: rel error {self.rel_error:.3g} (tol {self.tolerance:.3g}), "
                f"max abs {self.max_abs_error:.3g} {verdict}")


def compare(actual: torch.Tensor, expected: torch.Tensor, dtype: torch.dtype, what: str, factor=1.0) -> Check:
    """Compare a low-precision result with its float64 reference; NaN or inf never passes."""
    actual, expected = actual.detach().double(), expected.detach().double()
    if actual.shape != expected.shape:
        return Check(f"{what} (shape {tuple(actual.shape)} != {tuple(expected.shape)})", float("inf"),
                     float("inf"), 0.0)
    if not torch.isfinite(actual).all():
        return Check(f"{what} (non-finite values)", float("inf"), float("inf"), REL_TOL[dtype] * factor)
    diff = actual - expected
    rel = (diff.norm() / expected.norm().clamp_min(1e-30)).item()
    return Check(what, rel, diff.abs().max().item(), REL_TOL[dtype] * factor)


def input_grads(out, inputs, grad_out, retain_graph=False):
    """d(out)/d(inputs), with zeros for inputs a variant does not use (lsh ignores k: shared QK)."""
    grads = torch.autograd.grad(out, inputs, grad_out, retain_graph=retain_graph, allow_unused=True)
    return tuple(torch.zeros_like(t) if g is None else g for g, t in zip(grads, inputs))


def check_against_reference(attn, q, k, v, *, causal=False, key_mask=None, grads=True, seed=0) -> list[Check]:
    """Run `attn` and its float64 reference on the same inputs; compare output and dq, dk, dv."""
    q, k, v = (t.detach().requires_grad_(grads) for t in (q, k, v))
    out = attn(q, k, v, causal=causal, key_mask=key_mask)
    q64, k64, v64 = (t.detach().double().requires_grad_(grads) for t in (q, k, v))
    ref = attn.reference(q64, k64, v64, causal=causal, key_mask=key_mask)
    label = f"{attn.name} [{attn.last_backend}]"
    checks = [compare(out, ref, q.dtype, f"{label} output")]
    if grads:
        gen = torch.Generator().manual_seed(seed)
        grad_out = torch.randn(out.shape, generator=gen).to(device=out.device, dtype=out.dtype)
        got = input_grads(out, (q, k, v), grad_out)
        want = input_grads(ref, (q64, k64, v64), grad_out.double())
        checks += [compare(g, w, q.dtype, f"{label} d{n}", GRAD_FACTOR) for n, g, w in zip("qkv", got, want)]
    return checks
