"""Label-efficiency curve on the shop photos: test accuracy at 50, 100, 200, 400, 800 and all labels, random
photos versus photos chosen by ``select`` (``fashiontag.workflows.select.rank_pool``) in the standard pool-based
active-learning loop.

Same data, split and model as ``bench_shop.py`` (its ``load_shop``): ``../shared/data/clothing_photos/train`` as
class folders, stratified split seed 0 (70/10/20: 2,147 train, 616 test), a probe (frozen ImageNet
``tf_efficientnet_lite0`` features at 224 px + linear head, ``probe_steps=300``) per point, trained exactly as
``fashiontag train --probe`` trains it (same initial head, same ``train_heads``) but in memory on features
extracted once (FeatureMemo) and kept in ``OUT/features_<size>.pt``, so each point costs about a second.

* random: for each seed s (``--seeds``, default 3) and budget b, b photos drawn at random from the train part
  (bench_shop's ``_random_rows(train, b, s)``);
* a select strategy (``--select NAME:key=value,...``, SelectConfig keys; default: ``select:`` = the defaults):
  start from the random 50 of seed s (``--cold-start``: the 50 the strategy picks from features alone, when
  it would pick them ``typical``), train, rank the unlabelled rest of the train part with the newest model
  (labelled photos as centres), label up to the next budget, retrain, ... (50 -> 100 -> 200 -> 400 -> 800);
* all: every train photo (one point, no randomness).

Prints a markdown table (mean ± sd over seeds, select - random) and writes ``OUT/curve.json``,
``OUT/curve.png`` and ``OUT/sets.json`` (each point's labelled item ids, e.g. for ``bench_shop_budget.py
--labelled-from``). Run (a few minutes on 2 cores, most of it the first feature extraction):

    OMP_NUM_THREADS=2 .venv/bin/python bench/bench_label_curve.py --out runs/bench_label_curve --seeds 10 \\
        --cold-start --select select: --select uncertainty:strategy=uncertainty --select typical:strategy=typical
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from bench_shop import ShopData, _random_rows, load_shop


def _strategy(text: str) -> tuple[str, Any]:
    """``NAME:key=value,key=value`` -> (NAME, SelectConfig)."""
    from fashiontag.config import ConfigError, build_config
    from fashiontag.workflows.select import SelectConfig

    name, _, overrides = text.partition(":")
    try:
        return name, build_config(SelectConfig, overrides=[o for o in overrides.split(",") if o])
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(f"--select {text}: {exc}") from None


def shop_features(shop: ShopData, net: torch.nn.Module, out: Path) -> torch.Tensor:
    """Backbone features of every photo: ``out/features_<size>.pt`` when it holds these photos and this
    backbone, else extracted (FeatureMemo, as the probe rows of bench_shop) and saved there atomically."""
    from fashiontag._io import atomic_open
    from fashiontag.train import FeatureMemo

    key = {
        "items": shop.labels["item_id"].astype(str).tolist(),
        "preprocess": repr(net.preprocess.to_dict()),
        "backbone": shop.base.model.backbone,
    }
    path = out / f"features_{shop.base.data.image_size}.pt"
    if path.exists():
        stored = torch.load(path, weights_only=True)
        if stored["key"] == key:
            print(f"features: reused {path}", flush=True)
            return stored["features"]
    features = FeatureMemo().features(net, shop.images, np.arange(len(shop.images)))
    with atomic_open(path, "wb") as handle:
        torch.save({"key": key, "features": features}, handle)
    return features


class Probe:
    """``fit``'s probe mode in memory: the same initial head (``torch.manual_seed(seed)`` then ``build_net``),
    ``train_heads`` on the labelled rows' features, class probabilities of every row."""

    def __init__(self, shop: ShopData) -> None:
        from fashiontag.train._fit import build_net

        torch.manual_seed(shop.base.seed)
        self.net = build_net(shop.base, shop.taxonomy)
        self.initial = {k: v.clone() for k, v in self.net.head.state_dict().items()}
        self.rng = torch.get_rng_state()
        self.shop = shop
        self.features = torch.zeros(0)
        leaves = shop.labels["leaf"].tolist()
        encoded = self.net.head.encode_targets(leaves, {})
        self.targets = torch.from_numpy(np.stack([encoded[h] for h in self.net.logit_heads], 1).astype(np.int64))

    def probabilities(self, rows: np.ndarray) -> np.ndarray:
        """Train on ``rows`` (from the initial head) and return ``[N, classes]`` for every photo."""
        from fashiontag.train._probe import train_heads

        self.net.head.load_state_dict(self.initial)
        torch.set_rng_state(self.rng)
        train_heads(self.net, self.features[rows], self.targets[rows], self.shop.base)
        with torch.no_grad():
            return self.net.probabilities(self.net.head.eval()(self.features))["class"].numpy()

    def accuracy(self, probs: np.ndarray) -> float:
        return float((probs[self.shop.test_rows].argmax(1) == self.shop.test_targets).mean())


