"""Strategies, TaggerNet contract, save/load round trips, cascade routing."""

import pytest
import torch

from fashiontag.artifact import Preprocess, read_sidecar
from fashiontag.data.taxonomy import load_taxonomy
from fashiontag.models import (
    CascadeNet,
    create_network,
    list_backbones,
    list_strategies,
    load_network,
    save_model,
)
from fashiontag.models._testing import make_tiny_model
from fashiontag.registry import UnknownNameError

STRATEGIES = list_strategies()


def _images(n=6, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, size, size, 3), dtype=torch.uint8, generator=g)


def _check_consistent(tax, probs):
    assert list(probs) == tax.heads
    for head, p in probs.items():
        assert p.shape[1] == len(tax.head_labels(head))
        assert torch.all(p >= 0) and torch.all(p.sum(-1) <= 1 + 1e-5)
    for depth in range(1, len(tax.levels)):
        parent_labels = tax.head_labels(tax.levels[depth - 1])
        child = probs[tax.levels[depth]]
        for col, node in enumerate(tax.head_labels(tax.levels[depth])):
            parent = probs[tax.levels[depth - 1]][:, parent_labels.index(tax.nodes[node].parent)]
            assert torch.all(child[:, col] <= parent + 1e-5)


@pytest.mark.parametrize("taxonomy", ["shop", "fpi", "slowfashion", "retail4"])
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_strategies_give_consistent_marginals(taxonomy, strategy, tmp_path):
    tax = load_taxonomy(taxonomy)
    make_tiny_model(tmp_path / "m", tax, strategy)
    net = load_network(tmp_path / "m")
    with torch.no_grad():
        probs = net(_images())
    _check_consistent(tax, probs)
    top = probs[tax.levels[0]].sum(-1)
    assert torch.allclose(top, torch.ones_like(top), atol=1e-5)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_save_load_round_trip_is_exact(strategy, tmp_path):
    tax = load_taxonomy("shop")
    torch.manual_seed(0)
    net = create_network(tax, "smallcnn", strategy, Preprocess(40, 32)).eval()
    sidecar = save_model(net, tmp_path / "m", metrics={"val_macro_f1": 0.5})
    assert sidecar["metrics"] == {"val_macro_f1": 0.5}
    assert read_sidecar(tmp_path / "m")["strategy"] == strategy
    loaded = load_network(tmp_path / "m")
    x = _images(size=40)
    with torch.no_grad():
        a, b = net(x), loaded(x)
    for head in tax.heads:
        assert torch.equal(a[head], b[head])


def test_cascade_layout_and_routing(tmp_path):
    tax = load_taxonomy("shop")
    make_tiny_model(tmp_path / "c", tax, "cascade")
    sidecar = read_sidecar(tmp_path / "c")
    assert sidecar["parts"]["router"] == "router"
    assert set(sidecar["parts"]) == {"router", *[g for g in tax.nodes_at(0) if tax.children(g)]}
    net = load_network(tmp_path / "c")
    assert isinstance(net, CascadeNet)
    with torch.no_grad():
        probs = net(_images(8))
    groups = probs[tax.levels[0]]
    pick = groups.argmax(-1)
    top_labels = tax.head_labels(tax.levels[0])
    for row in range(8):  # deeper mass sits only under the routed group and sums to its probability
        level1 = probs[tax.levels[1]][row]
        labels = tax.head_labels(tax.levels[1])
        routed = [i for i, n in enumerate(labels) if tax.nodes[n].parent == top_labels[pick[row]]]
        assert torch.isclose(level1[routed].sum(), groups[row, pick[row]], atol=1e-5) or not routed
        assert torch.isclose(level1.sum(), level1[routed].sum(), atol=1e-6)


def test_combined_without_attributes_equals_flat_shape():
    tax = load_taxonomy("slowfashion")
    assert not tax.attributes
    net = create_network(tax, "smallcnn", "combined", Preprocess(32, 32))
    assert net.logit_heads == ["joint"] and net.head.joint.out_features == len(tax.leaves)


