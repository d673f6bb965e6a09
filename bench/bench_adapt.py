"""Adapting to a shop's phone photos with a few hundred labels: ImageNet backbone vs an FPI-trained one.

Every run sees the same ~300 labelled phone photos (10% of ../shared/data/clothing_photos, stratified) and
is scored on the same held-out ~2,600; the starting point differs (ImageNet ``tf_efficientnet_lite0`` or the
backbone of a fashiontag model trained on FPI, ``--source-model``), then probe mode or a short fine-tune.

Run (after a fine-tune such as BENCHMARKS.md's CPU run):

    .venv/bin/python bench/bench_adapt.py --source-model runs/cpu_ft/model --out runs/adapt
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
CLI = str(Path(sys.executable).with_name("fashiontag"))


def _run(*args: str) -> float:
    start = time.perf_counter()
    subprocess.run([CLI, *args], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/clothing_photos/train")
    parser.add_argument("--source-model", required=True, help="fashiontag model directory to adapt from")
    parser.add_argument("--out", type=Path, default=Path("runs/adapt"))
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=8, help="epochs of the fine-tune rows")
    parser.add_argument("--threads", type=int, default=0, help="torch/onnxruntime/OpenMP threads (0: auto)")
    args = parser.parse_args()
    from fashiontag._threads import configure_threads

    threads = configure_threads(args.threads or None)  # every fashiontag run below inherits OMP_NUM_THREADS
    print(f"threads: {threads}")

    taxonomy, split = str(HERE / "phone10.yaml"), args.out / "split.csv"
    common = ["--data", args.data, "--reader", "folder", "--source", "clothing_photos", "--taxonomy", taxonomy]
    _run(
        "data",
        "split",
        args.data,
        *common[2:],
        "--out",
        str(split),
        "val_fraction=0.05",
        "test_fraction=0.85",
        "min_count=1",
        "rare=keep",
    )
    imagenet, adapted = ["--backbone", "tf_efficientnet_lite0"], ["--init-from", args.source_model]
    finetune = [f"epochs={args.epochs}", "head_epochs=1", "lr=3e-3", "backbone_lr_scale=0.1", "batch_size=32"]
    runs = {
        "ImageNet lite0, probe": [*imagenet, "--probe"],
        f"adapted from {args.source_model}, probe": [*adapted, "--probe"],
        f"ImageNet lite0, fine-tune {args.epochs} epochs": [*imagenet, *finetune],
        f"adapted from {args.source_model}, fine-tune {args.epochs} epochs": [*adapted, *finetune],
    }
    rows = []
    for i, (name, extra) in enumerate(runs.items()):
        out = args.out / f"run{i}"
        seconds = _run(
            "train",
            *common,
            "--split",
            str(split),
            "--out",
            str(out),
            *extra,
            f"image_size={args.image_size}",
            f"input_size={args.image_size}",
            "progress_bar=false",
        )
        _run(
            "evaluate",
            str(out / "model"),
            "--data",
            str(out / f"cache_{args.image_size}"),
            "--split-file",
            str(split),
            "--split",
            "test",
            "--out",
            str(out / "eval"),
            "robustness=false",
            "gradcam=false",
        )
        head = json.loads((out / "eval" / "metrics.json").read_text())["heads"]["type"]
        rows.append((name, head["accuracy"], head["macro_f1"], head["count"], seconds))
    counts = json.loads(split.with_suffix(".json").read_text()).get("counts")
    print(f"\nsplit {counts}, letterbox {args.image_size} px\n")
    print("| backbone | test accuracy | macro F1 | test images | train s |")
    print("|---|---:|---:|---:|---:|")
    for name, acc, f1, n, seconds in rows:
        print(f"| {name} | {acc:.3f} | {f1:.3f} | {n} | {seconds:.0f} |")


if __name__ == "__main__":
    main()
