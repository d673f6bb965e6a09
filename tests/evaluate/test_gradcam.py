"""Grad-CAM overlays for the mistake gallery: target layer, heatmap range, report tiles, clean skipping."""

import json

import numpy as np
import pytest

pytest.importorskip("captum", reason="captum not installed")


@pytest.fixture(scope="module")
def tiny_net(tiny_run):
    import torch

    from fashiontag.artifact import Preprocess
    from fashiontag.models import create_network

    torch.manual_seed(0)
    return create_network(tiny_run["tax"], "smallcnn", "flat", Preprocess(40, 32)).eval()


def test_feature_layer_is_the_last_spatial_map(tiny_net):
    from fashiontag.evaluate._gradcam import feature_layer

    name, layer = feature_layer(tiny_net.backbone, 32)
    assert name == "features.7" and type(layer).__name__ == "MaxPool2d"  # smallcnn's last pool, before the 1x1 pool
    assert not tiny_net.training


def test_heatmap_shape_and_range(tiny_net):
    from fashiontag.evaluate._gradcam import gradcam, overlay

    images = np.random.default_rng(0).integers(0, 256, (5, 40, 40, 3), dtype=np.uint8)
    heat = gradcam(tiny_net, images, "type", [0, 1, 2, 0, 1], batch_size=2)
    assert heat.shape == (5, 40, 40) and heat.dtype == np.float32
    assert heat.min() >= 0.0 and heat.max() <= 1.0
    peaks = heat.reshape(5, -1).max(1)
    assert np.all((peaks == 0) | np.isclose(peaks, 1.0)) and (peaks > 0).any()
    assert all(p.grad is None for p in tiny_net.parameters())  # attributions leave no gradients behind
    blended = overlay(images[0], heat[0])
    assert blended.shape == (40, 40, 3) and blended.dtype == np.uint8


def test_gallery_html_has_overlays(tiny_run, tiny_items, tmp_path):
    from fashiontag.evaluate import EvaluateConfig, evaluate_model

    items = tiny_items
    metrics = evaluate_model(tiny_run["root"] / "flat", items, "test", tmp_path, EvaluateConfig(robustness=False))
    gradcam = metrics["gradcam"]
    assert gradcam["enabled"] and gradcam["layer"] == "features.7" and gradcam["count"] > 0
    html = (tmp_path / "report.html").read_text()
    assert html.count('class="cam"') == gradcam["count"] and "Grad-CAM of the predicted class" in html
    assert json.loads((tmp_path / "metrics.json").read_text())["gradcam"]["enabled"]
    off = evaluate_model(
        tiny_run["root"] / "flat", items, "test", tmp_path / "off", EvaluateConfig(robustness=False, gradcam=False)
    )
    assert off["gradcam"] is None and 'class="cam"' not in (tmp_path / "off" / "report.html").read_text()


def test_add_gradcam_skips_cleanly(tiny_net):
    from fashiontag.evaluate._gradcam import add_gradcam

    images = np.zeros((2, 40, 40, 3), np.uint8)
    gallery = [{"index": i, "class": 0, "head": "type", "uri": "data:"} for i in range(2)]
    onnx_only = add_gradcam(None, gallery, images)
    assert not onnx_only["enabled"] and "PyTorch" in onnx_only["note"]
    broken = [{**g, "head": "no_such_head"} for g in gallery]
    failing = add_gradcam(tiny_net, broken, images)
    assert not failing["enabled"] and failing["note"].startswith("Grad-CAM failed")
    assert all("cam" not in g for g in gallery + broken)
