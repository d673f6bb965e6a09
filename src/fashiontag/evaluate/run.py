"""``evaluate_model``: score a saved model on an evaluation set and write metrics.json, PNGs and report.html."""

from __future__ import annotations

import datetime as _dt
import json
import logging
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fashiontag._io import write_json
from fashiontag.artifact import ONNX_NAME, ONNX_NAMES, WEIGHTS_NAME, read_sidecar, resolve_preprocess
from fashiontag.data.targets import item_targets
from fashiontag.data.taxonomy import Taxonomy
from fashiontag.data.tta import with_tta
from fashiontag.evaluate import _plots, hierarchy
from fashiontag.evaluate._data import EvalSet, load_eval_set
from fashiontag.evaluate._gradcam import add_gradcam
from fashiontag.evaluate._headline import review_lines
from fashiontag.evaluate._predict import network_logits_mirrored, network_predictor
from fashiontag.evaluate.calibration import fit_network_temperature, save_calibration
from fashiontag.evaluate.metrics import head_metrics
from fashiontag.evaluate.report import thumbnail_data_uri, write_report
from fashiontag.evaluate.robustness import robustness_sweep
from fashiontag.evaluate.thresholds import METHOD
from fashiontag.review import DEFAULT_DELTA, DEFAULT_TARGET, SIDECAR_KEY, resolve_review_heads

LOG_NAMES = ("learning_curves.csv", "history.csv", "log.csv", "metrics.csv", "train_log.csv")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvaluateConfig:
    """Options of ``fashiontag evaluate`` (``key=value`` on the command line)."""

    split: str = "test"
    calibrate_split: str | None = None  # e.g. "val": fit temperatures + thresholds on it first
    # accuracy wanted among auto-labelled photos: one number for every head, or {head: target} (others 0.985)
    target_accuracy: float | dict[str, float] = DEFAULT_TARGET
    delta: float = DEFAULT_DELTA  # each head's threshold meets its target with probability >= 1 - delta
    review_heads: tuple[str, ...] | None = None  # heads whose rejection sets needs_review; None: every level
    save_calibration: bool = False  # write temperature, thresholds and review policy into the model's sidecar
    batch_size: int = 64
    top_k: int = 5
    bins: int = 15
    robustness: bool = True
    robustness_images: int = 128
    corruptions: tuple[str, ...] = ()  # empty: every registered corruption
    gallery_size: int = 24
    gradcam: bool = True  # Grad-CAM overlays on the gallery (needs the PyTorch network; skipped with a note)
    seed: int = 0
    tta: str = "none"  # test-time augmentation: none, flip or multiscale (fashiontag.data.tta, as predict --tta)


def model_info(model_dir: Path, sidecar: dict[str, Any]) -> dict[str, Any]:
    """Name, strategy, backbone, parameter count and weight-file size from the sidecar and safetensors header."""
    weights = model_dir / WEIGHTS_NAME
    files = [weights] if weights.exists() else list(model_dir.rglob("*.safetensors"))
    backbone = sidecar.get("backbone", {})
    return {
        "name": sidecar.get("name") or model_dir.name,
        "dir": str(model_dir),
        "strategy": sidecar.get("strategy"),
        "backbone": backbone.get("name") if isinstance(backbone, dict) else backbone,
        "parameters": sum(safetensors_parameters(f) for f in files),
        "file_bytes": sum(f.stat().st_size for f in files),
    }


def safetensors_parameters(path: Path) -> int:
    """Element count of every tensor, read from the JSON header only (no torch)."""
    with open(path, "rb") as handle:
        length = int.from_bytes(handle.read(8), "little")
        header = json.loads(handle.read(length))
    return int(sum(np.prod(t["shape"]) for k, t in header.items() if k != "__metadata__"))


def _fit_calibration(network: Any, tax: Taxonomy, val: EvalSet, config: EvaluateConfig) -> dict[str, Any]:
    return _fit_on(network, tax, val.images, item_targets(tax, val.items), config)


def _one_pass(network: Any, config: EvaluateConfig) -> bool:
    """Whether a review fit can take its temperatures' logits and its thresholds' probabilities from one pass over
    the images (their mirror images in it too, for a ``test_flip`` network): a single network (a cascade fits part
    by part) and no test-time augmentation on top, where two passes took two or three forwards an image."""
    single = not (hasattr(network, "parts") and network.parts()) and hasattr(network, "logits_with_mirror")
    return single and config.tta == "none"


