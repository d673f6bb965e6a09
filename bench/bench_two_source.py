"""Two sources, one model: does training on FPI packshots plus a shop's phone photos keep FPI accuracy?

Issue 12's targets: "a two-source model keeps its FPI test accuracy within 0.5 point of the FPI-only model on
every head", and "a shop's photos gain from FPI without FPI drowning them". One model is trained on FPI
(``--fpi-data``, reader/taxonomy/source ``fpi``, split ``--fpi-split``) plus the shop photos (``--shop-data``,
reader ``folder``, the fpi taxonomy's ``clothing_photos`` rules, split ``--shop-split``: give bench_shop's
split so the shop test photos are the 616 photos the shop-only benchmarks score). The recipe is the reference
FPI-only model's own (its sidecar's ``training`` section: model, optim, trainer, ``image_size``, ``seed``; a
sidecar from before the ``monitor`` key kept the best ``val_macro_f1``, so that is used), so only the data
changes; trailing ``key=value`` pairs override it. Then:

  * FPI test rows of ``--fpi-split``, per head: the reference and the two-source model, scored on the same
    decoded images (``bench_cpu_study.test_accuracy``);
  * the shop test photos of ``--shop-split`` through ``evaluate_model`` (as bench_shop.py's fpi_zero_shot row):
    accuracy within the shop's own 10 classes (``domain_shift.label_space_accuracy``) and through the accept
    sets, for the two-source model and the reference zero-shot, beside ``--shop-baseline`` (free text).

A markdown table is printed ("within 0.5 pt?": yes when the two-source model is at most 0.5 point below the
reference on that head) and one JSON line appended to OUT/results.jsonl (wall time, threads, load).

What the shop photos can teach here: the fpi taxonomy has no class for a longsleeve, outwear, pants, shoes or a
hat photo, so the ``clothing_photos`` rules label those down to their subCategory only (``Apparel > Topwear``,
``Apparel > Bottomwear``, ``Footwear > Shoes``, ``Accessories > Headwear``) and mask their articleType;
t-shirt, shirt, dress, shorts and skirt reach their articleType. Colour, gender, season and usage are masked for
every shop photo. So "within the shop's classes" for longsleeve vs outwear still rests on FPI's articleTypes.

Image size: every source decodes at the run's one ``image_size`` (80 in the demo recipe): the phone photos are
letterboxed to 80 px like FPI's 60x80 packshots, then resized to ``input_size`` (128) by the network. The shop-only
benchmarks decode at 224 px, so their numbers are not at the same resolution; fashiontag has no per-source image
size (``image_size=224`` here would also decode FPI at 224 and change the FPI recipe).

``--shop-weight`` is the shop's per-image sampling weight (1.0: natural share, ~2,147 shop train photos beside
~30,000 FPI ones; 5.0: each shop photo drawn 5x as often, same total rows per epoch).

Run (about 15-20 minutes on 2 idle cores with the demo recipe, a few of them decoding the 3,068 shop photos on
a first run; ``--fpi-cache`` reuses the reference run's decoded FPI cache, read only):

    OMP_NUM_THREADS=2 .venv/bin/python bench/bench_two_source.py --reference runs/demo_v2/train/model \\
        --fpi-split runs/exp/split.csv --shop-split runs/bench_shop/split.csv \\
        --fpi-cache runs/demo_v2/train/cache_80 --out runs/bench_two_source --shop-baseline "0.9221 (budget_30m)"

Quick smoke run: add ``max_items=400 epochs=1 limit_train_batches=2 limit_val_batches=1`` (max_items caps
every source).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from bench_cpu_study import test_accuracy

#: run-environment keys of the reference's trainer section that are not part of its recipe
NOT_RECIPE = {
    "time_limit",
    "precision",
    "accelerator",
    "devices",
    "num_nodes",
    "ddp",
    "num_workers",
    "progress_bar",
    "limit_train_batches",
    "limit_val_batches",
}
STARTED = time.perf_counter()


def say(message: str) -> None:
    print(f"[{time.perf_counter() - STARTED:6.0f} s] {message}", flush=True)


def reference_recipe(model_dir: Path) -> dict[str, Any]:
    """The reference's training recipe as flat config keys (model, optim, trainer, image_size, seed)."""
    sidecar = json.loads((model_dir / "fashiontag.json").read_text(encoding="utf-8"))
    training = sidecar.get("training") or {}
    if not training.get("trainer"):
        raise SystemExit(f"error: {model_dir}/fashiontag.json has no training section to take the recipe from")
    recipe = {
        **training.get("model", {}),
        **training.get("optim", {}),
        **{k: v for k, v in training["trainer"].items() if k not in NOT_RECIPE},
    }
    recipe.pop("init_from", None)
    recipe.setdefault("monitor", "val_macro_f1")  # what every model saved before the monitor key kept
    recipe["image_size"] = training.get("data", {}).get("image_size", 64)
    recipe["seed"] = training.get("seed", 0)
    return recipe