def test_combined_joint_labels_marginalise():
    tax = load_taxonomy("fpi")
    net = create_network(tax, "smallcnn", "combined", Preprocess(32, 32), attribute="gender")
    assert net.head.joint.out_features == len(tax.leaves) * len(tax.attributes["gender"])
    targets = net.head.encode_targets([tax.leaves[1], None], {a: ["Men", "Men"] for a in tax.attributes})
    assert targets["joint"][1] == -1 and targets["joint"][0] >= 0
    with pytest.raises(UnknownNameError, match="gender"):
        create_network(tax, "smallcnn", "combined", Preprocess(32, 32), attribute="gendr")


def test_temperature_scales_logits_and_survives_sidecar(tmp_path):
    tax = load_taxonomy("shop")
    net = create_network(tax, "smallcnn", "flat", Preprocess(32, 32)).eval()
    x = _images()
    with torch.no_grad():
        sharp = net(x)["type"].max(-1).values
        net.set_temperature({"leaf": 5.0})
        soft = net(x)["type"].max(-1).values
    assert torch.all(soft <= sharp + 1e-6)
    save_model(net, tmp_path / "m")
    assert load_network(tmp_path / "m").get_temperature()["leaf"] == 5.0
    with pytest.raises(UnknownNameError, match="leaf"):
        net.set_temperature({"lef": 1.0})


def test_unknown_names_suggest_closest():
    tax = load_taxonomy("shop")
    with pytest.raises(UnknownNameError, match="multihead"):
        create_network(tax, "smallcnn", "multihed")
    with pytest.raises(UnknownNameError, match="resnet18"):
        create_network(tax, "resnet19")


def test_forward_resizes_uint8_and_is_channels_last():
    tax = load_taxonomy("shop")
    net = create_network(tax, "smallcnn", "flat", Preprocess(48, 32))
    x = net.to_input(_images(size=48))
    assert x.shape == (6, 3, 32, 32) and x.is_contiguous(memory_format=torch.channels_last)
    assert set(list_backbones()) >= {"smallcnn", "tf_efficientnet_lite0", "mobilenetv2_100", "convnext_tiny"}


@pytest.mark.parametrize("strategy", ["flat", "cascade"])
def test_test_flip_averages_the_image_and_its_mirror_and_survives_save_load(strategy, tmp_path):
    """``Preprocess.flip``: the network's probabilities are the mean over the image and its mirror image; the
    flag is a model field (a hand edit of it is refused), and absent from sidecars that do not use it."""
    from fashiontag.artifact import ModelFileError

    tax = load_taxonomy("shop")
    torch.manual_seed(0)
    plain = create_network(tax, "smallcnn", strategy, Preprocess(40, 32)).eval()
    torch.manual_seed(0)
    flipped = create_network(tax, "smallcnn", strategy, Preprocess(40, 32, flip=True)).eval()
    save_model(plain, tmp_path / "plain")
    sidecar = read_sidecar(tmp_path / "plain")
    assert "flip" not in sidecar["preprocess"]  # off: older sidecars (and their digests) are unchanged
    if strategy == "flat":  # (a cascade's parts check their own sidecars)
        with pytest.raises(ModelFileError, match="preprocess"):
            load_network(tmp_path / "plain", sidecar={**sidecar, "preprocess": {**sidecar["preprocess"], "flip": True}})
    x = _images(size=40)
    with torch.no_grad():
        a, b, both = plain(x), plain(x.flip(2)), flipped(x)
    for head in tax.heads:
        assert torch.allclose(both[head], (a[head] + b[head]) / 2, atol=1e-6)
        assert not torch.allclose(both[head], a[head], atol=1e-4)  # the mirror image really changed something
    save_model(flipped, tmp_path / "flip")
    assert read_sidecar(tmp_path / "flip")["preprocess"]["flip"] is True
    assert "mirror image" in (tmp_path / "flip" / "README.md").read_text()  # the model card says how it labels
    assert "mirror image" not in (tmp_path / "plain" / "README.md").read_text()
    again = load_network(tmp_path / "flip")
    with torch.no_grad():
        for head, value in again(x).items():
            assert torch.equal(value, both[head])