def _fit_on(
    network: Any, tax: Taxonomy, images: np.ndarray, targets: dict[str, np.ndarray], config: EvaluateConfig
) -> dict[str, Any]:
    if _one_pass(network, config):  # one pass's logits serve both fits
        import torch

        plain, mirrored = network_logits_mirrored(network, images, config.batch_size)
        temperature = fit_network_temperature(network, images, targets, batch_size=config.batch_size, logits=plain)
        with torch.inference_mode():  # what the network labels with, at the fitted temperatures
            probs_t = network.labelling_probabilities(plain, mirrored)
        probs = {head: value.double().numpy() for head, value in probs_t.items()}
    else:
        temperature = fit_network_temperature(network, images, targets, batch_size=config.batch_size)
        # on the probabilities the labels will come with: evaluate's (and predict's) test-time augmentation
        probs = with_tta(network_predictor(network, config.batch_size), config.tta)(images)
    fits = hierarchy.fit_thresholds(tax, probs, targets, config.target_accuracy, config.delta)
    thresholds = {head: fit.threshold for head, fit in fits.items()}
    policy = {
        "review_heads": list(resolve_review_heads(tax, config.review_heads)),
        "target_accuracy": {head: fit.target for head, fit in fits.items()},
        "delta": config.delta,
        "method": METHOD,
        "tta": config.tta,
        "calibration": {"split": config.calibrate_split, "count": len(images)},
        "heads": {head: fit.to_dict() for head, fit in fits.items()},
    }
    return {
        "split": config.calibrate_split,
        "count": len(images),
        "target_accuracy": policy["target_accuracy"],
        "delta": config.delta,
        "temperature": temperature,
        "thresholds": thresholds,
        "review_policy": policy,
        "warnings": [f"{head} not auto-labelled: {fit.reason}" for head, fit in fits.items() if fit.refused],
        "heads": list(dict.fromkeys([*temperature, *thresholds])),
    }


def _domain_shift(tax: Taxonomy, probs: dict[str, np.ndarray], items: Any) -> tuple[dict[str, Any], np.ndarray]:
    decoded = hierarchy.decode_top_down(tax, probs)
    accepts = [a if isinstance(a, list) else None for a in items["accept"]]
    correct = hierarchy.accept_correct(tax, decoded, accepts)
    labels = items["label"].astype(str) if "label" in items else items["accept"].astype(str)
    per_class = [
        {
            "label": label,
            "count": int((labels == label).sum()),
            "accuracy": float(correct[(labels == label).to_numpy()].mean()),
        }
        for label in sorted(labels.unique())
    ]
    in_space, owner = hierarchy.label_space_correct(tax, probs, labels.tolist(), accepts)
    return {
        "count": int(len(correct)),
        "accuracy": float(correct.mean()) if len(correct) else float("nan"),
        "per_class": per_class,
        # the same images labelled within the target's own classes (a shop that only has these classes)
        "label_space_accuracy": float(in_space.mean()) if len(in_space) else float("nan"),
        "label_space_per_class": {
            label: float(in_space[(labels == label).to_numpy()].mean()) for label in sorted(labels.unique())
        },
        "label_space_mapping": owner,
    }, correct


def _gallery(
    images: np.ndarray,
    items: Any,
    labels: list[str],
    probs: np.ndarray,
    wrong: np.ndarray,
    truth: list[str],
    head: str,
    size: int,
) -> list[dict[str, Any]]:
    """The highest-confidence wrong predictions, as inline thumbnails."""
    confidence = probs.max(1)
    order = [i for i in np.argsort(-confidence, kind="stable") if wrong[i]][:size]
    ids = items["item_id"].astype(str).tolist() if "item_id" in items else [str(i) for i in range(len(items))]
    paths = items["path"].astype(str).tolist() if "path" in items else [""] * len(items)
    return [
        {
            "uri": thumbnail_data_uri(images[i]),
            "item": ids[i],
            "path": paths[i],  # the report shows the file name and links the file
            "true": truth[i],
            "predicted": labels[int(probs[i].argmax())],
            "confidence": float(confidence[i]),
            "head": head,
            "index": int(i),
            "class": int(probs[i].argmax()),
        }
        for i in order
    ]


