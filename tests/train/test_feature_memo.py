"""FeatureMemo: probe runs over the same images share backbone features, never stale ones."""

from __future__ import annotations

import numpy as np
import torch

from fashiontag.artifact import Preprocess
from fashiontag.data.taxonomy import load_taxonomy
from fashiontag.models import create_network
from fashiontag.train import FeatureMemo, _probe


def _net(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return create_network(load_taxonomy("slowfashion"), "smallcnn", "flat", Preprocess(32, 32)).eval()


def _counting(monkeypatch) -> list[int]:
    calls: list[int] = []
    real = _probe.extract_features

    def counted(net, images, batch_size=None):
        calls.append(len(images))
        return real(net, images, batch_size)

    monkeypatch.setattr(_probe, "extract_features", counted)
    return calls


def test_rows_match_direct_extraction_and_are_computed_once(monkeypatch) -> None:
    images = np.random.default_rng(0).integers(0, 256, (20, 32, 32, 3), dtype=np.uint8)
    net, memo, calls = _net(), FeatureMemo(), _counting(monkeypatch)
    first, second = memo.features(net, images, np.arange(0, 10)), memo.features(net, images, np.array([15, 3, 7]))
    assert calls == [20]  # every row once, then slices
    torch.testing.assert_close(first, _probe.extract_features(net, images[:10]))
    torch.testing.assert_close(second, _probe.extract_features(net, images[[15, 3, 7]]))


def test_other_weights_or_images_recompute(monkeypatch) -> None:
    images = np.random.default_rng(1).integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
    memo, calls = FeatureMemo(), _counting(monkeypatch)
    a = memo.features(_net(0), images, np.arange(8))
    b = memo.features(_net(1), images, np.arange(8))  # other backbone weights
    memo.features(_net(1), images.copy(), np.arange(8))  # other array
    assert calls == [8, 8, 8]
    assert not torch.allclose(a, b)
