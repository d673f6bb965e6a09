"""The audit's outputs for people: an HTML page of suspect thumbnails, and the suspects as Label Studio tasks."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from fashiontag._io import atomic_open

if TYPE_CHECKING:
    from fashiontag.train import TrainData

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>fashiontag audit</title>
<style>
 body { font-family: system-ui, sans-serif; margin: 24px; color: #222; }
 .grid { display:grid; grid-template-columns:repeat(auto-fill,minmax(170px,1fr)); gap:12px; }
 .tile { border:1px solid #ddd; border-radius:6px; padding:6px; font-size:12px; word-break:break-all; }
 .tile img { width:100%; image-rendering:auto; } .given { color:#b00; } .sugg { color:#060; }
 .muted { color:#777; } table { border-collapse: collapse; } td, th { padding: 2px 10px; text-align:left; }
</style></head><body>
<h1>Catalogue audit</h1>
<p class="muted">{{ s["items"] }} items, out-of-fold probabilities from {{ s.folds }} folds; cleanlab self-confidence
ranking (lowest first) and prune-by-noise-rate flags. Click a file name to open the photo.</p>
<table><tr><th>head</th><th>labelled</th><th>flagged</th></tr>
{% for head, h in s.heads.items() %}<tr><td><a href="#{{ head }}">{{ head }}</a></td><td>{{ h.labelled }}</td>
<td>{{ h.flagged }} ({{ "%.1f"|format(100 * h.flagged_fraction) }}%)</td></tr>{% endfor %}</table>
{% for head, tiles in heads.items() %}
<h2 id="{{ head }}">{{ head }}: most suspect labels</h2>
<div class="grid">{% for t in tiles %}<div class="tile"><img src="{{ t.uri }}" alt="{{ t.name }}">
<div><a href="{{ t.href }}">{{ t.name }}</a></div><div class="given">given: {{ t.given }}</div>
<div class="sugg">suggested: {{ t.suggested }} ({{ "%.0f"|format(100 * t.suggested_confidence) }}%)</div>
<div class="muted">#{{ t.rank }} · quality {{ "%.3f"|format(t.quality) }}{% if t.issue %} · flagged{% endif %}</div>
</div>{% endfor %}</div>
{% endfor %}
<h2 id="duplicates">Duplicate groups with conflicting labels</h2>
{% for group, tiles in groups.items() %}<h3>{{ group }}</h3><div class="grid">{% for t in tiles %}
<div class="tile"><img src="{{ t.uri }}" alt="{{ t.name }}"><div><a href="{{ t.href }}">{{ t.name }}</a></div>
<div>{{ t.leaf }}</div></div>{% endfor %}</div>
{% else %}<p class="muted">none</p>{% endfor %}
</body></html>
"""


def _tile(data: TrainData, row: int, path: str) -> dict[str, Any]:
    from fashiontag.evaluate.report import thumbnail_data_uri

    return {"uri": thumbnail_data_uri(data.images[row], 160), "name": Path(path).name, "href": Path(path).as_uri()}


def write_page(
    path: Path, data: TrainData, ranking: pd.DataFrame, conflicts: pd.DataFrame, summary: dict[str, Any], per_head: int
) -> Path:
    """``audit.html``: per head the ``per_head`` most suspect items (thumbnail, linked file name, given vs
    suggested), then every conflicting duplicate group (capped at 100 groups)."""
    from jinja2 import Environment, select_autoescape

    row_of = {item: i for i, item in enumerate(data.labels["item_id"])}
    heads = {}
    for head, group in ranking.groupby("head", sort=False):
        heads[head] = [{**_tile(data, int(r.row), r.path), **r._asdict()} for r in group.head(per_head).itertuples()]
    groups: dict[str, list[dict[str, Any]]] = {}
    for name, group in list(conflicts.groupby("group", sort=False))[:100]:
        groups[name] = [{**_tile(data, row_of[r.item_id], r.path), "leaf": r.leaf} for r in group.itertuples()]
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    html = env.from_string(_PAGE).render(s=summary, heads=heads, groups=groups)
    with atomic_open(path, "w", encoding="utf-8") as handle:
        handle.write(html)
    return path


def _result(data: TrainData, probs: dict[str, np.ndarray], row: int) -> dict[str, Any]:
    """A Labeller-shaped result from out-of-fold probabilities: the deepest level's best node and its ancestors
    (a consistent path), each attribute's best value."""
    tax = data.taxonomy
    labels: dict[str, Any] = {}
    last = tax.levels[-1]
    node = tax.head_labels(last)[int(probs[last][row].argmax())]
    for depth, ancestor in enumerate(tax.ancestors(node)):
        level = tax.levels[depth]
        confidence = float(probs[level][row][tax.head_labels(level).index(ancestor)])
        labels[level] = {"label": tax.nodes[ancestor].name, "id": ancestor, "confidence": confidence}
    for attribute in tax.attributes:
        values = tax.head_labels(attribute)
        best = int(probs[attribute][row].argmax())
        labels[attribute] = {
            "label": values[best],
            "id": values[best],
            "confidence": float(probs[attribute][row][best]),
        }
    return {"labels": labels}


def suspects_tasks(
    data: TrainData, ranking: pd.DataFrame, probs: dict[str, np.ndarray], per_head: int, root: Path
) -> list[dict[str, Any]]:
    """Label Studio tasks for the flagged items (at most ``per_head`` per head), most suspect first, pre-annotated
    with the suggested labels; ``data`` carries the given leaf and why the item was flagged. Images are local-files
    URLs under ``root`` (Label Studio's ``LOCAL_FILES_DOCUMENT_ROOT``)."""
    from fashiontag.labelstudio import default_names, image_url, prediction_from_result

    names = default_names(data.taxonomy)
    flagged = ranking[ranking["issue"]].groupby("head", sort=False).head(per_head).sort_values("quality")
    tasks, seen = [], set()
    for r in flagged.itertuples():
        if r.item_id in seen:
            continue
        seen.add(r.item_id)
        prediction = prediction_from_result(_result(data, probs, int(r.row)), data.taxonomy, names, "fashiontag-audit")
        reasons = flagged[flagged["item_id"] == r.item_id]
        why = "; ".join(f"{x.head}: {x.given} -> {x.suggested}" for x in reasons.itertuples())
        task_data = {
            names.image_key: image_url(r.path, root=root),
            "path": r.path,
            "item_id": r.item_id,
            "given_leaf": data.labels["leaf"].iloc[int(r.row)],
            "audit": why,
        }
        tasks.append({"data": task_data, "predictions": [prediction]})
    return tasks
