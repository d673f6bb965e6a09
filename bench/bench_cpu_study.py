"""CPU study: training mode x input size x backbone -> test accuracy per head and wall minutes.

Each recipe is one ``fashiontag train`` run (a subprocess, so its wall time includes everything the command
does: reading the decoded cache, trunk extraction, epochs, saving) on one split of FPI, scored on that
split's test rows with the saved model (flip test-time augmentation reported separately). Results are
appended to OUT/study.jsonl and the whole table is printed as markdown (BENCHMARKS.md "CPU study").

Run:
    .venv/bin/python bench/bench_cpu_study.py --data ../shared/data/fpi_small --split runs/exp/split.csv \
        --out runs/study --recipe "trunk128:mode=trunk input_size=128 trunk_cut=-3 trunk_views=2 epochs=4" \
        --recipe "probe112:--probe input_size=112 probe_steps=1000"

Common settings (``--common``) default to the demo's: lite0, 80 px letterbox, batch 128, lr 2e-3.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

COMMON = (
    "image_size=80 batch_size=128 head_epochs=0 lr=2e-3 backbone_lr_scale=0.5 warmup_epochs=0.2 "
    "label_smoothing=0.1 progress_bar=false"
)


def test_accuracy(model_dir: Path, cache_dir: Path, split_file: str, flip: bool) -> dict[str, float]:
    """Accuracy per head on the split's test rows, read from the run's decoded cache."""
    from fashiontag.data.cache import open_cache
    from fashiontag.data.splits import load_split
    from fashiontag.data.targets import head_targets, target_matrix
    from fashiontag.models import load_network

    net = load_network(model_dir).eval()
    cache = open_cache(cache_dir)
    index = cache.index.merge(load_split(split_file).table[["item_id", "split"]], on="item_id")
    index = index[(index["split"] == "test") & index["leaf"].notna()]
    images = cache.batch(index["row"].to_numpy())
    attributes = {a: index[a].where(index[a].notna(), None).tolist() for a in net.taxonomy.attributes}
    targets = target_matrix(head_targets(net.taxonomy, index["leaf"].tolist(), attributes), net.heads)
    chunks: dict[str, list] = {h: [] for h in net.heads}
    with torch.no_grad():
        for start in range(0, len(images), 256):
            x = torch.from_numpy(images[start : start + 256])
            probs = net(x)
            if flip:
                mirrored = net(x.flip(2))
                probs = {h: (probs[h] + mirrored[h]) / 2 for h in probs}
            for head in net.heads:
                chunks[head].append(probs[head].argmax(1).numpy())
    out = {}
    for i, head in enumerate(net.heads):
        keep = targets[:, i] >= 0
        out[head] = round(float((np.concatenate(chunks[head])[keep] == targets[keep, i]).mean()), 4)
    out["n"] = int(len(images))
    return out


def run_recipe(name: str, overrides: str, args: argparse.Namespace) -> dict:
    out = Path(args.out) / name
    out.mkdir(parents=True, exist_ok=True)
    cache = Path(args.out) / "cache_80"
    if cache.exists() and not (out / "cache_80").exists():
        (out / "cache_80").symlink_to(cache.resolve())  # the decoded cache is shared; its build is timed once
    command = [
        sys.executable,
        "-m",
        "fashiontag.cli.main",
        "train",
        "--data",
        args.data,
        "--taxonomy",
        "fpi",
        "--reader",
        "fpi",
        "--split",
        args.split,
        "--out",
        str(out),
        "--backbone",
        args.backbone,
        *args.common.split(),
        *overrides.split(),
    ]
    print("$", " ".join(command), flush=True)
    start = time.perf_counter()
    subprocess.run(command, check=True)
    seconds = time.perf_counter() - start
    if not cache.exists():
        (out / "cache_80").rename(cache)
        (out / "cache_80").symlink_to(cache.resolve())
    row = {
        "recipe": name,
        "overrides": overrides,
        "backbone": args.backbone,
        "train_seconds": round(seconds),
        "threads": torch.get_num_threads(),
        "load": os.getloadavg()[0],
        "test": test_accuracy(out / "model", cache, args.split, flip=False),
        "test_flip": test_accuracy(out / "model", cache, args.split, flip=True),
    }
    with open(Path(args.out) / "study.jsonl", "a", encoding="utf-8") as handle:
        handle.write(json.dumps(row) + "\n")
    return row


def table(rows: list[dict]) -> str:
    heads = [h for h in rows[0]["test"] if h != "n"]
    lines = [
        "| recipe | backbone | minutes | load | " + " | ".join(heads) + " | with flip TTA (sub / article) |",
        "|---|---|---:|---:|" + "---:|" * len(heads) + "---|",
    ]
    for r in rows:
        cells = " | ".join(f"{r['test'][h]:.4f}" for h in heads)
        flip = f"{r['test_flip']['subCategory']:.4f} / {r['test_flip']['articleType']:.4f}"
        lines.append(
            f"| {r['recipe']} (`{r['overrides']}`) | {r['backbone']} | {r['train_seconds'] / 60:.1f} | "
            f"{r['load']:.1f} | {cells} | {flip} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data/fpi_small")
    parser.add_argument("--split", required=True, help="split file (fashiontag data split)")
    parser.add_argument("--out", default="runs/study")
    parser.add_argument("--backbone", default="tf_efficientnet_lite0")
    parser.add_argument("--common", default=COMMON)
    parser.add_argument("--recipe", action="append", default=[], help="NAME:key=value ... (repeatable)")
    args = parser.parse_args()
    for recipe in args.recipe:
        name, _, overrides = recipe.partition(":")
        print(json.dumps(run_recipe(name, overrides, args)), flush=True)
    path = Path(args.out) / "study.jsonl"
    if path.exists():
        print(table([json.loads(line) for line in path.read_text().splitlines() if line.strip()]))


if __name__ == "__main__":
    main()
