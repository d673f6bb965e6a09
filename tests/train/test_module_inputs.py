"""Training feeds the network through its own preprocessing (``images_to_input``), augmentation in between."""

from __future__ import annotations

import torch

from fashiontag.config import updated
from fashiontag.data.taxonomy import load_taxonomy
from fashiontag.models import create_network, default_preprocess, images_to_input
from fashiontag.train._config import TrainConfig
from fashiontag.train._module import TaggerModule, strategy_counts


def _module(augment: str, size: int, input_size: int) -> TaggerModule:
    net = create_network(
        load_taxonomy("slowfashion"), "smallcnn", preprocess=default_preprocess("smallcnn", size, input_size)
    )
    config = updated(TrainConfig(), augment=augment)
    return TaggerModule(net, config, strategy_counts(torch.zeros(4, len(net.logit_heads)).long().numpy(), net), 1)


def _batch(size: int) -> torch.Tensor:
    return torch.randint(0, 256, (4, size, size, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


def test_eval_and_unaugmented_training_inputs_equal_the_exported_preprocessing() -> None:
    for size, input_size in [(32, 32), (40, 32)]:  # with and without the in-graph resize
        module, batch = _module("none", size, input_size), _batch(size)
        expected = module.net.to_input(batch)
        for train in (False, True):
            x, mix = module._inputs(batch, train=train)
            assert mix is None and torch.equal(x, expected)
            assert x.is_contiguous(memory_format=torch.channels_last)


def test_augmentation_runs_on_unit_range_pixels_before_normalising() -> None:
    module, batch = _module("none", 32, 32), _batch(32)  # no resize, so flipping before or after is exact
    seen: list[torch.Tensor] = []

    class Mirror(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
            seen.append(x)
            return x.flip(-1), None

    module.augment = Mirror()
    x, _ = module._inputs(batch, train=True)
    assert 0.0 <= float(seen[0].min()) and float(seen[0].max()) <= 1.0  # colour jitter etc. expect [0, 1]
    pre = module.net.preprocess
    assert torch.equal(x, images_to_input(batch.flip(2), pre, module.net.mean, module.net.std))
