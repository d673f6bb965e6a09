"""Cached-trunk costs per (input size, cut, batch, precision): tail training and frozen-part extraction, images/s.

What the time-limit planner trades: a deeper cut trains more of the network (colour needs the early stages) but
each step costs more; a smaller input makes every stage cheaper. One process, the same random inputs for every
row, untrained ImageNet-shaped weights (speed does not depend on the weights), a median of timed steps after a
warm-up. ``--precision bf16`` runs the tail under CPU autocast (bfloat16), to see whether this CPU's bf16
instructions pay; ``--precision compile`` runs it in fp32 through ``torch.compile`` (inductor; its compilation,
about a minute on 2 cores, is in the two warm-up steps, not in the rate).

Run:
    .venv/bin/python bench/bench_trunk_tail.py --sizes 96 112 128 --cuts -3 -4 -5 --batches 128 \
        --precision fp32 bf16
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time

import torch


def tail_rate(tail: torch.nn.Module, head: torch.nn.Module, acts: torch.Tensor, precision: str, steps: int) -> float:
    """Training images/s of ``head(tail(acts))`` with AdamW (warm-up steps, then the median of ``steps``)."""
    bf16, warmup = precision == "bf16", 1
    if precision == "compile":  # a compiled copy: the eager tail stays as it is for the other rows
        torch._dynamo.reset()  # each row compiles its own static graph (Dynamo's recompile limit would fall back)
        tail, warmup = torch.compile(copy.deepcopy(tail), dynamic=False), 2  # the first steps compile fwd + bwd
    optimizer = torch.optim.AdamW([*tail.parameters(), *head.parameters()], lr=1e-6)
    times = []
    for _ in range(steps + warmup):
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = head(tail(acts)).float().logsumexp(1).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    return len(acts) / statistics.median(times[warmup:])


def main() -> None:
    from fashiontag._threads import configure_threads
    from fashiontag.models import create_backbone, split_backbone

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbone", default="tf_efficientnet_lite0")
    parser.add_argument("--sizes", type=int, nargs="+", default=[96, 112, 128])
    parser.add_argument("--cuts", type=int, nargs="+", default=[-3, -4, -5])
    parser.add_argument("--batches", type=int, nargs="+", default=[128])
    parser.add_argument("--precision", nargs="+", default=["fp32"], choices=["fp32", "bf16", "compile"])
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()

    threads = configure_threads()
    print(f"threads {threads}, load {os.getloadavg()[0]:.1f}, {args.backbone}")
    print("| input px | cut | activations | batch | precision | extraction img/s (torch) | tail training img/s |")
    print("|---:|---:|---|---:|---|---:|---:|")
    backbone, features = create_backbone(args.backbone, pretrained=False)
    head = torch.nn.Linear(features, 200)
    for size in args.sizes:
        for cut in args.cuts:
            frozen, tail = split_backbone(backbone, cut)
            for batch in args.batches:
                x = torch.rand(batch, 3, size, size).contiguous(memory_format=torch.channels_last)
                with torch.no_grad():
                    frozen.eval()(x)
                    start = time.perf_counter()
                    acts = frozen(x).contiguous(memory_format=torch.channels_last)
                    extract = batch / (time.perf_counter() - start)
                for precision in args.precision:
                    rate = tail_rate(tail.train(), head, acts, precision, args.steps)
                    shape = "x".join(str(d) for d in acts.shape[1:])
                    print(
                        f"| {size} | {cut} | {shape} | {batch} | {precision} | {extract:.0f} | {rate:.0f} |", flush=True
                    )


if __name__ == "__main__":
    main()
