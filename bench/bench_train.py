"""Training benchmark on fpi_small: probe mode, a short full fine-tune, and the seed recipe, same images.

Run: .venv/bin/python bench/bench_train.py --data ../shared/data/fpi_small --max-items 4000 --out runs/bench
Prints a markdown table (train images/s, held-out accuracy per head). The seed recipe is EfficientNet-Lite0
at 224 px, Adam 1e-4, batch 16, no augmentation, PIL decode + resize every step.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F


def _seed_recipe(data, steps: int) -> dict[str, float]:
    from PIL import Image

    from fashiontag.data.targets import head_targets, target_matrix
    from fashiontag.models import create_network, default_preprocess
    from fashiontag.train._metrics import head_metrics

    tax = data.taxonomy
    net = create_network(
        tax, "tf_efficientnet_lite0", "multihead", default_preprocess("tf_efficientnet_lite0", 224), pretrained=True
    )
    rows, val = data.rows("train"), data.rows("val")
    targets = net.head.encode_targets(data.labels["leaf"].tolist(), data.attributes(np.arange(len(data.labels))))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-4)
    start, seen = time.time(), 0
    for step in range(steps):
        batch = rows[np.random.default_rng(step).choice(len(rows), 16)]
        paths = data.labels["path"].iloc[batch]
        images = np.stack([np.asarray(Image.open(p).convert("RGB").resize((224, 224))) for p in paths])
        logits = net.forward_logits(net.to_input(torch.from_numpy(images)))
        loss = sum(
            F.cross_entropy(logits[h], torch.from_numpy(targets[h][batch]), ignore_index=-1) for h in net.logit_heads
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        seen += len(batch)
    rate = seen / (time.time() - start)
    net.eval()
    with torch.no_grad():
        probs = net(torch.from_numpy(np.ascontiguousarray(data.images[val])))
    ht = torch.from_numpy(
        target_matrix(head_targets(tax, data.labels["leaf"].iloc[val].tolist(), data.attributes(val)), tax.heads)
    )
    return {"images_per_s": rate, **head_metrics(probs, ht, net.heads)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="../shared/data/fpi_small")
    parser.add_argument("--out", default="runs/bench")
    parser.add_argument("--max-items", type=int, default=4000)
    parser.add_argument("--seed-steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=0, help="torch/onnxruntime/OpenMP threads (0: auto)")
    args = parser.parse_args()
    from fashiontag._threads import configure_threads

    print(f"threads: {configure_threads(args.threads or None)} (torch, OpenMP; recorded with the numbers)")
    from fashiontag.config import build_config, updated
    from fashiontag.data.taxonomy import load_taxonomy
    from fashiontag.train import TrainConfig, fit, load_train_data

    base = build_config(
        TrainConfig,
        data=args.data,
        out=args.out,
        image_size=64,
        input_size=128,
        max_items=args.max_items,
        progress_bar=False,
    )
    data = load_train_data(base, load_taxonomy("fpi"))
    results = {}
    for name, cfg in {
        "probe": updated(base, probe=True, out=f"{args.out}/probe"),
        "finetune": updated(base, epochs=1, head_epochs=0, out=f"{args.out}/ft"),
    }.items():
        start = time.time()
        model = fit(cfg, data)
        wall = time.time() - start
        metrics = json.loads((Path(model) / "fashiontag.json").read_text())["metrics"]
        results[name] = {"images_per_s": len(data.rows("train")) * max(cfg.trainer.epochs, 1) / wall, **metrics}
    results["seed recipe"] = _seed_recipe(data, args.seed_steps)
    heads = ["acc_masterCategory", "acc_subCategory", "acc_articleType", "acc_gender"]
    print("| run | train img/s | " + " | ".join(heads) + " |")
    print("|---" * (len(heads) + 2) + "|")
    for name, m in results.items():
        scores = " | ".join(f"{m.get(h, float('nan')):.3f}" for h in heads)
        print(f"| {name} | {m['images_per_s']:.1f} | {scores} |")


if __name__ == "__main__":
    main()
