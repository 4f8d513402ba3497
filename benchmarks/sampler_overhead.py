"""Overhead of attnbench's system sampler on real GPT-2 training steps (target: under 2% of step time).

    python benchmarks/sampler_overhead.py --model gpt2 --seq-len 1024 --batch-size 16 --device cuda \
        --attn sdpa-cudnn --vocab-size 50304 --compile

Prints the step time with and without the sampler marking every step, as `attnbench train` does; the
step is attnbench train's own (model_loss, make_optimizer), compiled with --compile.
"""

import argparse
import json

import torch

from attnbench.bench.train import make_optimizer, model_loss
from attnbench.bench.train_config import TrainConfig
from attnbench.measure.system import measure_overhead
from attnbench.models.gpt2 import build_gpt2, use_attention


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", default="gpt2-tiny")
    p.add_argument("--attn", default="sdpa")
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--vocab-size", type=int, default=None)
    p.add_argument("--compile", action="store_true")
    args = p.parse_args()
    device = torch.device(args.device)
    model = build_gpt2(args.model, n_positions=max(args.seq_len, 256), vocab_size=args.vocab_size, seed=0)
    use_attention(model, args.attn)
    model.to(device).train()
    opt = make_optimizer(model, TrainConfig(), device)
    loss_fn = torch.compile(model_loss) if args.compile else model_loss
    x = torch.randint(0, model.config.vocab_size, (args.batch_size, args.seq_len + 1), device=device)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu",
                                                                                                         enabled=False)

    def step():
        loss_fn(model, x[:, :-1], None, x[:, 1:], autocast).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    print(json.dumps(measure_overhead(step, args.steps, device=str(device)), indent=2))


if __name__ == "__main__":
    main()
