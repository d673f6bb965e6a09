import json

import pytest
from typer.testing import CliRunner

from fashiontag.artifact import read_sidecar


def test_cli_evaluate_and_compare(tiny_run):
    from fashiontag.cli.main import app

    root = tiny_run["root"]
    runner = CliRunner()
    for run in ("flat", "combined"):
        result = runner.invoke(
            app,
            [
                "evaluate",
                str(root / run),
                "--data",
                str(tiny_run["manifest"]),
                "--reader",
                "manifest",
                "--out",
                str(root / run / "eval"),
                "robustness_images=8",
                "corruptions=[gaussian_noise,blur]",
            ],
        )
        assert result.exit_code == 0, result.output
        assert "| group |" in result.output
    metrics = json.loads((root / "flat" / "eval" / "metrics.json").read_text())
    assert set(metrics["heads"]) == {"group", "type", "colour"}
    assert metrics["data"]["count"] == 24
    assert 0 <= metrics["hierarchy"]["full_path_accuracy"] <= 1
    assert [r["corruption"] for r in metrics["robustness"]][:2] == ["clean", "gaussian_noise"]
    html = (root / "flat" / "eval" / "report.html").read_text()
    for figure in ("figures/confusion_type.png", "figures/reliability.png", "figures/selective.png"):
        assert figure in html and (root / "flat" / "eval" / figure).exists()
    result = runner.invoke(app, ["compare", str(root / "flat"), str(root / "combined"), "--out", str(root / "cmp")])
    assert result.exit_code == 0, result.output
    text = (root / "cmp" / "compare.md").read_text()
    assert "Combined vs hierarchical" in text and "latency_ms" in text
    assert (root / "cmp" / "compare.png").exists() and (root / "cmp" / "compare.csv").exists()


def test_evaluate_model_fits_and_saves_calibration(tiny_run, tiny_items, tmp_path, caplog):
    from fashiontag.evaluate import EvaluateConfig, evaluate_model, summary_table
    from fashiontag.models._testing import make_tiny_model
    from fashiontag.review import NEVER

    make_tiny_model(tmp_path / "model", tiny_run["tax"])
    config = EvaluateConfig(
        calibrate_split="val",
        save_calibration=True,
        target_accuracy=0.9,
        robustness=False,
        review_heads=("group", "colour"),
    )
    metrics = evaluate_model(tmp_path / "model", tiny_items, "test", tmp_path / "out", config)
    sidecar = read_sidecar(tmp_path / "model")  # hashes still verify
    assert set(sidecar["thresholds"]) == {"group", "type", "colour"}
    assert sidecar["temperature"] == pytest.approx(metrics["calibration"]["temperature"])
    assert all(t > 0 for t in sidecar["temperature"].values())
    assert metrics["data"]["count"] == 16
    # 8 validation photos cannot show 90% accuracy at delta 0.1: every head refused, loudly, and recorded
    policy = sidecar["review_policy"]
    assert policy["review_heads"] == ["group", "colour"] and policy["delta"] == 0.1
    assert all(t == NEVER for t in sidecar["thresholds"].values())
    assert all("too small" in policy["heads"][h]["reason"] for h in ("group", "colour"))
    assert policy["heads"]["type"]["reason"] == "its parent level group is not auto-labelled"
    assert policy["heads"]["type"]["blocked_by"] == "group" and policy["heads"]["group"]["blocked_by"] is None
    assert len(metrics["calibration"]["warnings"]) == 3 and "not auto-labelled" in caplog.text
    review = metrics["hierarchy"]["review"]
    assert review["needs_review"] == 1.0 and review["per_head"]["group"]["auto_labelled"] == 0.0
    text = summary_table(metrics)
    assert text.startswith("Review policy") and "0.0% auto-labelled" in text and "warning: group" in text
    assert "calibration split too small" in (tmp_path / "out" / "report.html").read_text()


def test_domain_shift_accept_scoring(tiny_run, tiny_items, tmp_path):
    from fashiontag.evaluate import EvaluateConfig, evaluate_model

    items = tiny_items
    items["accept"] = [[g] for g in items["group"]]  # coarse labels: group only
    items["label"] = items["group"]
    items = items.drop(columns="split")
    for column in ("leaf", "group", "type", "colour"):
        items[column] = None
    metrics = evaluate_model(tiny_run["root"] / "flat", items, None, tmp_path / "out", EvaluateConfig(robustness=False))
    shift = metrics["domain_shift"]
    assert shift["count"] == 24 and {r["label"] for r in shift["per_class"]} == {"Tops", "Shoes"}
    assert 0 <= shift["accuracy"] <= 1 and not metrics["heads"]
    assert "Most confident mistakes" in (tmp_path / "out" / "report.html").read_text() or shift["accuracy"] == 1


def test_thresholds_record_their_tta_and_other_tta_warns(tiny_run, tiny_items, tmp_path):
    """Thresholds fitted under evaluate's tta are fitted on those probabilities and say so in the sidecar;
    `predict` with another tta (flip-averaged confidences are lower) warns, with the same tta it does not."""
    import pandas as pd

    from fashiontag.cli.main import app
    from fashiontag.evaluate import EvaluateConfig, evaluate_model
    from fashiontag.models._testing import make_tiny_model
    from fashiontag.review import threshold_tta_note

    make_tiny_model(tmp_path / "model", tiny_run["tax"])
    assert threshold_tta_note(read_sidecar(tmp_path / "model"), "flip") is None  # no thresholds yet: nothing to say
    config = EvaluateConfig(calibrate_split="val", save_calibration=True, robustness=False, tta="flip")
    evaluate_model(tmp_path / "model", tiny_items, "test", tmp_path / "out", config)
    sidecar = read_sidecar(tmp_path / "model")
    assert sidecar["review_policy"]["tta"] == "flip"
    assert threshold_tta_note(sidecar, "flip") is None
    assert "fitted with tta=flip, these labels use tta=none" in threshold_tta_note(sidecar, "none")
    photo = str(tiny_run["manifest"].parent / pd.read_csv(tiny_run["manifest"])["path"].iloc[0])
    for tta, warned in (("none", True), ("flip", False)):
        out = tmp_path / f"preds_{tta}.csv"
        result = CliRunner().invoke(app, ["predict", str(tmp_path / "model"), photo, "--out", str(out), "--tta", tta])
        assert result.exit_code == 0, result.output
        assert ("review thresholds were fitted with tta=flip" in result.output) is warned, result.output
        assert pd.read_csv(out)["error"].isna().all()
