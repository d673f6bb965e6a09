"""``network_predictor``: how many images a network is given per call."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch

from fashiontag.evaluate._predict import network_predictor


class _Recorder:
    """A fake network over uint8 NHWC batches that records each call's batch size (and doubles it inside when it
    labels mirror images too, as TaggerNet with ``preprocess.flip`` does)."""

    def __init__(self, flip: bool) -> None:
        self.preprocess, self.calls = SimpleNamespace(flip=flip), []

    def __call__(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        self.calls.append(len(batch) * (2 if self.preprocess.flip else 1))
        return {"class": batch.float().mean((1, 2, 3))[:, None]}


def test_a_flipping_network_gets_half_a_batch_so_each_forward_is_batch_size() -> None:
    images = np.arange(100 * 2 * 2 * 3, dtype=np.uint8).reshape(100, 2, 2, 3)
    plain, flipping = _Recorder(flip=False), _Recorder(flip=True)
    out_plain = network_predictor(plain, 64)(images)
    out_flip = network_predictor(flipping, 64)(images)
    assert plain.calls == [64, 36]  # forwards per call
    assert flipping.calls == [64, 64, 64, 8]  # 32 images a call, each with its mirror image: 64 per forward
    np.testing.assert_array_equal(out_plain["class"], out_flip["class"])  # the same probabilities, in order
