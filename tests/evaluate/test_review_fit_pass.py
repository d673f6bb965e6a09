"""The review fit takes its temperatures and its thresholds' probabilities from one pass over the images."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from fashiontag.data.taxonomy import Taxonomy
from fashiontag.evaluate import run
from fashiontag.models import create_network, default_preprocess


@pytest.mark.parametrize("flip", [False, True])
def test_one_pass_fits_what_two_passes_fitted_with_fewer_forwards(
    taxonomy: Taxonomy, monkeypatch: pytest.MonkeyPatch, flip: bool
) -> None:
    """Same temperatures, and thresholds fitted on the same probabilities, as the two-pass fit (temperatures on
    plain logits, then the labelling network's probabilities), with one forward an image (two with the mirror
    images) instead of two (three): the passes after training are paid from a time limit."""
    import torch

    torch.manual_seed(0)
    pre = dataclasses.replace(default_preprocess("smallcnn", 32), flip=flip)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (96, 32, 32, 3), dtype=np.uint8)
    targets = {h: rng.integers(0, len(taxonomy.head_labels(h)), 96) for h in taxonomy.heads}
    config = run.EvaluateConfig(calibrate_split="val", batch_size=16)
    seen_probs: list[dict] = []
    fit_thresholds = run.hierarchy.fit_thresholds

    def recording(tax: Taxonomy, probs: dict, *args: object) -> dict:
        seen_probs.append(probs)
        return fit_thresholds(tax, probs, *args)

    monkeypatch.setattr(run.hierarchy, "fit_thresholds", recording)

    def fitted(one_pass: bool) -> tuple[dict, int]:
        torch.manual_seed(1)
        net = create_network(taxonomy, "smallcnn", "flat", pre).eval()
        seen = [0]
        forward = net.forward_logits

        def counting(x: torch.Tensor) -> dict:
            seen[0] += len(x)
            return forward(x)

        monkeypatch.setattr(net, "forward_logits", counting)
        monkeypatch.setattr(run, "_one_pass", lambda *args: one_pass)
        return run._fit_on(net, taxonomy, images, targets, config), seen[0]

    (one, one_forwards), (two, two_forwards) = fitted(True), fitted(False)
    assert one["temperature"] == pytest.approx(two["temperature"], rel=1e-4)
    assert any(abs(t - 1.0) > 1e-3 for t in one["temperature"].values())  # fitted, not left at 1
    for head in taxonomy.heads:  # the thresholds are fitted on the same probabilities
        np.testing.assert_allclose(seen_probs[0][head], seen_probs[1][head], atol=1e-5)
    assert one["thresholds"] == two["thresholds"]
    assert (one_forwards, two_forwards) == ((192, 288) if flip else (96, 192))


def test_one_pass_is_taken_by_a_single_network_without_test_time_augmentation(taxonomy: Taxonomy) -> None:
    """A cascade fits part by part and ``tta`` labels through other views, so both keep the two-pass fit."""
    from types import SimpleNamespace

    net = create_network(taxonomy, "smallcnn", "flat", default_preprocess("smallcnn", 32))
    plain, flipped = run.EvaluateConfig(), run.EvaluateConfig(tta="flip")
    cascade = SimpleNamespace(parts=lambda: {"router": net}, logits_with_mirror=net.logits_with_mirror)
    assert run._one_pass(net, plain) and not run._one_pass(net, flipped)
    assert not run._one_pass(cascade, plain)
