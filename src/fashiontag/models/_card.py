"""The model card: ``README.md`` in every model directory, like a Hugging Face model folder's.

Rendered from the sidecar alone (data, taxonomy, preprocessing, validation metrics, thresholds), so it says
what the model is without loading it; written by :func:`fashiontag.models.save_model` and again whenever
calibration changes the thresholds. It is documentation, not part of the model: not hashed, never read back.

Example:
    >>> print(model_card({"name": "demo", "strategy": "flat", "backbone": {"name": "smallcnn"},
    ...                   "heads": {"group": ["A", "B"]}, "taxonomy": {"name": "tiny", "levels": ["group"]},
    ...                   "preprocess": {"size": 32, "input_size": 32}}).splitlines()[0])
    # demo
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fashiontag._io import atomic_open
from fashiontag.artifact import training_settings

CARD_NAME = "README.md"

INTENDED_USE = (
    "Labelling product photos (one item per photo, on a plain background as in shop catalogues) over the "
    "taxonomy below, with a person checking every photo marked `needs_review`. A level is accepted only when "
    "its confidence meets its threshold, so the labels that are not reviewed are as accurate as the thresholds "
    "were fitted for; everything else stops at the coarser level the model is sure of."
)

LIMITS = [
    "Accuracy holds for photos like the training data; phone photos, models wearing the item, several items "
    "in one photo or other lighting shift it. Score a sample of your own photos with `fashiontag evaluate` "
    "before relying on it.",
    "Classes with few training images are learnt poorly (see the per-class table of the evaluation report).",
    "Thresholds are fitted on a validation split; with few validation images the stated accuracy of accepted "
    "labels is an estimate with wide error bars.",
    "`gender` and similar attributes describe the product's target group as labelled in the source catalogue, "
    "not the person in a photo; do not use the model to classify people.",
]


def _table(rows: list[tuple[Any, ...]], header: tuple[str, ...]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]


def _number(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else ("-" if value is None else str(value))


def _data_section(sidecar: dict[str, Any]) -> list[str]:
    training = training_settings(sidecar)  # nested or (older model directories) flat
    split = sidecar.get("split") or {}
    lines = ["## Data", ""]
    if training:
        lines.append(
            f"- dataset: `{training.get('root') or '-'}` (reader `{training.get('reader') or '-'}`, "
            f"mapping source `{training.get('source') or '-'}`)"
        )
        mode = "probe (frozen backbone, trained heads)" if training.get("probe") else training.get("mode", "full")
        lines.append(f"- training: {mode}, seed {training.get('seed', '-')}, run `{training.get('out', '-')}`")
    else:
        lines.append("- not recorded (saved without a training config)")
    if split:
        lines.append(f"- split file: `{split.get('path')}` (sha256 `{str(split.get('sha256', ''))[:12]}`)")
    if sidecar.get("init_from"):
        lines.append(f"- adapted from: `{(sidecar['init_from'] or {}).get('path', sidecar['init_from'])}`")
    return [*lines, ""]


def _taxonomy_section(sidecar: dict[str, Any]) -> list[str]:
    taxonomy = sidecar.get("taxonomy") or {}
    levels = list(taxonomy.get("levels") or [])
    heads = sidecar.get("heads") or {}
    rows = []
    for head, labels in heads.items():
        examples = ", ".join(label.split(" > ")[-1] for label in labels[:5]) + (", ..." if len(labels) > 5 else "")
        rows.append((head, "level" if head in levels else "attribute", len(labels), examples))
    lines = ["## Taxonomy", "", f"`{taxonomy.get('name', '-')}`: levels {' > '.join(levels) or '-'}.", ""]
    return [*lines, *_table(rows, ("head", "kind", "classes", "first labels")), ""]


def _metrics_section(sidecar: dict[str, Any]) -> list[str]:
    metrics = sidecar.get("metrics") or {}
    flat = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
    rows = [(h, _number(flat.get(f"acc_{h}")), _number(flat.get(f"f1_{h}"))) for h in sidecar.get("heads") or {}
            if f"acc_{h}" in flat or f"f1_{h}" in flat]  # fmt: skip
    lines = [
        "## Metrics",
        "",
        "On the validation split at training time (macro-F1 as in the evaluation report); "
        "held-out test scores: `fashiontag evaluate MODEL --split-file SPLIT`.",
        "",
    ]
    if not rows:
        nested = any(isinstance(v, dict) for v in metrics.values())  # a cascade: one entry per part
        return [*lines, "Per cascade part: `metrics` in fashiontag.json." if nested else "Not recorded.", ""]
    return [*lines, *_table(rows, ("head", "accuracy", "macro F1")), ""]


def _thresholds_section(sidecar: dict[str, Any]) -> list[str]:
    thresholds, temperature = sidecar.get("thresholds") or {}, sidecar.get("temperature") or {}
    lines = ["## Thresholds", ""]
    if not thresholds:
        return [
            *lines,
            "None fitted: every label is returned with its confidence and none is auto-accepted. "
            "Fit them with `fashiontag evaluate MODEL ... calibrate_split=val save_calibration=true`.",
            "",
        ]
    rows = [(h, _number(thresholds.get(h)), _number(temperature.get(h))) for h in sidecar.get("heads") or {}]
    return [
        *lines,
        "A label is accepted when its confidence is at least its threshold (and its parent level was accepted).",
        "",
        *_table(rows, ("head", "threshold", "temperature")),
        "",
    ]


def _adaptation_section(sidecar: dict[str, Any]) -> list[str]:
    adaptation = sidecar.get("adaptation")
    if not adaptation:
        return []
    return [
        "## Adaptation", "",
        f"BatchNorm statistics re-estimated ({adaptation.get('method', '-')}) on {adaptation.get('images', '-')} "
        f"unlabelled photos of the domain it labels, from the model `{adaptation.get('from', '-')}`. Its metrics "
        "(`adaptation.metrics_before` in fashiontag.json), temperature and thresholds were measured before "
        "adaptation: score it with `fashiontag evaluate` on labelled photos of that domain.", "",
    ]  # fmt: skip


def model_card(sidecar: dict[str, Any]) -> str:
    """The README.md text for a model directory with this sidecar."""
    backbone = (sidecar.get("backbone") or {}).get("name", "-")
    pre = sidecar.get("preprocess") or {}
    lines = [
        f"# {sidecar.get('name') or 'fashiontag model'}", "",
        f"A fashiontag photo tagger: `{backbone}` backbone, `{sidecar.get('strategy', '-')}` strategy; photos are "
        f"letterboxed to {pre.get('size', '-')} px and fed at {pre.get('input_size', '-')} px"
        f"{' together with their mirror image (labels are the mean of both)' if pre.get('flip') else ''} "
        f"(fashiontag {sidecar.get('fashiontag_version', '-')}).", "",
        "```bash", "fashiontag predict MODEL_DIR photos/ --out labels.csv   # or: fashiontag serve MODEL_DIR", "```",
        "", "## Intended use", "", INTENDED_USE, "",
        *_data_section(sidecar), *_taxonomy_section(sidecar), *_metrics_section(sidecar),
        *_adaptation_section(sidecar), *_thresholds_section(sidecar),
        "## Limits", "", *[f"- {limit}" for limit in LIMITS], "",
    ]  # fmt: skip
    return "\n".join(lines)


def write_model_card(model_dir: str | Path, sidecar: dict[str, Any]) -> Path:
    """Write (atomically) ``MODEL_DIR/README.md`` for ``sidecar``; returns its path."""
    path = Path(model_dir) / CARD_NAME
    with atomic_open(path, "w", encoding="utf-8") as handle:
        handle.write(model_card(sidecar))
    return path