def calibrate_saved_model(
    model_dir: str | Path, images: np.ndarray, targets: dict[str, np.ndarray], config: EvaluateConfig | None = None
) -> dict[str, Any]:
    """Fit a saved model's temperatures and Learn-then-Test thresholds on labelled ``images`` (uint8, letterboxed
    at the model's image size; ``targets``: per head label indices, -1 unknown) and save them in its sidecar.

    What ``train`` runs on its val split, so that a model is never written that accepts every label: without
    thresholds ``needs_review`` would never be set. ``config.calibrate_split`` only names the split in the record.
    """
    from fashiontag.models import load_network

    config = config or EvaluateConfig(calibrate_split="val")
    model_dir = Path(model_dir)
    sidecar = read_sidecar(model_dir)
    network = load_network(model_dir, sidecar)
    calibration = _fit_on(network, Taxonomy.from_dict(sidecar["taxonomy"]), images, targets, config)
    save_calibration(model_dir, calibration["thresholds"], calibration["temperature"], calibration["review_policy"])
    return calibration


def _calibrate(
    model_dir: Path, sidecar: dict[str, Any], network: Any, tax: Taxonomy, val: EvalSet, config: EvaluateConfig
) -> dict[str, Any]:
    """Fit temperatures (set on ``network``) and thresholds on ``val``; save them when asked."""
    calibration = _fit_calibration(network, tax, val, config)
    if config.save_calibration:
        save_calibration(model_dir, calibration["thresholds"], calibration["temperature"], calibration["review_policy"])
        calibration["note"] = _stale_onnx_note(model_dir, sidecar)
    return calibration


def _stale_onnx_note(model_dir: Path, sidecar: dict[str, Any]) -> str | None:
    """Exported graphs carry the temperatures of export time, so a new calibration needs a re-export."""
    dirs = [model_dir / sub for sub in (sidecar.get("parts") or {}).values()] or [model_dir]
    if not any(name in read_sidecar(d, verify=False)["files"] for d in dirs for name in ONNX_NAMES):
        return None
    note = f"{model_dir}: {ONNX_NAME} predates this calibration; re-run `fashiontag export {model_dir}`"
    log.warning(note)
    return note


def _learning_curves(model_dir: Path, figures_dir: Path) -> str | None:
    png = model_dir / "learning_curves.png"
    if png.exists():
        shutil.copyfile(png, figures_dir / "learning_curves.png")
        return "learning_curves.png"
    for name in LOG_NAMES:
        if (model_dir / name).exists():
            return _plots.learning_curve_plot(model_dir / name, figures_dir, "learning_curves.png")
    return None


