"""Shop photos under a time budget: ``train --time-limit`` on the phone photos, scored on bench_shop's test split.

Same data and split as ``bench/bench_shop.py`` (../shared/data/clothing_photos/train, taxonomy inferred from
the class folders, stratified seed 0: 70% train / 10% val / 20% test = 616 photos). The budget planner picks the
recipe; the wall time covers everything ``fit`` does after the decoded cache is read (the cache of
bench_shop's OUT/all is reused when present).

Run:
    .venv/bin/python bench/bench_shop_budget.py --out runs/bench_shop --time-limit 5m

Trailing ``key=value`` pairs override the training config (e.g. ``backbone=tf_efficientnet_lite2
trunk_cut=-4``); ``--time-limit none`` trains the config as given.

Few labels: ``--labelled N`` (random) or ``--labelled-from runs/bench_label_curve_300/sets.json:select/300/0``
(the photos a ``bench_label_curve.py`` point labelled) keeps only those train photos; ``--pseudo 0.6`` then does
what ``fashiontag train --unlabelled`` does with the idle train photos (teacher on the labelled ones under the
same time limit, its labels at least that sure join a student's training; ``--pseudo-rounds``: each student
labels again); the row records per round how many were used and how many of those were right. Example:

    .venv/bin/python bench/bench_label_curve.py --out runs/bench_label_curve_300 --budgets 50,100,200,300 \\
        --seeds 3 --cold-start --select select:
    .venv/bin/python bench/bench_shop_budget.py --out runs/bench_shop --time-limit 5m --name l300_sel_pl \\
        --labelled-from runs/bench_label_curve_300/sets.json:select/300/0 --pseudo 0.6

``--write-split DIR --labelled 300`` writes that draw as a split file and a list of the idle photos instead, for
the same experiment through ``fashiontag train --split DIR/split.csv --unlabelled DIR/unlabelled.txt`` (which
can add sources such as FPI packshots); ``DIR/pool.txt`` lists every photo outside the test split, the unlabelled
photos of a model trained without shop labels.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch


def scores(net: torch.nn.Module, images: np.ndarray, targets: np.ndarray, modes: tuple[str, ...]) -> dict[str, float]:
    """Top-1 accuracy of the ``class`` head on uint8 letterboxed ``images`` per TTA mode (as ``evaluate --tta``);
    the modes share views (``multiscale`` holds ``flip``'s two), so each distinct view is forwarded once."""
    from fashiontag.data.tta import TTA_MODES, tta_views

    views: dict[tuple[bool, float], list[np.ndarray]] = {}
    for mode in modes:
        for key, view in zip(TTA_MODES.create(mode), tta_views(images, mode), strict=True):
            if key not in views:
                with torch.no_grad():
                    views[key] = [
                        net(torch.from_numpy(np.ascontiguousarray(view[i : i + 64])))["class"].numpy()
                        for i in range(0, len(view), 64)
                    ]
    out = {}
    for mode in modes:
        probs = np.mean([np.concatenate(views[key]) for key in TTA_MODES.create(mode)], axis=0)
        out[mode] = float((probs.argmax(1) == targets).mean())
    return out


def _pseudo_labelled(data: Any, teacher_dir: Path, threshold: float) -> tuple[Any, dict[str, Any]]:
    """``train --unlabelled`` on arrays: the model in ``teacher_dir`` labels ``data``'s ``unused`` rows; those at
    least ``threshold`` sure join the train split. Returns the student's data and what happened (used, right:
    how many of them the teacher labelled correctly)."""
    from fashiontag.models import load_network
    from fashiontag.workflows.pseudo import confident_leaves, with_pseudo_labels

    teacher = load_network(teacher_dir).eval()
    idle = np.flatnonzero(data.labels["split"].to_numpy() == "unused")
    leaves, _, keep = confident_leaves(teacher, data.images[idle], threshold)
    rows = idle[keep]
    truth = data.labels["leaf"].to_numpy()[rows]
    chosen = [leaves[i] for i in np.flatnonzero(keep)]
    names = data.labels["item_id"].astype(str).to_numpy()[rows].tolist()
    right = int((np.array(chosen, dtype=object) == truth).sum())
    print(f"pseudo-labels: {len(rows)} of {len(idle)} idle photos at >= {threshold}, {right} right", flush=True)
    info = {"idle": int(len(idle)), "used": int(len(rows)), "right": right}
    return with_pseudo_labels(data, data.images[rows], names, chosen), info


def _write_split(folder: Path, labels: Any, root: str) -> None:
    """The split as an ``item_id,split`` file and the ``unused`` photos as a path list, so the CLI can train on
    exactly this bench's draw (``--split``, ``--unlabelled``)."""
    import pandas as pd

    folder.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame({"item_id": labels["item_id"].astype(str), "split": labels["split"]})
    table.to_csv(folder / "split.csv", index=False)
    for name, rows in (("unlabelled.txt", table["split"] == "unused"), ("pool.txt", table["split"] != "test")):
        paths = [f"{Path(root).resolve() / i}\n" for i in table.loc[rows, "item_id"]]
        (folder / name).write_text("".join(paths), encoding="utf-8")
        print(f"{folder / name}: {len(paths)} photos")
    print(f"{folder / 'split.csv'}: {table['split'].value_counts().to_dict()}")


def main() -> None:
    from fashiontag._threads import configure_threads
    from fashiontag.config import build_config, parse_overrides, updated
    from fashiontag.data.folders import resolve_taxonomy
    from fashiontag.data.splits import split_stratified
    from fashiontag.models import load_network
    from fashiontag.train import TrainConfig, fit, from_arrays, load_train_data

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data/clothing_photos/train")
    parser.add_argument("--out", type=Path, default=Path("runs/bench_shop"))
    parser.add_argument("--time-limit", default="5m")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument(
        "--test-input-size",
        type=int,
        default=None,
        help="score the network at this input size instead of its own (test photos letterboxed at "
        "--image-size); FixRes: random-resized-crop training shows items larger than the test letterbox does",
    )
    parser.add_argument("--name", default=None, help="run folder under OUT (default: budget_<time limit>)")
    parser.add_argument(
        "--labelled",
        type=int,
        default=None,
        help="train on this many random train photos (bench_shop's draw: seed 1 for 300)",
    )
    parser.add_argument("--labelled-seed", type=int, default=1)
    parser.add_argument(
        "--labelled-from",
        default=None,
        metavar="SETS_JSON:KEY",
        help="train on the item ids under KEY of bench_label_curve.py's sets.json",
    )
    parser.add_argument(
        "--pseudo",
        type=float,
        default=None,
        metavar="THRESHOLD",
        help="with --labelled/--labelled-from: pseudo-label the idle train photos (teacher, student)",
    )
    parser.add_argument("--pseudo-rounds", type=int, default=1, help="with --pseudo: each student labels again")
    parser.add_argument(
        "--score-only",
        action="store_true",
        help="score the model already in OUT/NAME (no training; the row's seconds is null)",
    )
    parser.add_argument(
        "--write-split",
        type=Path,
        default=None,
        metavar="DIR",
        help="write DIR/split.csv (this bench's split; with --labelled: the idle train photos "
        "'unused'), DIR/unlabelled.txt (the idle photos' paths) and DIR/pool.txt (every "
        "photo but the test ones: a zero-shot run's unlabelled photos) for a `fashiontag train "
        "--split ... --unlabelled ...` run, then exit",
    )
    parser.add_argument("overrides", nargs="*", help="key=value training settings")
    args = parser.parse_args()

    threads = configure_threads()
    base = build_config(
        TrainConfig,
        data=args.data,
        out=str(args.out / "all"),
        image_size=args.image_size,
        progress_bar=False,
        batch_size=64,
        head_epochs=0,
        lr=2e-3,
        backbone_lr_scale=0.5,
        warmup_epochs=0.2,
        label_smoothing=0.1,
        augment="photo",
    )
    data = load_train_data(base, resolve_taxonomy("auto", "auto", args.data))
    split = split_stratified(data.labels, seed=0, val_fraction=0.1, test_fraction=0.2).set_index("item_id")["split"]
    labels = data.labels.assign(split=data.labels["item_id"].map(split).to_numpy())
    test_rows = np.flatnonzero(labels["split"].to_numpy() == "test")
    if args.labelled or args.labelled_from:  # the other train photos sit idle, as in bench_shop.py's label curve
        train_rows = np.flatnonzero(labels["split"].to_numpy() == "train")
        if args.labelled_from:
            sets, _, key = args.labelled_from.rpartition(":")
            wanted = set(json.loads(Path(sets).read_text(encoding="utf-8"))[key])
            keep = train_rows[labels["item_id"].astype(str).iloc[train_rows].isin(wanted).to_numpy()]
            if len(keep) != len(wanted):
                parser.error(f"{args.labelled_from}: {len(wanted) - len(keep)} of its photos are not in the train part")
            args.labelled = len(keep)
        else:
            keep = np.random.default_rng(args.labelled_seed).choice(train_rows, size=args.labelled, replace=False)
        split_values = labels["split"].to_numpy().copy()
        split_values[np.setdiff1d(train_rows, keep)] = "unused"
        labels = labels.assign(split=split_values)
    elif args.pseudo is not None:
        parser.error("--pseudo needs --labelled or --labelled-from (the idle train photos are the unlabelled ones)")
    if args.write_split:
        _write_split(args.write_split, labels, args.data)
        return
    classes = data.taxonomy.head_labels("class")
    targets = np.array([classes.index(leaf) for leaf in labels["leaf"].iloc[test_rows]])
    name = args.name or f"budget_{args.time_limit}" + (f"_{args.labelled}" if args.labelled else "")
    limit = None if args.time_limit == "none" else args.time_limit
    config = updated(base, out=str(args.out / name), time_limit=limit)
    for override in args.overrides:  # one at a time, spelled as on the command line
        config = updated(config, **parse_overrides([override]))
    start, pseudo = time.perf_counter(), None
    if args.score_only:
        model, seconds = Path(config.out) / "model", None
    else:
        train_data = from_arrays(data.images, labels, data.taxonomy)
        if args.pseudo is not None:  # as train --unlabelled --pseudo-rounds: teacher, then student(s)
            model = fit(updated(config, out=str(Path(config.out) / "teacher")), train_data)
            pseudo = {"threshold": args.pseudo, "rounds": []}
            for r in range(1, args.pseudo_rounds + 1):
                student_data, info = _pseudo_labelled(train_data, model, args.pseudo)
                pseudo["rounds"].append(info)
                last = r == args.pseudo_rounds
                model = fit(config if last else updated(config, out=str(Path(config.out) / f"round{r}")), student_data)
        else:
            model = fit(config, train_data)
        seconds = round(time.perf_counter() - start, 1)
    net = load_network(model).eval()
    if args.test_input_size:
        import dataclasses

        size = int(data.images.shape[1])
        net.preprocess = dataclasses.replace(net.preprocess, size=size, input_size=args.test_input_size)
    accuracy = scores(net, data.images[test_rows], targets, ("none", "flip", "multiscale"))
    plan = json.loads((model / "fashiontag.json").read_text())["training"].get("plan")
    result = {
        "name": name,
        "overrides": args.overrides,
        "labelled": args.labelled,
        "labelled_from": args.labelled_from,
        "pseudo": pseudo,
        "time_limit": args.time_limit,
        "seconds": seconds,
        "test": int(len(test_rows)),
        "test_input_size": args.test_input_size,
        "accuracy": round(accuracy["none"], 4),
        "accuracy_tta_flip": round(accuracy["flip"], 4),
        "accuracy_tta_multiscale": round(accuracy["multiscale"], 4),
        "threads": threads,
        "load": os.getloadavg()[0],
        "plan": plan,
    }
    print(json.dumps(result, indent=2))
    with open(args.out / "budget_results.jsonl", "a", encoding="utf-8") as handle:
        handle.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
