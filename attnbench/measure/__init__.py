"""Measurement primitives every benchmark shares: timing, peak memory, FLOP conventions, matmul ceiling.

Kept free of benchmark logic so that kernel, training and inference numbers are measured the same way.
"""

from attnbench.measure.ceiling import matmul_ceiling_tflops  # noqa: F401
from attnbench.measure.flops import (  # noqa: F401
    CONVENTION,
    attention_flops,
    causal_pairs,
    full_pairs,
    tflops,
)
from attnbench.measure.memory import peak_memory_mb  # noqa: F401
from attnbench.measure.timing import Timing, time_first_call, time_fn  # noqa: F401
