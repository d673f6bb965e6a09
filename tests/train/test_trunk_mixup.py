"""``mix_activations``: mixup on cached-trunk activations (the views are cached, so images cannot be mixed)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fashiontag.config import ConfigError, build_config
from fashiontag.data.taxonomy import Taxonomy
from fashiontag.models import create_network, default_preprocess, split_backbone
from fashiontag.train import TrainConfig
from fashiontag.train._trunk_module import TrunkModule, check_mix_activations


def _module(taxonomy: Taxonomy, alpha: float) -> tuple[TrunkModule, torch.Tensor]:
    """A cached-trunk module (lite0 cut -3) and the frozen part's activations of 8 random 32 px images."""
    from fashiontag.train._module import strategy_counts

    torch.manual_seed(0)
    net = create_network(taxonomy, "tf_efficientnet_lite0", "flat", default_preprocess("tf_efficientnet_lite0", 32))
    frozen, tail = split_backbone(net.backbone, -3)
    config = build_config(TrainConfig, mode="trunk", trunk_cut=-3, mix_activations=alpha)
    leaves = net.head.encode_targets(taxonomy.leaves, {"colour": ["Red"] * len(taxonomy.leaves)})
    targets = np.stack([leaves[h] for h in net.logit_heads], 1)
    module = TrunkModule(net, tail, frozen, config, strategy_counts(targets, net), steps_per_epoch=1)
    with torch.no_grad():
        acts = frozen.eval()(torch.rand(8, 3, 32, 32))
    return module.eval(), acts  # BatchNorm in eval: the same inputs give the same logits


def test_training_mixes_the_cached_activations_and_tells_the_loss(taxonomy: Taxonomy) -> None:
    """With an alpha, a training batch's activations are mixed with a permutation of themselves and the loss is
    given the permutation and weight (it mixes the two target sets); validation, and alpha 0, see them unmixed."""
    module, acts = _module(taxonomy, alpha=0.4)
    with torch.no_grad():
        mixed, (perm, lam) = module._logits(acts, train=True)
        inputs = lam * acts + (1 - lam) * acts[perm]
        want = module.net.head(module.trainable_backbone(inputs.contiguous(memory_format=torch.channels_last)))
        plain, no_mix = module._logits(acts, train=False)
    assert sorted(perm.tolist()) == list(range(8)) and 0.0 < lam < 1.0
    assert all(torch.allclose(mixed[h], want[h], atol=1e-5) for h in mixed)
    assert no_mix is None and not torch.allclose(plain["leaf"], mixed["leaf"], atol=1e-3)
    off, _ = _module(taxonomy, alpha=0.0)
    assert off._logits(acts, train=True)[1] is None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["mix_activations=-0.1"], "must be >= 0"),
        (["mix_activations=0.4", "mode=full"], "needs mode=trunk"),
        (["mix_activations=0.4", "probe=true"], "not probe"),
        (["mix_activations=0.4"], "not full"),  # auto without a time limit trains in full
        (["mix_activations=0.4", "mode=trunk", "teacher=runs/t/model"], "distillation teacher"),
    ],
)
def test_activation_mixup_is_refused_where_it_cannot_apply(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        check_mix_activations(build_config(TrainConfig, None, overrides))


def test_activation_mixup_is_accepted_for_trunk_and_planned_runs() -> None:
    check_mix_activations(build_config(TrainConfig, None, ["mix_activations=0.4", "mode=trunk"]))
    check_mix_activations(build_config(TrainConfig, None, ["mix_activations=0.4", "time_limit=10m"]))


def test_the_training_loss_mixes_the_two_target_sets_with_the_same_weight(taxonomy: Taxonomy) -> None:
    """``training_step`` on mixed activations: lam * loss(targets) + (1 - lam) * loss(permuted targets), per head."""
    import warnings

    module, acts = _module(taxonomy, alpha=0.4)
    targets = torch.tensor([[i % 4, i % 2] for i in range(8)])  # leaf, colour
    torch.manual_seed(3)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # self.log outside a Trainer
        loss = module.training_step((acts, targets, targets), 0)
    torch.manual_seed(3)
    with torch.no_grad():
        logits, (perm, lam) = module._logits(acts, train=True)
    ce = torch.nn.functional.cross_entropy
    want = sum(lam * ce(logits[h], targets[:, i]) + (1 - lam) * ce(logits[h], targets[perm, i]) for i, h in
               enumerate(module.net.logit_heads))  # fmt: skip
    assert torch.allclose(loss, want, atol=1e-5) and 0.0 < lam < 1.0
