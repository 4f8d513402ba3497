"""The yardstick of docs/benchmarks/train.md (issue #4): nanoGPT's GPT-2, compiled, measured on our GPU.

Issue #4 compares attnbench's GPT-2 training throughput with "nanoGPT's GPT-2 model, compiled", quoted at
about 480k tokens/s (GPT-2 124M, sequence 1024, batch 16, bf16, H200). A quoted figure is no measurement:
this file measures the yardstick on the same GPU, in the same session, as attnbench. Written independently,
it deliberately matches nanoGPT's architecture and training recipe:
  - model: token + learned position embeddings; pre-LayerNorm blocks with one fused qkv Linear,
    F.scaled_dot_product_attention(is_causal=True) and a 4x MLP with tanh-GELU; final LayerNorm; lm_head
    tied to the token embedding (no bias, as nanoGPT); bias=True elsewhere, dropout 0, vocabulary 50304
    (GPT-2's padded to a multiple of 64); GPT-2 init (std 0.02, c_proj scaled by 1/sqrt(2 * n_layer));
    loss inside forward (F.cross_entropy over all positions);
  - step: bf16 autocast, torch.compile, fused AdamW (lr 6e-4, betas (0.9, 0.95), weight decay 0.1 on 2-D
    parameters only), TF32 matmuls, zero_grad(set_to_none=True); like nanoGPT's bench.py: no gradient
    accumulation, no gradient clipping, no learning-rate schedule;
  - data: random tokens made on the device before timing, cycled, so data loading costs nothing.

    python benchmarks/nanogpt_yardstick.py                     (GPT-2 124M, T=1024, B=16; --json PATH)
"""

import argparse
import json
import math
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn


class Block(nn.Module):
    def __init__(self, n_embd, n_head):
        super().__init__()
        self.n_head = n_head
        self.ln_1, self.ln_2 = nn.LayerNorm(n_embd), nn.LayerNorm(n_embd)
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)  # fused q, k, v
        self.attn_proj = nn.Linear(n_embd, n_embd)
        self.c_fc = nn.Linear(n_embd, 4 * n_embd)
        self.mlp_proj = nn.Linear(4 * n_embd, n_embd)
        self.attn_proj.residual = self.mlp_proj.residual = True  # the two c_proj: scaled init

    def attention(self, x_BTC):
        B, T, C = x_BTC.shape
        q_BTC, k_BTC, v_BTC = self.c_attn(x_BTC).split(C, dim=2)
        q_BHTD, k_BHTD, v_BHTD = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
                                  for t in (q_BTC, k_BTC, v_BTC))
        y_BHTD = F.scaled_dot_product_attention(q_BHTD, k_BHTD, v_BHTD, is_causal=True)
        return self.attn_proj(y_BHTD.transpose(1, 2).contiguous().view(B, T, C))

    def forward(self, x_BTC):
        x_BTC = x_BTC + self.attention(self.ln_1(x_BTC))
        return x_BTC + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x_BTC)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, vocab, seq_len, n_layer, n_head, n_embd):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, n_embd), nn.Embedding(seq_len, n_embd)
        self.blocks = nn.ModuleList(Block(n_embd, n_head) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab, bias=False)
        self.lm_head.weight = self.wte.weight  # tied
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                std = 0.02 / math.sqrt(2 * n_layer) if getattr(m, "residual", False) else 0.02
                nn.init.normal_(m.weight, mean=0.0, std=std)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)

    def forward(self, idx_BT, targets_BT):
        pos_T = torch.arange(idx_BT.shape[1], device=idx_BT.device)
        x_BTC = self.wte(idx_BT) + self.wpe(pos_T)
        for block in self.blocks:
            x_BTC = block(x_BTC)
        logits_BTV = self.lm_head(self.ln_f(x_BTC))
        return F.cross_entropy(logits_BTV.view(-1, logits_BTV.shape[-1]), targets_BT.view(-1))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, default in [("n-layer", 12), ("n-head", 12), ("n-embd", 768), ("vocab", 50304),
                          ("seq-len", 1024), ("batch-size", 16), ("warmup", 10), ("steps", 50)]:
        p.add_argument(f"--{name}", type=int, default=default)
    p.add_argument("--device", choices=["cuda", "cpu"],
                   default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--no-compile", action="store_true", help="run eagerly (default: torch.compile(model))")
    p.add_argument("--json", metavar="PATH", help="also write the result dict here")
    args = p.parse_args()
    device, cuda = torch.device(args.device), args.device == "cuda"
    torch.manual_seed(0)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True

    model = GPT(args.vocab, args.seq_len, args.n_layer, args.n_head, args.n_embd).to(device).train()
    n_params = sum(p.numel() for p in model.parameters())  # tied weight counted once
    # weight decay on the 2-D parameters (matrices, embeddings), none on biases and LayerNorm weights
    groups = [{"params": [p for p in model.parameters() if p.dim() >= 2], "weight_decay": 0.1},
              {"params": [p for p in model.parameters() if p.dim() < 2], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=6e-4, betas=(0.9, 0.95), fused=cuda)
    runner = model if args.no_compile else torch.compile(model)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda)
    # 8 pre-made random batches on the device: (inputs x_BT, next-token targets y_BT), contiguous
    tokens = [torch.randint(0, args.vocab, (args.batch_size, args.seq_len + 1), device=device)
              for _ in range(8)]
    batches = [(t[:, :-1].contiguous(), t[:, 1:].contiguous()) for t in tokens]

    def sync():
        if cuda:
            torch.cuda.synchronize(device)

    def step(i):
        x_BT, y_BT = batches[i % len(batches)]
        with autocast:
            loss = runner(x_BT, y_BT)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    t0 = time.perf_counter()
    for i in range(args.warmup):  # compilation and autotuning happen here
        step(i)
    sync()
    warmup_s = time.perf_counter() - t0
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)  # peak memory of the timed steps only
    step_s = []  # the GPU is idle at each start: synchronized after warm-up and after every step
    for i in range(args.warmup, args.warmup + args.steps):
        t = time.perf_counter()
        loss = step(i)
        sync()
        step_s.append(time.perf_counter() - t)

    tokens_per_step = args.batch_size * args.seq_len
    median_s, total_s = statistics.median(step_s), sum(step_s)
    try:
        import triton
    except ImportError:
        triton = None
    result = {
        "benchmark": "nanogpt_yardstick", "config": vars(args), "compiled": not args.no_compile,
        "n_params": n_params, "tokens_per_step": tokens_per_step, "warmup_s": warmup_s,
        "median_step_ms": median_s * 1e3, "total_timed_s": total_s, "timed_steps": args.steps,
        "tokens_per_s_median": tokens_per_step / median_s,
        "tokens_per_s_total": tokens_per_step * args.steps / total_s,
        "peak_memory_allocated_mb": torch.cuda.max_memory_allocated(device) / 2**20 if cuda else None,
        "final_loss": loss.item(),
        "data": "random tokens made on the device before timing, 8 batches cycled: no data loading cost",
        "torch": torch.__version__, "triton": getattr(triton, "__version__", None),
        "gpu": torch.cuda.get_device_name(device) if cuda else None,
    }
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    print(f"nanoGPT yardstick, {'compiled' if result['compiled'] else 'eager'} on {result['gpu'] or 'cpu'}: "
          f"{result['median_step_ms']:.1f} ms/step median = {result['tokens_per_s_median']:,.0f} tokens/s "
          f"({result['tokens_per_s_total']:,.0f} over all {args.steps} timed steps), "
          f"loss {result['final_loss']:.3f}")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
