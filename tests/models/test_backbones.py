"""Every registered backbone builds headless and feeds every strategy (tiny input, one forward)."""

import pytest
import torch

from fashiontag.artifact import Preprocess
from fashiontag.data.taxonomy import load_taxonomy
from fashiontag.models import create_backbone, create_network, list_backbones


@pytest.mark.parametrize("name", list_backbones())
def test_backbone_features(name):
    module, num_features = create_backbone(name)
    module.eval()
    with torch.no_grad():
        feats = module(torch.zeros(1, 3, 32, 32))
    assert feats.shape == (1, num_features)
    tax = load_taxonomy("shop")
    net = create_network(tax, name, "flat", Preprocess(32, 32)).eval()
    with torch.no_grad():
        probs = net(torch.zeros(1, 32, 32, 3, dtype=torch.uint8))
    assert list(probs) == tax.heads
