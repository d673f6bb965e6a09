"""The review policy on a trained model: auto-labelled share and accepted accuracy per head, and needs_review.

Fits thresholds on the ``val`` split and scores the ``test`` split from the same probabilities (temperature
fitted on ``val`` first, as ``fashiontag evaluate calibrate_split=val`` does), for the new default policy
(Learn-then-Test at each target, delta 0.1, levels decide needs_review) and for the old one (the lowest
threshold whose validation rows reach 99%, no guarantee, every head decides needs_review), beside the ceiling
of any threshold policy on this model: thresholds fitted on the test photos themselves (``oracle_<target>``).
``--rank-scores`` also asks whether another confidence would rank a level's mistakes last better than the
decoded label's probability (the path product, the top-1 minus top-2 margin, the margin among the chosen
parent's children times the parent's probability): each one's ceiling and val-fitted share at the oracle target.
``--mistakes-at 0.65`` lists the deepest level's mistakes among its 65% most confident test photos.

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


def _prefix_share(score: np.ndarray, correct: np.ndarray, target: float) -> float:
    """The largest share of photos that, taken in descending ``score``, are still ``target`` accurate (the
    oracle's cut)."""
    return float((score >= _old_threshold(score, correct, target)).mean()) if len(score) else 0.0


def _rank_scores(tax, probs, decoded, level: str) -> dict[str, np.ndarray]:
    """Candidate confidences for ``level``'s decoded label: what the policy uses and three alternatives."""
    from fashiontag.review import level_index

    depth, p = tax.levels.index(level), probs[level]
    top2 = np.sort(p, axis=1)[:, -2:]
    parent_conf = decoded.confidence[tax.levels[depth - 1]] if depth else np.ones(len(p))
    parents = decoded.index[tax.levels[depth - 1]] if depth else np.full(len(p), -1)
    sibling_margin = np.zeros(len(p))  # top-1 minus top-2 among the chosen parent's children
    for parent, columns in level_index(tax).children[depth].items():
        rows = np.flatnonzero(parents == parent)
        if len(rows) and len(columns) > 1:
            q = np.sort(p[np.ix_(rows, columns)], axis=1)
            sibling_margin[rows] = (q[:, -1] - q[:, -2]) / q.sum(1)
        elif len(rows):
            sibling_margin[rows] = 1.0
    return {
        "probability (the policy's)": decoded.confidence[level],
        "path product": np.prod([decoded.confidence[lv] for lv in tax.levels[: depth + 1]], axis=0),
        "margin top-1 - top-2": top2[:, 1] - top2[:, 0],
        "sibling margin x parent probability": sibling_margin * parent_conf,
    }


def rank_scores(tax, val_probs, val_targets, test_probs, test_targets, target: float) -> dict[str, dict]:
    """Per level and candidate score: the ceiling share (cut fitted on test, as ``oracle``) and the share and
    accuracy on test of the cut fitted on val (no guarantee) - whether another score ranks mistakes lower."""
    out: dict[str, dict] = {}
    val_decoded, test_decoded = H.decode_top_down(tax, val_probs), H.decode_top_down(tax, test_probs)
    for level in tax.levels[1:]:
        val_scores = _rank_scores(tax, val_probs, val_decoded, level)
        test_scores = _rank_scores(tax, test_probs, test_decoded, level)
        val_rows, test_rows = val_targets[level] >= 0, test_targets[level] >= 0
        val_ok = H.level_correct(val_decoded, val_targets, level)[val_rows]
        test_ok = H.level_correct(test_decoded, test_targets, level)[test_rows]
        out[level] = {}
        for name in test_scores:
            cut = _old_threshold(val_scores[name][val_rows], val_ok, target)
            taken = test_scores[name][test_rows] >= cut
            out[level][name] = {
                "ceiling": _prefix_share(test_scores[name][test_rows], test_ok, target),
                "val_fitted": float(taken.mean()),
                "val_fitted_accuracy": float(test_ok[taken].mean()) if taken.any() else None,
            }
    return out


def mistakes_at(tax, probs, targets, level: str, share: float, top: int = 12) -> dict:
    """The ``share`` most confident photos on ``level`` (by the policy's probability): how many are wrong, and
    the most frequent (true, predicted) pairs among them - what a target share would have to accept."""
    decoded = H.decode_top_down(tax, probs)
    rows = np.flatnonzero(targets[level] >= 0)
    rows = rows[np.argsort(-decoded.confidence[level][rows], kind="stable")][: int(share * len(rows))]
    wrong = rows[decoded.index[level][rows] != targets[level][rows]]
    names = [label.split(">")[-1].strip() for label in tax.head_labels(level)]
    pairs: dict[str, int] = {}
    for i in wrong:
        pair = f"{names[targets[level][i]]} -> {names[decoded.index[level][i]]}"
        pairs[pair] = pairs.get(pair, 0) + 1
    return {
        "share": share,
        "photos": int(len(rows)),
        "wrong": int(len(wrong)),
        "pairs": dict(sorted(pairs.items(), key=lambda kv: -kv[1])[:top]),
    }


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
    parser.add_argument(
        "--rank-scores",
        action="store_true",
        help="also compare other confidence scores for ranking each level's mistakes last",
    )
    parser.add_argument(
        "--mistakes-at",
        type=float,
        default=None,
        metavar="SHARE",
        help="list the deepest level's mistakes among its SHARE most confident test photos",
    )
    args = parser.parse_args()
    start = time.perf_counter()
    out = Path(args.out)
    tax, val_probs, val_targets, test_probs, test_targets = _probabilities(
        args.model, args.data, args.split_file, out.with_suffix(".pkl")
    )
    result = {
        "model": args.model,
        "val": int(len(val_targets[tax.levels[0]])),
        "test": int(len(test_targets[tax.levels[0]])),
        "old": H.review_summary(tax, test_probs, test_targets, _old_fit(tax, val_probs, val_targets), list(tax.heads)),
    }
    # the ceiling of any threshold policy on this model: thresholds picked on the test photos themselves
    # (no guarantee); when LTT comes close to it, only a better-ranking model auto-labels more
    oracle = _old_fit(tax, test_probs, test_targets, args.oracle)
    result[f"oracle_{args.oracle}"] = H.review_summary(tax, test_probs, test_targets, oracle)
    for target in (float(t) for t in args.targets.split(",")):
        fits = H.fit_thresholds(tax, val_probs, val_targets, target, args.delta)
        thresholds = {head: fit.threshold for head, fit in fits.items()}
        result[f"ltt_{target}"] = {
            **H.review_summary(tax, test_probs, test_targets, thresholds),
            "refused": {h: f.reason for h, f in fits.items() if f.refused},
        }
    if args.rank_scores:
        result["rank_scores"] = rank_scores(tax, val_probs, val_targets, test_probs, test_targets, args.oracle)
        for level, rows in result["rank_scores"].items():
            for name, row in rows.items():
                fitted = row["val_fitted_accuracy"]
                print(
                    f"rank {level} by {name}: ceiling {100 * row['ceiling']:.1f}%, cut fitted on val "
                    f"{100 * row['val_fitted']:.1f}%" + (f" at {100 * fitted:.2f}%" if fitted is not None else "")
                )
    if args.mistakes_at:
        level = tax.levels[-1]
        found = result["mistakes_at"] = mistakes_at(tax, test_probs, test_targets, level, args.mistakes_at)
        print(
            f"{level}: the {100 * args.mistakes_at:g}% most confident test photos ({found['photos']}) hold "
            f"{found['wrong']} mistakes ({100 * (1 - found['wrong'] / max(1, found['photos'])):.2f}% right): "
            + ", ".join(f"{pair} {n}" for pair, n in found["pairs"].items())
        )
    result["seconds"] = round(time.perf_counter() - start, 1)
    out.write_text(json.dumps(result, indent=1, default=float))
    for name, row in result.items():
        if isinstance(row, dict) and "per_head" in row:
            heads = ", ".join(
                f"{h} {100 * r['auto_labelled']:.1f}% at {100 * r['accuracy']:.2f}%"
                if r["accuracy"] == r["accuracy"]
                else f"{h} 0%"
                for h, r in row["per_head"].items()
            )
            print(f"{name}: needs_review {100 * row['needs_review']:.1f}% | {heads}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
