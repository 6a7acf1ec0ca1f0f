"""Time a training-like step (forward, backward, AdamW) and count its page faults.

The step is the default recipe's shape: EfficientNet-Lite0 embedding net in
channels-last, a batch of photos and catalog images at the default input side,
BatchNorm frozen, an in-batch softmax-like loss. Random pixels: only time and memory
behaviour are measured, not learning.

    python -m benchmarks.train_step_speed --steps 4
    DEEPPRODUCT_HEAP_REUSE=0 python -m benchmarks.train_step_speed --steps 4   # glibc default
"""

from __future__ import annotations

import argparse
import resource
import time

import torch

from trainer.heap_reuse import keep_freed_memory
from trainer.model import EmbeddingNet, ModelConfig
from trainer.train_setup import freeze_batchnorm


def main(argv: list[str] | None = None) -> None:
    """Print seconds per step, user and kernel CPU seconds and minor page faults per step."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=4, help="timed steps (after 2 warm-ups)")
    ap.add_argument(
        "--batch", type=int, default=64, help="images per step (48 photos + 16 catalog)"
    )
    ap.add_argument("--input-size", type=int, default=288)
    args = ap.parse_args(argv)
    if args.steps < 1 or args.batch < 2:
        ap.error("--steps must be >= 1 and --batch >= 2")
    reuse = keep_freed_memory()
    torch.manual_seed(0)
    model = EmbeddingNet(ModelConfig(input_size=args.input_size, mid_features=False))
    model = model.train().to(memory_format=torch.channels_last)
    freeze_batchnorm(model)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randn(args.batch, 3, args.input_size, args.input_size)
    x = x.contiguous(memory_format=torch.channels_last)

    def step() -> None:
        e = model(x)
        loss = (e @ e.T / 0.05).logsumexp(1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(2):
        step()
    r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    for _ in range(args.steps):
        step()
    t = (time.perf_counter() - t0) / args.steps
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    n = args.steps
    print(
        f"heap reuse {'on' if reuse else 'off'}: {t:.2f} s/step, "
        f"user {(r1.ru_utime - r0.ru_utime) / n:.2f} s, "
        f"kernel {(r1.ru_stime - r0.ru_stime) / n:.2f} s, "
        f"{(r1.ru_minflt - r0.ru_minflt) // n:,} page faults per step "
        f"(batch {args.batch} at {args.input_size}, {torch.get_num_threads()} threads)"
    )


if __name__ == "__main__":
    main()
