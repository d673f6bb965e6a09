"""One review rule everywhere: the torch and ONNX Labellers, evaluate's decoding and the fake predictor agree on
``accepted`` / ``needs_review``, and the review policy stored in the sidecar is what the Labeller applies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fashiontag.artifact import add_files
from fashiontag.data.images import letterbox, load_image
from fashiontag.evaluate import hierarchy
from fashiontag.infer import decode_batch, load
from fashiontag.review import decide
from fashiontag.serve._fake import FakePredictor


def _far_from_every_value(values: np.ndarray) -> float:
    """A threshold near the median but in the widest gap around it, so 1e-6 backend noise cannot flip a call."""
    ordered = np.unique(values)
    middle = len(ordered) // 2
    candidates = range(max(1, middle - 3), min(len(ordered), middle + 4))
    best = max(candidates, key=lambda i: ordered[i] - ordered[i - 1])
    return float((ordered[best] + ordered[best - 1]) / 2)


@pytest.fixture()
def split_model(model_copy: Path, images: list[Path]) -> Path:
    """The tiny model with thresholds that accept about half of the photos for every head."""
    labeller = load(model_copy, backend="torch")
    decoded = decide(labeller.probabilities(_arrays(labeller, images)), labeller.taxonomy)
    thresholds = {
        head: _far_from_every_value(decoded.confidence[head][decoded.index[head] >= 0])
        for head in labeller.taxonomy.heads
    }
    add_files(model_copy, [], thresholds=thresholds)
    return model_copy


def _arrays(labeller, images: list[Path]) -> np.ndarray:
    size, fill = labeller.preprocess.size, labeller.preprocess.fill
    return np.stack([letterbox(load_image(path), size, fill) for path in images])


def _calls(results: list[dict]) -> list[tuple]:
    return [
        (
            r["needs_review"],
            r["level_reached"],
            tuple(r["uncertain_attributes"]),
            tuple((head, entry["id"], entry["accepted"]) for head, entry in r["labels"].items()),
        )
        for r in results
    ]


def test_torch_onnx_and_evaluate_make_the_same_calls(split_model: Path, images: list[Path]) -> None:
    torch_labeller, onnx_labeller = load(split_model, backend="torch"), load(split_model, backend="onnx")
    torch_results, onnx_results = torch_labeller.predict(images), onnx_labeller.predict(images)
    assert _calls(torch_results) == _calls(onnx_results)
    flags = [r["needs_review"] for r in torch_results]
    assert any(flags) and not all(flags)  # the thresholds really split the photos
    # evaluate scores what the Labeller decides: same accepted levels from the same probabilities
    tax = torch_labeller.taxonomy
    probs = torch_labeller.probabilities(_arrays(torch_labeller, images))
    accepted = hierarchy.accepted_levels(tax, hierarchy.decode_top_down(tax, probs), torch_labeller.thresholds)
    for row, result in zip(accepted, torch_results, strict=True):
        assert [bool(result["labels"].get(level, {}).get("accepted", False)) for level in tax.levels] == row.tolist()


def test_attributes_do_not_set_needs_review_unless_they_are_review_heads(split_model: Path, images: list[Path]) -> None:
    default = load(split_model, backend="onnx").predict(images)
    uncertain_colour = [r for r in default if r["uncertain_attributes"] == ["colour"]]
    assert uncertain_colour and any(not r["needs_review"] for r in uncertain_colour)
    for result in default:
        levels_ok = all(e["accepted"] for h, e in result["labels"].items() if h != "colour")
        assert result["needs_review"] is (not levels_ok)
    # the review heads stored in the sidecar (as evaluate's save_calibration writes them) are honoured
    add_files(split_model, [], review_policy={"review_heads": ["group", "type", "colour"]})
    strict = load(split_model, backend="onnx")
    assert strict.review_heads == ("group", "type", "colour")
    for result in strict.predict(images):
        assert result["needs_review"] is (not all(e["accepted"] for e in result["labels"].values()))
    assert load(split_model, backend="onnx", review_heads=["group"]).review_heads == ("group",)


@pytest.mark.parametrize("review_heads", [None, ["group", "colour"]])
def test_fake_predictor_applies_the_labellers_rule(taxonomy, review_heads) -> None:
    fake = FakePredictor(taxonomy, threshold=0.7, review_heads=review_heads)
    fake.load()
    photos = [bytes([i]) * (i + 1) for i in range(40)]
    results = fake.predict(photos)
    for data, result in zip(photos, results, strict=True):
        expected = decode_batch(fake.probabilities(data), taxonomy, fake.thresholds, 3, review_heads)[0]
        assert _calls([result]) == _calls([expected])
        decision = decide(fake.probabilities(data), taxonomy, fake.thresholds, review_heads)
        assert result["needs_review"] == bool(decision.needs_review[0])
    assert {r["needs_review"] for r in results} == {True, False}