def evaluate_model(
    model_dir: str | Path,
    data: Any,
    split: str | None = None,
    out_dir: str | Path = "eval",
    config: EvaluateConfig | None = None,
    reader: str | None = None,
    source: str | None = None,
    split_file: str | Path | None = None,
    calibration_data: Any = None,
) -> dict[str, Any]:
    """Score ``model_dir`` on ``data`` and write ``metrics.json``, ``figures/*.png`` and ``report.html``.

    Args:
        model_dir: a fashiontag model directory.
        data: an :class:`EvalSet`, a mapped item DataFrame, a training cache directory or a dataset path
            (read with ``reader`` and mapped with taxonomy source ``source``, default the reader name).
        split: which split to score (default ``config.split``), via ``split_file`` or a ``split`` column.
        out_dir: where the outputs go.
        config: :class:`EvaluateConfig`.
        calibration_data: data for ``config.calibrate_split`` (default: ``data``).

    Example:
        >>> metrics = evaluate_model("runs/m1", "data/fpi", out_dir="runs/m1/eval", reader="fpi")  # doctest: +SKIP
    """
    from fashiontag.models import load_network

    config = config or EvaluateConfig()
    split = split or config.split
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    figures_dir = out_dir / "figures"
    figures_dir.mkdir(parents=True, exist_ok=True)
    sidecar = read_sidecar(model_dir)
    tax = Taxonomy.from_dict(sidecar["taxonomy"])
    resolve_review_heads(tax, config.review_heads)  # a misspelt head fails now, not after the predictions
    hierarchy.resolve_targets(tax, config.target_accuracy)
    pre = resolve_preprocess(sidecar)
    log.info("evaluate: loading %s", model_dir)  # progress lines: the CLI shows fashiontag.* INFO on stderr
    network = load_network(model_dir, sidecar)
    load = dict(tax=tax, size=pre.size, fill=pre.fill, reader=reader, source=source, split_file=split_file)
    calibration = None
    if config.calibrate_split:
        val = load_eval_set(
            calibration_data if calibration_data is not None else data, split=config.calibrate_split, **load
        )
        log.info(
            "evaluate: fitting temperatures and thresholds on %d %s images", len(val.items), config.calibrate_split
        )
        calibration = _calibrate(model_dir, sidecar, network, tax, val, config)
    evalset = load_eval_set(data, split=split, **load)
    log.info(
        "evaluate: scoring %d %s images from %s (%d unreadable)",
        len(evalset.items),
        split,
        evalset.source,
        evalset.errors,
    )
    predict = with_tta(network_predictor(network, config.batch_size), config.tta)
    probs = predict(evalset.images)
    if config.robustness:
        log.info("evaluate: corruption sweep on up to %d images", config.robustness_images)
    metrics = _score(tax, evalset, probs, predict, config, calibration, sidecar)
    metrics.update(
        model=model_info(model_dir, sidecar),
        created=_dt.datetime.now().isoformat(timespec="seconds"),
        data={"source": evalset.source, "split": split, "count": len(evalset.items), "unreadable": evalset.errors},
        config=asdict(config),
    )
    log.info("evaluate: figures%s and report", " and Grad-CAM" if config.gradcam else "")
    figures, gallery = _figures(tax, evalset, probs, metrics, figures_dir, config.gallery_size)
    metrics["gradcam"] = add_gradcam(network, gallery, evalset.images) if config.gradcam else None
    figures["learning_curves"] = _learning_curves(model_dir, figures_dir)
    figures = {k: _prefix(v) for k, v in figures.items()}
    write_json(out_dir / "metrics.json", json_safe(metrics))
    write_report(out_dir, metrics, figures, gallery, title=f"fashiontag evaluation · {metrics['model']['name']}")
    return metrics


