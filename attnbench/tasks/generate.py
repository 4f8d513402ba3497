"""Text generation for evaluation: greedy by default, beam search when asked, and how long it takes.

Every step is a full forward over the whole sequence, without a KV cache: attnbench's kernel contract has
causal attention only for Sq == Sk (a cached step is one query over many keys), and ALiBi's distance bias
with one query over a cache would need the query's offset, which no kernel receives. So generation
measures the attention kernel at the prompt's length, the same work for every variant.

Fixed shapes: the sequence is right-padded to a multiple of `bucket` tokens (never past the model's
positions). Under causal attention the positions that are read (up to the last real token) never see the
padding after them, so no mask is needed and the logits are those of the unpadded sequence; compiled
kernels (FlexAttention, with static shapes) then compile once per width instead of once per token.
Widths and beam batches are all run once before timing, so compilation stays out of the times.

Only the generated tokens are returned (the prompt is never part of a prediction), without the end token.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass

import torch

from attnbench.measure.device import synchronize
from attnbench.measure.memory import peak_memory_mb


@dataclass(frozen=True)
class Decoding:
    max_new_tokens: int
    eos_id: int
    pad_id: int
    num_beams: int = 1  # 1: greedy
    bucket: int = 64  # sequences are right-padded to a multiple of this many tokens
    length_limit: int | None = None  # the model's learned positions: no width past it
    length_penalty: float = 1.0  # beam scores are sum log p / (generated tokens) ** length_penalty

    def width(self, n: int) -> int:
        padded = -(-n // self.bucket) * self.bucket
        return min(padded, self.length_limit) if self.length_limit else padded


def next_log_probs(model, seqs: list[list[int]], decoding: Decoding, device, autocast) -> torch.Tensor:
    """log p(next token) [len(seqs), V] after each of equally long sequences, from one padded forward."""
    n = len(seqs[0])
    ids_KW = torch.full((len(seqs), decoding.width(n)), decoding.pad_id, dtype=torch.long)
    ids_KW[:, :n] = torch.tensor(seqs, dtype=torch.long)
    with torch.no_grad(), autocast:
        logits_KV = model(input_ids=ids_KW.to(device), use_cache=False).logits[:, n - 1]
    return torch.log_softmax(logits_KV.float(), dim=-1)


def greedy(model, prompt: list[int], decoding: Decoding, device, autocast) -> list[int]:
    seq = list(prompt)
    for _ in range(decoding.max_new_tokens):
        token = int(next_log_probs(model, [seq], decoding, device, autocast)[0].argmax())
        if token == decoding.eos_id:
            break
        seq.append(token)
    return seq[len(prompt):]


def beam_search(model, prompt: list[int], decoding: Decoding, device, autocast) -> list[int]:
    """Beam search of num_beams beams; a beam that emits the end token is finished; it stops when
    num_beams beams have finished (or at max_new_tokens) and returns the best by length-penalized score."""
    k = decoding.num_beams
    beams: list[tuple[list[int], float]] = [(list(prompt), 0.0)]
    finished: list[tuple[list[int], float]] = []

    def normalized(seq, score, extra=0):
        return score / max(len(seq) - len(prompt) + extra, 1) ** decoding.length_penalty

    for _ in range(decoding.max_new_tokens):
        logp_KV = next_log_probs(model, [seq for seq, _ in beams], decoding, device, autocast)
        total_KV = logp_KV + torch.tensor([score for _, score in beams])[:, None]
        top = torch.topk(total_KV.flatten(), min(2 * k, total_KV.numel()))
        survivors = []
        for value, index in zip(top.values.tolist(), top.indices.tolist()):
            beam, token = divmod(index, total_KV.shape[1])
            seq = beams[beam][0]
            if token == decoding.eos_id:
                finished.append((seq, value))  # scored with its end token counted as generated
            else:
                survivors.append((seq + [token], value))
            if len(survivors) == k:
                break
        beams = survivors
        if len(finished) >= k or not beams:
            break
    candidates = [(seq, normalized(seq, score, 1)) for seq, score in finished]
    candidates += [(seq, normalized(seq, score)) for seq, score in beams]
    best = max(candidates, key=lambda c: c[1])[0]
    return best[len(prompt):]


def generate(model, prompt: list[int], decoding: Decoding, device, autocast) -> list[int]:
    """The generated token ids (prompt and end token excluded)."""
    if decoding.num_beams > 1:
        return beam_search(model, prompt, decoding, device, autocast)
    return greedy(model, prompt, decoding, device, autocast)


def warm_up(model, prompts: list[list[int]], decoding: Decoding, device, autocast) -> float:
    """One forward at every width and beam batch generation can reach; returns its seconds (compilation
    and autotuning, kept out of the timed generation)."""
    start = time.perf_counter()
    shortest, longest = min(map(len, prompts)), max(map(len, prompts)) + decoding.max_new_tokens
    widths = sorted({decoding.width(n) for n in range(shortest, longest + 1)})
    batches = sorted({1, decoding.num_beams})
    for width in widths:
        for batch in batches:
            next_log_probs(model, [[decoding.pad_id] * width] * batch, decoding, device, autocast)
    synchronize(device)
    return time.perf_counter() - start


def measure_generation(model, prompts: list[list[int]], decoding: Decoding, device, autocast,
                       sampler=None) -> dict:
    """Generate for every prompt, one at a time, timed per sample (after a warm-up); energy between the
    sampler's marks around the timed loop; peak memory above what was live before (untimed): that of the
    longest forward generation can make, since every step is a forward of its own that keeps nothing.
    Returns the outputs and the figures."""
    model.eval()
    warmup_s = warm_up(model, prompts, decoding, device, autocast)
    start = sampler.mark("generate:start") if sampler is not None else None
    outputs, ms = [], []
    for prompt in prompts:
        synchronize(device)
        t0 = time.perf_counter()
        outputs.append(generate(model, prompt, decoding, device, autocast))
        synchronize(device)
        ms.append((time.perf_counter() - t0) * 1e3)
    end = sampler.mark("generate:end") if sampler is not None else None
    energy = sampler.step_summary(start, end) if sampler is not None else {}
    widest = [[decoding.pad_id] * decoding.width(max(map(len, prompts)) + decoding.max_new_tokens - 1)]
    peak = peak_memory_mb(lambda: next_log_probs(model, widest * decoding.num_beams, decoding, device, autocast),
                          device)
    generated = sum(map(len, outputs))
    seconds = sum(ms) / 1e3
    q1, _, q3 = statistics.quantiles(ms, n=4) if len(ms) > 1 else (ms[0], ms[0], ms[0])
    joules = energy.get("energy_j")
    return {
        "outputs": outputs, "samples": len(prompts), "generated_tokens": generated,
        "prompt_tokens": sum(map(len, prompts)), "ms_per_sample": sum(ms) / len(ms), "ms_median": statistics.median(ms),
        "ms_q1": q1, "ms_q3": q3, "gen_tokens_per_s": generated / seconds if seconds else None,
        "ms_per_token": sum(ms) / generated if generated else None, "generation_s": seconds,
        "warmup_s": warmup_s, "peak_memory_mb": peak,
        "energy_per_sample_j": joules / len(prompts) if joules is not None and not math.isnan(joules) else None,
        "energy_source": energy.get("energy_source"),
    }
