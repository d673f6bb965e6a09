"""Backbone registry: name -> feature extractor (``num_classes=0``) plus its eval defaults.

Every backbone returns a module mapping float NCHW images to ``[B, num_features]`` features.
timm backbones take their input size and mean/std from timm's pretrained config, and load ImageNet
weights offline when asked (see :mod:`fashiontag.models._weights`).

Example:
    >>> module, num_features = create_backbone("smallcnn")
    >>> num_features
    128
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from fashiontag.registry import Registry

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class BackboneSpec:
    """A registered backbone: how to build it and the preprocessing its pretrained weights expect.

    For a timm model (``timm_name``) leave ``input_size``/``mean``/``std`` unset: :func:`backbone_spec` fills
    them from timm's pretrained config, the values the weights were trained with (not a copied table).
    """

    name: str
    build: Callable[[bool | str], nn.Module]
    input_size: int | None = None
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    timm_name: str | None = None


_BACKBONES: Registry[BackboneSpec] = Registry("backbone")


def register_backbone(
    name: str,
    input_size: int | None = None,
    mean: tuple[float, float, float] | None = None,
    std: tuple[float, float, float] | None = None,
    timm_name: str | None = None,
) -> Callable[[Callable[[bool | str], nn.Module]], Callable[[bool | str], nn.Module]]:
    """Register ``build(pretrained) -> module`` (the module has ``num_features``) under ``name``.

    Without ``timm_name``, unset ``input_size``/``mean``/``std`` default to 224 px and ImageNet statistics.
    """

    def decorator(build: Callable[[bool | str], nn.Module]) -> Callable[[bool | str], nn.Module]:
        spec = BackboneSpec(name, build, input_size, _triple(mean), _triple(std), timm_name)
        _BACKBONES.register(name)(lambda: spec)
        return build

    return decorator


def _triple(values: tuple[float, ...] | None) -> tuple[float, float, float] | None:
    return None if values is None else tuple(float(v) for v in values)  # type: ignore[return-value]


@functools.cache
def _timm_data_config(timm_name: str) -> tuple[int, tuple[float, ...], tuple[float, ...]]:
    """``(input_size, mean, std)`` of timm's default pretrained config for ``timm_name`` (no download)."""
    import timm

    cfg = timm.get_pretrained_cfg(timm_name)
    if cfg is None:
        return 224, IMAGENET_MEAN, IMAGENET_STD
    return int(cfg.input_size[-1]), tuple(cfg.mean), tuple(cfg.std)


def backbone_spec(name: str) -> BackboneSpec:
    """The registered spec of ``name`` with input size and mean/std filled in; unknown names list the closest."""
    spec = _BACKBONES.create(name)
    if spec.timm_name is not None:
        size, mean, std = _timm_data_config(spec.timm_name)
    else:
        size, mean, std = 224, IMAGENET_MEAN, IMAGENET_STD
    return dataclasses.replace(
        spec, input_size=spec.input_size or size, mean=spec.mean or _triple(mean), std=spec.std or _triple(std)
    )


def create_backbone(name: str, pretrained: bool | str = False) -> tuple[nn.Module, int]:
    """Build backbone ``name`` as a feature extractor; returns ``(module, num_features)``.

    Args:
        name: a registered backbone (``list_backbones()``).
        pretrained: False (random init), True (offline package weights, else timm's hub), or a path to a
            ``.safetensors``/``.pth`` state dict.
    """
    module = backbone_spec(name).build(pretrained)
    return module, int(module.num_features)


def list_backbones() -> list[str]:
    return _BACKBONES.names()


def describe_backbones() -> list[dict[str, Any]]:
    """One row per backbone: name, input size, mean, std and where its pretrained weights come from offline
    (``weights``: the package or cache that holds them, None when only an explicit file or the hub would do)."""
    from fashiontag.models._weights import offline_weights_source

    rows = []
    for name in list_backbones():
        spec = backbone_spec(name)
        weights = offline_weights_source(spec.timm_name) if spec.timm_name else "none (trains from scratch)"
        rows.append({"name": name, "input_size": spec.input_size, "mean": list(spec.mean or ()),
                     "std": list(spec.std or ()), "timm": spec.timm_name, "weights": weights})  # fmt: skip
    return rows


class SmallCNN(nn.Module):
    """Seed 004's conv-pool-conv-pool-dense network, trained from scratch (fast tests, tiny data)."""

    def __init__(self, width: int = 32, num_features: int = 128) -> None:
        super().__init__()
        self.num_features = num_features
        self.features = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.dense = nn.Sequential(nn.Linear(2 * width, num_features), nn.ReLU(inplace=True))

    def forward(self, x):  # noqa: ANN001, ANN201
        return self.dense(self.features(x))


@register_backbone("smallcnn", input_size=64, mean=IMAGENET_MEAN, std=IMAGENET_STD)
def _smallcnn(pretrained: bool | str = False) -> nn.Module:
    if pretrained:
        raise ValueError("smallcnn has no pretrained weights; it trains from scratch (use pretrained=False)")
    return SmallCNN()


def _timm_backbone(timm_name: str) -> Callable[[bool | str], nn.Module]:
    def build(pretrained: bool | str = False) -> nn.Module:
        import timm

        from fashiontag.models._weights import load_pretrained_into

        model = timm.create_model(timm_name, pretrained=False, num_classes=0)
        if pretrained:
            load_pretrained_into(model, timm_name, pretrained)
        return model

    return build


for _name in (
    "mobilenetv2_100",
    "tf_efficientnet_lite0",
    "tf_efficientnet_lite1",
    "tf_efficientnet_lite2",
    "efficientnet_b0",
    "resnet18",
    "resnet50",
    "convnext_tiny",
):
    register_backbone(_name, timm_name=_name)(_timm_backbone(_name))