def select_curve(
    probe: Probe, config: Any, budgets: list[int], seed: int, cold: bool = False
) -> tuple[list[float], list[np.ndarray]]:
    """The active-learning loop from the random ``budgets[0]`` of ``seed`` (``cold``: the strategy picks those
    too, from features alone, with no label yet): accuracy and labelled rows per budget."""
    from fashiontag.workflows.select import rank_pool

    train_rows, feats = probe.shop.train_rows, probe.features.numpy()
    if cold:
        first = dataclasses.replace(config, budget=budgets[0], seed=seed)
        classes = probe.net.taxonomy.head_labels("class")
        no_model = np.full((len(train_rows), len(classes)), 1.0 / len(classes))  # typical ranks by features alone
        labelled = np.sort(train_rows[rank_pool(feats[train_rows], no_model, first)[0]])
    else:
        labelled = _random_rows(train_rows, budgets[0], seed)
    accuracies, sets, probs = [], [], probe.probabilities(labelled)
    for budget in budgets:
        if budget > len(labelled):
            pool = np.setdiff1d(train_rows, labelled)
            step = dataclasses.replace(config, budget=budget - len(labelled), seed=seed)
            picks, _, _ = rank_pool(feats[pool], probs[pool], step, feats[labelled])
            labelled = np.sort(np.concatenate([labelled, pool[picks]]))
        probs = probe.probabilities(labelled)
        accuracies.append(probe.accuracy(probs))
        sets.append(labelled)
    return accuracies, sets


def _cell(values: list[float]) -> str:
    return f"{np.mean(values):.3f} ± {np.std(values, ddof=1) if len(values) > 1 else 0.0:.3f}"


