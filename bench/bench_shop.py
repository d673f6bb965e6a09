"""Shop photos: accuracy on a stratified held-out 20% of ../shared/data/clothing_photos/train.

The folder tree is read with no taxonomy file (``taxonomy=auto``: the ten class folders are the label set).
One stratified split (seed 0): 20% test, 10% val, 70% train. Every row trains a probe (frozen ImageNet
``tf_efficientnet_lite0`` features + a linear head) on a different labelled subset of the train part and is
scored on the same test photos; backbone features are extracted once (FeatureMemo) and shared by all rows.

Rows:
  * all train photos (time from decoded cache to trained model);
  * 300 random labelled photos;
  * 200 random vs 100 = 30 random + 70 chosen by ``select``'s ranking (margin uncertainty + k-center greedy on
    the backbone features, ``fashiontag.workflows.select.rank_pool``) from the 30-photo model, and 100 random;
  * the all-photos model with flip test-time augmentation (``fashiontag.data.tta``);
  * optionally (``--fpi-model``) an FPI-only model zero-shot through the fpi taxonomy's ``clothing_photos`` rules.

Run (about 5-10 minutes on 2 busy cores; the decoded cache is kept in OUT):

    OMP_NUM_THREADS=2 .venv/bin/python bench/bench_shop.py --out runs/bench_shop
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch


def _subset(labels, train_rows: np.ndarray, keep: np.ndarray):  # noqa: ANN001, ANN202
    """Labels where only ``keep`` (row indices) of the train part stay ``train``; the other train rows idle."""
    split = labels["split"].to_numpy().copy()
    split[np.setdiff1d(train_rows, keep)] = "unused"
    return labels.assign(split=split)


def _test_accuracy(model_dir: Path, feats: torch.Tensor, targets: np.ndarray) -> float:
    from fashiontag.models import load_network

    net = load_network(model_dir).eval()
    with torch.no_grad():
        probs = net.probabilities(net.head(feats))["class"].numpy()
    return float((probs.argmax(1) == targets).mean())


def _random_rows(train_rows: np.ndarray, n: int, seed: int) -> np.ndarray:
    return np.sort(np.random.default_rng(seed).choice(train_rows, size=n, replace=False))


@dataclass
class ShopData:
    """The shop photos decoded at one size, split once (stratified, seed 0: 70/10/20) for every bench row."""

    base: Any  # TrainConfig of the probe rows (out = OUT/all, where the decoded cache lives)
    images: np.ndarray
    labels: Any  # pandas DataFrame with the bench split in ``split``
    taxonomy: Any
    train_rows: np.ndarray
    test_rows: np.ndarray
    test_targets: np.ndarray  # class index of every test row
    decode_s: float


def load_shop(data: str, out: Path, image_size: int, probe_steps: int) -> ShopData:
    """Decode ``data`` (class folders, no taxonomy file) through the cache in ``out/all/cache_<size>`` and split it."""
    from fashiontag.config import build_config
    from fashiontag.data.folders import resolve_taxonomy
    from fashiontag.data.splits import split_stratified
    from fashiontag.train import TrainConfig, load_train_data

    base = build_config(
        TrainConfig,
        data=data,
        out=str(out / "all"),
        probe=True,
        image_size=image_size,
        input_size=image_size,
        probe_steps=probe_steps,
        progress_bar=True,
    )
    start = time.perf_counter()
    loaded = load_train_data(base, resolve_taxonomy("auto", "auto", data))
    decode_s = time.perf_counter() - start
    split = split_stratified(loaded.labels, seed=0, val_fraction=0.1, test_fraction=0.2).set_index("item_id")["split"]
    labels = loaded.labels.assign(split=loaded.labels["item_id"].map(split).to_numpy())
    train_rows = np.flatnonzero(labels["split"].to_numpy() == "train")
    test_rows = np.flatnonzero(labels["split"].to_numpy() == "test")
    classes = loaded.taxonomy.head_labels("class")
    test_targets = np.array([classes.index(leaf) for leaf in labels["leaf"].iloc[test_rows]])
    print(f"{len(labels)} photos: {len(train_rows)} train, {len(test_rows)} test; decode {decode_s:.0f}s", flush=True)
    return ShopData(base, loaded.images, labels, loaded.taxonomy, train_rows, test_rows, test_targets, decode_s)


def main() -> None:  # noqa: PLR0915 - one linear script
    from fashiontag.config import updated
    from fashiontag.data.tta import tta_views
    from fashiontag.models import load_network
    from fashiontag.train import FeatureMemo, fit, from_arrays
    from fashiontag.train._probe import extract_features
    from fashiontag.workflows.select import SelectConfig, rank_pool

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/clothing_photos/train")
    parser.add_argument("--out", type=Path, default=Path("runs/bench_shop"))
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--probe-steps", type=int, default=300)
    parser.add_argument("--fpi-model", type=Path, help="an FPI-only model for the zero-shot row")
    args = parser.parse_args()
    results: dict[str, dict] = {}

    shop = load_shop(args.data, args.out, args.image_size, args.probe_steps)
    base, images, labels, tax = shop.base, shop.images, shop.labels, shop.taxonomy
    train_rows, test_rows, test_targets, decode_s = shop.train_rows, shop.test_rows, shop.test_targets, shop.decode_s
    memo = FeatureMemo()

    def run(name: str, keep: np.ndarray) -> Path:
        t0 = time.perf_counter()
        config = updated(base, out=str(args.out / name))
        model = fit(config, from_arrays(images, _subset(labels, train_rows, keep), tax, memo))
        seconds = time.perf_counter() - t0
        feats = memo.features(load_network(model), images, test_rows)
        results[name] = {
            "labelled": int(len(keep)),
            "test": int(len(test_rows)),
            "seconds": round(seconds, 1),
            "accuracy": round(_test_accuracy(model, feats, test_targets), 4),
        }
        print(name, results[name], flush=True)
        return model

    all_model = run("all", train_rows)
    results["all"]["seconds_with_decode"] = round(results["all"]["seconds"] + decode_s, 1)
    run("random_300", _random_rows(train_rows, 300, 1))
    run("random_200", _random_rows(train_rows, 200, 2))
    run("random_100", _random_rows(train_rows, 100, 3))
    # select: a random seed set, its model ranks the rest (margin + k-center greedy), the picks join the seed
    for name, seed_size, factor in (
        ("select_100", 30, 4.0),
        ("select_100_uncertainty_only", 30, 1.0),
        ("select_100_kcenter_only", 30, 1e6),
        ("select_100_seed50", 50, 4.0),
    ):
        seed_rows = _random_rows(train_rows, seed_size, 4)
        seed_model = run(f"seed_{seed_size}", seed_rows)
        pool = np.setdiff1d(train_rows, seed_rows)
        net = load_network(seed_model).eval()
        with torch.no_grad():
            pool_feats = memo.features(net, images, pool)
            pool_probs = net.probabilities(net.head(pool_feats))["class"].numpy()
            labelled_feats = memo.features(net, images, seed_rows).numpy()
        config = SelectConfig(budget=100 - seed_size, candidate_factor=factor, strategy="uncertainty")
        picks, _, _ = rank_pool(pool_feats.numpy(), pool_probs, config, labelled_feats)
        chosen = np.sort(np.concatenate([seed_rows, pool[picks]]))
        run(name, chosen)
        results[name].update(
            seed=seed_size, candidate_factor=factor, classes=labels["leaf"].iloc[chosen].value_counts().to_dict()
        )

    net = load_network(all_model).eval()
    t0 = time.perf_counter()
    flipped = tta_views(images[test_rows], "flip")[1]
    with torch.no_grad():
        plain = net.probabilities(net.head(memo.features(net, images, test_rows)))["class"].numpy()
        mirrored = net.probabilities(net.head(extract_features(net, flipped)))["class"].numpy()
    accuracy = float((((plain + mirrored) / 2).argmax(1) == test_targets).mean())
    results["all_tta_flip"] = {
        "accuracy": round(accuracy, 4),
        "test": int(len(test_rows)),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    print("all_tta_flip", results["all_tta_flip"], flush=True)

    if args.fpi_model:
        from fashiontag.evaluate import EvaluateConfig, evaluate_model

        test_items = labels.iloc[test_rows]
        split_file = args.out / "test_split.csv"
        test_items.assign(split="test")[["item_id", "split"]].to_csv(split_file, index=False)
        metrics = evaluate_model(
            args.fpi_model,
            args.data,
            "test",
            args.out / "fpi_zero_shot",
            EvaluateConfig(robustness=False, gradcam=False),
            reader="folder",
            source="clothing_photos",
            split_file=split_file,
        )
        results["fpi_zero_shot"] = {
            "accuracy": round(metrics["domain_shift"]["accuracy"], 4),
            "test": metrics["domain_shift"]["count"],
        }
        print("fpi_zero_shot", results["fpi_zero_shot"], flush=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    print(f"wrote {args.out / 'results.json'}")


if __name__ == "__main__":
    main()