def shop_scores(model_dir: Path, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """The shop test photos through ``evaluate_model``: within the shop's classes, and per FPI head it labels."""
    from fashiontag.evaluate import EvaluateConfig, evaluate_model

    metrics = evaluate_model(
        model_dir,
        args.shop_data,
        "test",
        out,
        EvaluateConfig(robustness=False, gradcam=False),
        reader="folder",
        source=args.shop_source,
        split_file=args.shop_split,
    )
    shift = metrics["domain_shift"] or {}
    return {
        "count": shift.get("count", metrics["data"]["count"]),
        "label_space_accuracy": round(shift.get("label_space_accuracy", float("nan")), 4),
        "accept_accuracy": round(shift.get("accuracy", float("nan")), 4),
        "label_space_per_class": {k: round(v, 4) for k, v in shift.get("label_space_per_class", {}).items()},
        "heads": {h: round(m["accuracy"], 4) for h, m in metrics["heads"].items()},
    }


def table(row: dict[str, Any]) -> str:
    fpi = row["fpi_test"]
    lines = [
        f"FPI test ({fpi['reference']['n']} images of {row['fpi_split']})",
        "",
        "| head | reference | two-source | delta (pt) | within 0.5 pt? |",
        "|---|---:|---:|---:|---|",
    ]
    for head, delta in fpi["delta_pt"].items():
        lines.append(
            f"| {head} | {fpi['reference'][head]:.4f} | {fpi['two_source'][head]:.4f} | {delta:+.2f} | "
            f"{'yes' if delta >= -0.5 else 'no'} |"
        )
    shop = row["shop_test"]
    lines += [
        "",
        f"Shop test ({shop['two_source']['count']} photos of {row['shop_split']})",
        "",
        "| model | within the shop's classes | accept sets |",
        "|---|---:|---:|",
        f"| reference (FPI only, zero-shot) | {shop['reference']['label_space_accuracy']:.4f} | "
        f"{shop['reference']['accept_accuracy']:.4f} |",
        f"| two-source | {shop['two_source']['label_space_accuracy']:.4f} | "
        f"{shop['two_source']['accept_accuracy']:.4f} |",
    ]
    if row["shop_baseline"]:
        lines.append(f"| shop only (given) | {row['shop_baseline']} | |")
    return "\n".join(lines)


def main() -> None:  # noqa: PLR0915 - one linear script
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", type=Path, required=True, help="FPI-only model directory (recipe + baseline)")
    parser.add_argument("--fpi-data", default="../shared/data/fpi_small")
    parser.add_argument("--fpi-split", default="runs/exp/split.csv", help="FPI split file (fashiontag data split)")
    parser.add_argument("--fpi-cache", type=Path, help="reuse this decoded FPI cache (OUT/cache_<image_size>)")
    parser.add_argument("--shop-data", default="../shared/data/clothing_photos/train")
    parser.add_argument("--shop-split", required=True, help="the shop's split file (item_id,split)")
    parser.add_argument("--shop-source", default="clothing_photos", help="the fpi taxonomy's mapping rule")
    parser.add_argument("--shop-weight", type=float, default=1.0, help="per-image sampling weight of shop photos")
    parser.add_argument("--shop-baseline", default="", help="shop-only accuracy to print beside (free text)")
    parser.add_argument("--out", type=Path, default=Path("runs/bench_two_source"))
    parser.add_argument("--name", default=None, help="run folder under OUT (default: two_source_w<weight>)")
    parser.add_argument("overrides", nargs="*", help="key=value training settings over the reference's recipe")
    args = parser.parse_args()

    import torch

    from fashiontag._threads import configure_threads
    from fashiontag.config import ConfigError, build_config, parse_overrides, updated
    from fashiontag.train import TrainConfig, fit

    threads = configure_threads()
    name = args.name or f"two_source_w{args.shop_weight:g}"
    run = args.out / name
    for path in (args.reference / "fashiontag.json", Path(args.fpi_split), Path(args.shop_split)):
        if not path.exists():
            raise SystemExit(f"error: {path} does not exist")
    recipe = reference_recipe(args.reference)
    shop = {
        "data": args.shop_data,
        "reader": "folder",
        "source": args.shop_source,
        "weight": args.shop_weight,
        "name": "shop",
        "split": args.shop_split,
    }
    try:
        config = build_config(
            TrainConfig,
            **recipe,
            data=args.fpi_data,
            reader="fpi",
            taxonomy="fpi",
            source="fpi",
            split=args.fpi_split,
            sources=(shop,),
            out=str(run),
            progress_bar=False,
        )
        for override in args.overrides:  # one at a time, spelled as on the command line
            config = updated(config, **parse_overrides([override]))
    except ConfigError as exc:
        raise SystemExit(f"error: {exc}") from None
    size = config.data.image_size
    if size != recipe["image_size"]:
        say(f"warning: image_size {size} is not the reference's {recipe['image_size']}; both are scored at {size}")
    cache = run / f"cache_{size}"
    if args.fpi_cache and not cache.exists():
        if not (args.fpi_cache / "meta.json").exists():
            raise SystemExit(f"error: --fpi-cache {args.fpi_cache} is not a decoded cache (no meta.json)")
        if json.loads((args.fpi_cache / "meta.json").read_text()).get("size") not in (None, size):
            raise SystemExit(f"error: --fpi-cache {args.fpi_cache} was decoded at another size than {size}")
        run.mkdir(parents=True, exist_ok=True)
        cache.symlink_to(args.fpi_cache.resolve())  # read only: training opens it with mode "r"
    say(f"{threads} threads; recipe from {args.reference}: " + " ".join(f"{k}={v}" for k, v in recipe.items()))
    say(f"overrides: {' '.join(args.overrides) or 'none'}; shop weight {args.shop_weight:g}")
    for data, folder in ((args.fpi_data, cache), (args.shop_data, run / "sources" / "shop" / f"cache_{size}")):
        if not (folder / "meta.json").exists():  # the data stage decodes silently with progress_bar=false
            say(f"{data} is decoded at {size} px into {folder} first (minutes for thousands of photos)")
    say(f"training {run} on {args.fpi_data} + {args.shop_data}")
    start = time.perf_counter()
    try:
        model = fit(config)
    except ValueError as exc:  # DataError (split file does not cover a source, nothing mapped) and the like
        raise SystemExit(f"error: {exc}") from None
    train_seconds = time.perf_counter() - start
    sidecar = json.loads((model / "fashiontag.json").read_text(encoding="utf-8"))
    say(f"trained in {train_seconds:.0f} s; scoring the FPI test rows with the reference")
    reference = test_accuracy(args.reference, cache, args.fpi_split, flip=False)
    say("scoring the FPI test rows with the two-source model")
    two = test_accuracy(model, cache, args.fpi_split, flip=False)
    heads = [h for h in reference if h != "n" and h in two]
    delta = {h: round(100 * (two[h] - reference[h]), 2) for h in heads}
    say("scoring the shop test photos with the two-source model")
    shop_two = shop_scores(model, args, run / "eval_shop")
    say("scoring the shop test photos with the reference (zero-shot)")
    shop_ref = shop_scores(args.reference, args, run / "eval_shop_reference")
    row = {
        "name": name,
        "reference": str(args.reference),
        "overrides": args.overrides,
        "shop_weight": args.shop_weight,
        "recipe": recipe,
        "fpi_split": args.fpi_split,
        "shop_split": args.shop_split,
        "train_seconds": round(train_seconds, 1),
        "wall_seconds": round(time.perf_counter() - STARTED, 1),
        "threads": threads,
        "torch_threads": torch.get_num_threads(),
        "load": round(os.getloadavg()[0], 2),
        "fpi_test": {
            "reference": reference,
            "two_source": two,
            "delta_pt": delta,
            "within_half_point": all(d >= -0.5 for d in delta.values()),
        },
        "shop_test": {"two_source": shop_two, "reference": shop_ref},
        "shop_baseline": args.shop_baseline,
        "val_per_source": sidecar["metrics"].get("sources"),
    }
    print(table(row), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "results.jsonl", "a", encoding="utf-8") as handle:
        handle.write(json.dumps(row) + "\n")
    say(f"appended to {args.out / 'results.jsonl'}")


if __name__ == "__main__":
    sys.exit(main())