def markdown(curve: dict[str, Any], budgets: list[str], names: list[str]) -> str:
    head = "| labelled | random | " + " | ".join(f"{n} | {n} - random" for n in names) + " |"
    lines = [head, "|" + "---|" + "---:|" * (1 + 2 * len(names))]
    for b in budgets:
        rand = curve["random"][b]["accuracy"]
        cells = [_cell(rand)]
        for n in names:
            acc = curve[n][b]["accuracy"]
            diff = np.array(acc) - np.array(rand)
            cells += [_cell(acc), f"{diff.mean():+.3f}"]
        lines.append(f"| {b} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(curve: dict[str, Any], budgets: list[str], names: list[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    xs = [curve["random"][b]["labelled"] for b in budgets]
    for n in ["random", *names]:
        acc = np.array([curve[n][b]["accuracy"] for b in budgets])
        ax.errorbar(
            xs, acc.mean(1), yerr=acc.std(1, ddof=1) if acc.shape[1] > 1 else None, marker="o", capsize=3, label=n
        )
    ax.set_xscale("log")
    ax.set_xlabel("labelled photos")
    ax.set_ylabel("test accuracy (616 photos)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/clothing_photos/train")
    parser.add_argument("--out", type=Path, default=Path("runs/bench_label_curve"))
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--probe-steps", type=int, default=300)
    parser.add_argument("--budgets", default="50,100,200,400,800", help="comma-separated, increasing")
    parser.add_argument("--seeds", type=int, default=3, help="random draws (and select starts) per budget")
    parser.add_argument(
        "--select",
        type=_strategy,
        action="append",
        metavar="NAME:key=value,...",
        help="a select strategy (SelectConfig keys; repeatable); default: select: (the defaults)",
    )
    parser.add_argument(
        "--cold-start",
        action="store_true",
        help="a strategy that would take typical for the first budget (typical; auto) picks it too, from features "
        "alone; the others start from the random draw",
    )
    parser.add_argument("--no-plot", action="store_true")
    args = parser.parse_args()
    budgets = sorted({int(b) for b in args.budgets.split(",")})
    strategies = args.select or [_strategy("select:")]
    started = time.perf_counter()

    shop = load_shop(args.data, args.out, args.image_size, args.probe_steps)
    if budgets[-1] >= len(shop.train_rows):
        parser.error(f"budgets must stay below the {len(shop.train_rows)} train photos ('all' is added)")
    from fashiontag.workflows.select import resolve_strategy

    probe = Probe(shop)
    probe.features = shop_features(shop, probe.net, args.out)
    classes = shop.taxonomy.head_labels("class")
    curve: dict[str, Any] = {"random": {}, **{name: {} for name, _ in strategies}}

    chosen: dict[str, list[str]] = {}  # "name/budget/seed" -> item ids, for training on the same photos elsewhere

    def record(name: str, budget: int, accuracy: float, rows: np.ndarray) -> None:
        point = curve[name].setdefault(str(budget), {"labelled": int(len(rows)), "accuracy": [], "classes": []})
        if len(rows) < len(shop.train_rows):
            chosen[f"{name}/{budget}/{len(point['accuracy'])}"] = shop.labels["item_id"].iloc[rows].astype(str).tolist()
        point["accuracy"].append(round(accuracy, 4))
        counts = np.bincount(probe.targets[rows, 0].numpy(), minlength=len(classes))
        point["classes"].append(dict(zip(classes, counts.tolist(), strict=True)))

    for seed in range(args.seeds):
        for budget in budgets:
            rows = _random_rows(shop.train_rows, budget, seed)
            record("random", budget, probe.accuracy(probe.probabilities(rows)), rows)
        for name, config in strategies:
            t0 = time.perf_counter()
            first = dataclasses.replace(config, budget=budgets[0])
            cold = args.cold_start and resolve_strategy(first, 0, len(classes)) == "typical"
            accuracies, sets = select_curve(probe, config, budgets, seed, cold)
            for budget, accuracy, rows in zip(budgets, accuracies, sets, strict=True):
                record(name, budget, accuracy, rows)
            print(
                f"seed {seed} {name}: "
                + " ".join(f"{b}:{a:.3f}" for b, a in zip(budgets, accuracies, strict=True))
                + f" ({time.perf_counter() - t0:.0f} s)",
                flush=True,
            )
        print(
            f"seed {seed} random: " + " ".join(f"{b}:{curve['random'][str(b)]['accuracy'][-1]:.3f}" for b in budgets),
            flush=True,
        )
    everything = probe.accuracy(probe.probabilities(shop.train_rows))
    for name in curve:
        for _ in range(args.seeds):
            record(name, len(shop.train_rows), everything, shop.train_rows)
    keys = [str(b) for b in [*budgets, len(shop.train_rows)]]
    names = [name for name, _ in strategies]
    table = markdown(curve, keys, names)
    print(table)
    first, second = str(budgets[1]), str(budgets[2]) if len(budgets) > 2 else None
    if second:
        for name in names:
            print(
                f"{name} at {first} vs random at {second}: {np.mean(curve[name][first]['accuracy']):.3f} vs "
                f"{np.mean(curve['random'][second]['accuracy']):.3f}"
            )
    result = {
        "budgets": keys,
        "seeds": args.seeds,
        "test": int(len(shop.test_rows)),
        "train": int(len(shop.train_rows)),
        "image_size": args.image_size,
        "probe_steps": args.probe_steps,
        "strategies": {name: dataclasses.asdict(config) for name, config in strategies},
        "seconds": round(time.perf_counter() - started, 1),
        "curve": curve,
        "table": table,
    }
    from fashiontag._io import atomic_open

    with atomic_open(args.out / "curve.json", "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=1)
    print(f"wrote {args.out / 'curve.json'}")
    with atomic_open(args.out / "sets.json", "w", encoding="utf-8") as handle:
        json.dump(chosen, handle)
    print(f"wrote {args.out / 'sets.json'} (the labelled photos of every point: NAME/BUDGET/SEED -> item ids)")
    if not args.no_plot:
        plot(curve, keys, names, args.out / "curve.png")
        print(f"wrote {args.out / 'curve.png'}")


if __name__ == "__main__":
    main()
