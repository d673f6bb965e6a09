import shutil
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


def chromium_path() -> str | None:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    return found or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


def _metrics():
    from fashiontag.evaluate.metrics import head_metrics

    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(3), 30)
    targets = rng.integers(0, 3, 30)
    head = head_metrics(probs, targets, ["Tops > Tshirts", "Tops > Shirts", "Shoes > Heels"])
    return {
        "model": {"name": "demo", "strategy": "flat", "backbone": "smallcnn"},
        "data": {"source": "synthetic", "split": "test", "count": 30},
        "heads": {"type": head},
        "hierarchy": None,
        "robustness": [],
        "domain_shift": None,
        "calibration": None,
        "created": "now",
    }


def test_report_renders_offline_and_escapes(tmp_path):
    from fashiontag.evaluate.report import thumbnail_data_uri, write_report

    gallery = [
        {
            "uri": thumbnail_data_uri(np.zeros((40, 40, 3), np.uint8)),
            "item": "<x>",
            "true": "Tops > Shirts",
            "predicted": "Shoes > Heels",
            "confidence": 0.9,
            "head": "type",
        }
    ]
    path = write_report(tmp_path, _metrics(), {}, gallery, title="<script>t</script>")
    html = path.read_text()
    assert "<script>t</script>" not in html and "http://" not in html and "https://" not in html
    assert "data:image/png;base64," in html and "Heels" in html


def test_report_opens_in_chromium(tiny_run):
    executable = chromium_path()
    if executable is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium); Playwright never downloads one")
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright python package not installed")
    report = tiny_run["root"] / "shot" / "report.html"
    if not report.exists():
        from fashiontag.evaluate import EvaluateConfig, evaluate_model

        evaluate_model(
            tiny_run["root"] / "flat",
            _items_for(tiny_run),
            "test",
            report.parent,
            EvaluateConfig(robustness_images=8, corruptions=("gaussian_noise", "blur", "jpeg")),
        )
    args = [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-sync",
    ]
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=args)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(report.as_uri())
        page.wait_for_load_state("load")
        assert page.locator("h1").inner_text().startswith("fashiontag evaluation")
        broken = page.evaluate("Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).length")
        assert broken == 0
        shot = report.parent / "report.png"
        page.screenshot(path=str(shot), full_page=False)
        browser.close()
    assert shot.stat().st_size > 10_000


def _items_for(tiny_run):
    from fashiontag.data.mapping import map_items
    from fashiontag.data.readers import read_dataset

    return map_items(
        read_dataset("manifest", tiny_run["manifest"], hash_files=False).items, tiny_run["tax"], "manifest"
    ).mapped


def test_report_and_summary_lead_with_the_review_policy(tmp_path):
    from fashiontag.evaluate import summary_table
    from fashiontag.evaluate.report import write_report

    metrics = _metrics()
    per_head = {
        "group": {
            "threshold": 0.9,
            "photos": 30,
            "auto_labelled": 0.8,
            "accuracy": 0.991,
            "review_head": True,
            "target": 0.985,
        },
        "colour": {
            "threshold": 1.000001,
            "photos": 30,
            "auto_labelled": 0.0,
            "accuracy": None,
            "review_head": False,
            "target": 0.985,
        },
    }
    metrics["hierarchy"] = {
        "full_path_accuracy": 0.9,
        "per_level_accuracy": {"group": 0.95},
        "points": {"points": 27, "max_points": 30, "fraction": 0.9},
        "severity": {"mistakes": 3, "mean_hops": 2.0, "histogram": {"2": 3}},
        "review": {"review_heads": ["group"], "needs_review": 0.2, "per_head": per_head},
    }
    warning = "colour not auto-labelled: calibration split too small: 30 photos reach this head"
    metrics["calibration"] = {
        "split": "val",
        "count": 30,
        "delta": 0.1,
        "heads": ["group", "colour"],
        "temperature": {},
        "thresholds": {"group": 0.9, "colour": 1.000001},
        "warnings": [warning],
        "review_policy": {"heads": {"colour": {"reason": "too small"}}},
    }
    text = summary_table(metrics)
    assert text.splitlines()[0].startswith("Review policy: needs_review when group is not accepted")
    assert "group: 80.0% auto-labelled at 99.1% accuracy (target 98.5%)" in text
    assert "needs_review: 20.0% of 30 photos" in text and f"warning: {warning}" in text
    assert text.index("auto-labelled") < text.index("| head |")
    html = write_report(tmp_path, metrics, {}, []).read_text()
    assert "auto-labelled at <b>99.1%</b> accuracy" in html and warning in html
    assert html.index("Review policy") < html.index("Per-head metrics")