def json_safe(value: Any) -> Any:
    """NaN/inf become null so metrics.json is strict JSON (browsers' JSON.parse rejects NaN)."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _prefix(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _prefix(v) for k, v in value.items()}
    return f"figures/{value}" if value else value


def _score(
    tax: Taxonomy,
    evalset: EvalSet,
    probs: dict[str, np.ndarray],
    predict: Any,
    config: EvaluateConfig,
    calibration: dict[str, Any] | None,
    sidecar: dict[str, Any],
) -> dict[str, Any]:
    targets = item_targets(tax, evalset.items)
    metrics: dict[str, Any] = {
        "heads": {},
        "hierarchy": None,
        "robustness": [],
        "domain_shift": None,
        "calibration": calibration,
    }
    for head in tax.heads:
        if (targets[head] >= 0).any():
            metrics["heads"][head] = head_metrics(
                probs[head], targets[head], tax.head_labels(head), config.top_k, config.bins
            )
    if (targets[tax.levels[0]] >= 0).any():
        thresholds = (calibration or {}).get("thresholds") or sidecar.get("thresholds") or None
        policy = (calibration or {}).get("review_policy") or sidecar.get(SIDECAR_KEY) or {}
        review_heads = config.review_heads if config.review_heads is not None else policy.get("review_heads")
        leaves = [v if isinstance(v, str) else None for v in evalset.items.get("leaf", [None] * len(evalset.items))]
        metrics["hierarchy"] = hierarchy.hierarchy_metrics(tax, probs, targets, leaves, thresholds, review_heads)
        for head, row in (metrics["hierarchy"].get("review") or {}).get("per_head", {}).items():
            row["target"] = (policy.get("target_accuracy") or {}).get(head)
    if "accept" in evalset.items and evalset.items["accept"].map(lambda a: isinstance(a, list)).any():
        metrics["domain_shift"], _ = _domain_shift(tax, probs, evalset.items)
        metrics["domain_shift"]["source"] = evalset.source
    if config.robustness and metrics["heads"]:
        rng = np.random.default_rng(config.seed)
        n = min(config.robustness_images, len(evalset.images))
        pick = np.sort(rng.choice(len(evalset.images), n, replace=False))
        sub_targets = {h: targets[h][pick] for h in metrics["heads"]}
        metrics["robustness"] = robustness_sweep(
            predict, evalset.images[pick], sub_targets, list(config.corruptions) or None, seed=config.seed
        )
        metrics["robustness_images"] = int(n)
    return metrics


def _figures(
    tax: Taxonomy,
    evalset: EvalSet,
    probs: dict[str, np.ndarray],
    metrics: dict[str, Any],
    figures_dir: Path,
    gallery_size: int = 24,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    figures: dict[str, Any] = {"confusion": {}, "per_class": {}}
    for head, h in metrics["heads"].items():
        labels = tax.head_labels(head)
        figures["confusion"][head] = _plots.confusion_plot(h["confusion"], labels, figures_dir, f"confusion_{head}.png")
        figures["per_class"][head] = _plots.per_class_plot(h["per_class"], figures_dir, f"per_class_{head}.png")
    if metrics["heads"]:
        bins = {head: h["reliability"] for head, h in metrics["heads"].items()}
        figures["reliability"] = _plots.reliability_plot(bins, figures_dir, "reliability.png")
    if metrics["hierarchy"]:
        figures["selective"] = _plots.selective_plot(metrics["hierarchy"]["selective"], figures_dir, "selective.png")
    if metrics["robustness"]:
        head = next(h for h in reversed(tax.levels) if h in metrics["heads"])
        figures["robustness"] = _plots.robustness_plot(metrics["robustness"], head, figures_dir, "robustness.png")
    gallery: list[dict[str, Any]] = []
    level = next((lv for lv in reversed(tax.levels) if lv in metrics["heads"]), None)
    targets = item_targets(tax, evalset.items)
    if level is not None:
        labels = tax.head_labels(level)
        t = targets[level]
        wrong = (t >= 0) & (probs[level].argmax(1) != t)
        truth = [labels[i] if i >= 0 else "" for i in t]
        gallery = _gallery(evalset.images, evalset.items, labels, probs[level], wrong, truth, level, gallery_size)
    elif metrics["domain_shift"]:
        _, correct = _domain_shift(tax, probs, evalset.items)
        deepest = tax.levels[-1] if tax.levels[-1] in probs else tax.levels[0]
        labels = tax.head_labels(deepest)
        truth = [str(v) for v in evalset.items.get("label", evalset.items["accept"])]
        wrong = ~correct
        gallery = _gallery(evalset.images, evalset.items, labels, probs[deepest], wrong, truth, deepest, gallery_size)
    return figures, gallery


def summary_table(metrics: dict[str, Any]) -> str:
    """The review headline (:func:`review_lines`), then a markdown table of per-head numbers (what the CLI prints)."""
    lines = [*review_lines(metrics), "| head | images | accuracy | top-5 | macro F1 | mAP | ECE |"]
    lines.append("|---|---:|---:|---:|---:|---:|---:|")
    for head, h in metrics["heads"].items():
        lines.append(
            f"| {head} | {h['count']} | {h['accuracy']:.4f} | {h.get('top5_accuracy', float('nan')):.4f} | "
            f"{h['macro_f1']:.4f} | {h['mAP']:.4f} | {h['ece']:.4f} |"
        )
    if metrics.get("hierarchy"):
        hier = metrics["hierarchy"]
        lines.append(
            f"\nfull path accuracy {hier['full_path_accuracy']:.4f} · points {hier['points']['points']}/"
            f"{hier['points']['max_points']} · mean mistake hops {hier['severity']['mean_hops']:.2f}"
        )
    if metrics.get("domain_shift"):
        lines.append(
            f"\ndomain shift accuracy {metrics['domain_shift']['accuracy']:.4f} "
            f"(within the target's own classes: {metrics['domain_shift']['label_space_accuracy']:.4f}) "
            f"({metrics['domain_shift']['count']} images)"
        )
    return "\n".join(lines)
