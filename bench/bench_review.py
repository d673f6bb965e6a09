"""The review policy on a trained model: auto-labelled share and accepted accuracy per head, and needs_review.

Fits thresholds on the ``val`` split and scores the ``test`` split from the same probabilities (temperature
fitted on ``val`` first, as ``fashiontag evaluate calibrate_split=val`` does), for the new default policy
(Learn-then-Test at each target, delta 0.1, levels decide needs_review) and for the old one (the lowest
threshold whose validation rows reach 99%, no guarantee, every head decides needs_review), beside the ceiling
of any threshold policy on this model: thresholds fitted on the test photos themselves (``oracle_<target>``).

Run (a model and the split/cache it was trained with; decoded once, probabilities cached beside --out):

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_review.py runs/demo/train/model \\
        --data runs/demo/train/cache_80 --split-file runs/demo/split.csv --out runs/review_demo.json
"""

from __future__ import annotations

import argparse
import json
import pickle
import time
from pathlib import Path

import numpy as np

from fashiontag.evaluate import hierarchy as H
from fashiontag.review import NEVER


def _old_threshold(confidence: np.ndarray, correct: np.ndarray, target: float) -> float:
    """The policy before Learn-then-Test: the lowest cut whose validation rows reach ``target``."""
    if not len(confidence):
        return NEVER
    order = np.argsort(-confidence, kind="stable")
    conf, hits = confidence[order], correct[order].astype(np.float64)
    running = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    ok = np.where(np.r_[conf[1:] < conf[:-1], True] & (running >= target))[0]
    return float(conf[ok[-1]]) if len(ok) else NEVER


def _old_fit(tax, probs, targets, target: float = 0.99) -> dict[str, float]:
    decoded = H.decode_top_down(tax, probs)
    out, parent_ok = {}, targets[tax.levels[0]] >= 0
    for level in tax.levels:
        rows = parent_ok & (decoded.index[level] >= 0)
        correct = H.level_correct(decoded, targets, level)
        out[level] = _old_threshold(decoded.confidence[level][rows], correct[rows], target)
        parent_ok = rows & (decoded.confidence[level] >= out[level])
    for head in tax.attributes:
        rows = targets[head] >= 0
        p = probs[head][rows]
        out[head] = _old_threshold(p.max(1), p.argmax(1) == targets[head][rows], target)
    return out


def _probabilities(model: str, data: str, split_file: str | None, cache: Path):
    if cache.exists():
        with open(cache, "rb") as handle:
            return pickle.load(handle)
    from fashiontag.artifact import read_sidecar, resolve_preprocess
    from fashiontag.data.targets import item_targets
    from fashiontag.data.taxonomy import Taxonomy
    from fashiontag.evaluate._data import load_eval_set
    from fashiontag.evaluate._predict import network_predictor
    from fashiontag.evaluate.calibration import fit_network_temperature
    from fashiontag.models import load_network

    sidecar = read_sidecar(model)
    tax = Taxonomy.from_dict(sidecar["taxonomy"])
    pre = resolve_preprocess(sidecar)
    network = load_network(model, sidecar)
    load = dict(tax=tax, size=pre.size, fill=pre.fill, split_file=split_file)
    val, test = load_eval_set(data, split="val", **load), load_eval_set(data, split="test", **load)
    val_targets, test_targets = item_targets(tax, val.items), item_targets(tax, test.items)
    fit_network_temperature(network, val.images, val_targets)
    predict = network_predictor(network, 64)
    result = (tax, predict(val.images), val_targets, predict(test.images), test_targets)
    with open(cache, "wb") as handle:
        pickle.dump(result, handle)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--data", required=True, help="dataset path or training cache directory")
    parser.add_argument("--split-file", default=None)
    parser.add_argument("--out", required=True, help="JSON result (probabilities cached beside it, .pkl)")
    parser.add_argument("--targets", default="0.985,0.97,0.95", help="LTT targets to try (comma-separated)")
    parser.add_argument("--delta", type=float, default=0.1)
    parser.add_argument("--oracle", type=float, default=0.985, help="target of the test-fitted ceiling row")
    args = parser.parse_args()
    start = time.perf_counter()
    out = Path(args.out)
    tax, val_probs, val_targets, test_probs, test_targets = _probabilities(
        args.model, args.data, args.split_file, out.with_suffix(".pkl"))
    result = {"model": args.model, "val": int(len(val_targets[tax.levels[0]])),
              "test": int(len(test_targets[tax.levels[0]])),
              "old": H.review_summary(tax, test_probs, test_targets, _old_fit(tax, val_probs, val_targets),
                                      list(tax.heads))}
    # the ceiling of any threshold policy on this model: thresholds picked on the test photos themselves
    # (no guarantee); when LTT comes close to it, only a better-ranking model auto-labels more
    oracle = _old_fit(tax, test_probs, test_targets, args.oracle)
    result[f"oracle_{args.oracle}"] = H.review_summary(tax, test_probs, test_targets, oracle)
    for target in (float(t) for t in args.targets.split(",")):
        fits = H.fit_thresholds(tax, val_probs, val_targets, target, args.delta)
        thresholds = {head: fit.threshold for head, fit in fits.items()}
        result[f"ltt_{target}"] = {**H.review_summary(tax, test_probs, test_targets, thresholds),
                                   "refused": {h: f.reason for h, f in fits.items() if f.refused}}
    result["seconds"] = round(time.perf_counter() - start, 1)
    out.write_text(json.dumps(result, indent=1, default=float))
    for name, row in result.items():
        if isinstance(row, dict) and "per_head" in row:
            heads = ", ".join(f"{h} {100 * r['auto_labelled']:.1f}% at {100 * r['accuracy']:.2f}%"
                              if r["accuracy"] == r["accuracy"] else f"{h} 0%" for h, r in row["per_head"].items())
            print(f"{name}: needs_review {100 * row['needs_review']:.1f}% | {heads}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
