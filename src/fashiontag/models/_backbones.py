"""Backbone registry: name -> feature extractor (``num_classes=0``) plus its eval defaults.

Every backbone returns a module mapping float NCHW images to ``[B, num_features]`` features.
timm backbones load ImageNet weights offline when asked (see :mod:`fashiontag.models._weights`).

Example:
    >>> module, num_features = create_backbone("smallcnn")
    >>> num_features
    128
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from fashiontag.registry import Registry

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
TF_MEAN = (0.5, 0.5, 0.5)
TF_STD = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class BackboneSpec:
    """A registered backbone: how to build it and the preprocessing its pretrained weights expect."""

    name: str
    build: Callable[[bool | str], nn.Module]
    input_size: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD


_BACKBONES: Registry[BackboneSpec] = Registry("backbone")


def register_backbone(
    name: str, input_size: int = 224, mean: tuple[float, float, float] = IMAGENET_MEAN,
    std: tuple[float, float, float] = IMAGENET_STD,
) -> Callable[[Callable[[bool | str], nn.Module]], Callable[[bool | str], nn.Module]]:
    """Register ``build(pretrained) -> module`` (the module has ``num_features``) under ``name``."""

    def decorator(build: Callable[[bool | str], nn.Module]) -> Callable[[bool | str], nn.Module]:
        spec = BackboneSpec(name, build, input_size, tuple(mean), tuple(std))  # type: ignore[arg-type]
        _BACKBONES.register(name)(lambda: spec)
        return build

    return decorator


def backbone_spec(name: str) -> BackboneSpec:
    """The registered spec of ``name``; unknown names list the closest valid ones."""
    return _BACKBONES.create(name)


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


class SmallCNN(nn.Module):
    """Seed 004's conv-pool-conv-pool-dense network, trained from scratch (fast tests, tiny data)."""

    def __init__(self, width: int = 32, num_features: int = 128) -> None:
        super().__init__()
        self.num_features = num_features
        self.features = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(inplace=True),
            nn.MaxPool2d(2), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.dense = nn.Sequential(nn.Linear(2 * width, num_features), nn.ReLU(inplace=True))

    def forward(self, x):  # noqa: ANN001, ANN201
        return self.dense(self.features(x))


@register_backbone("smallcnn", input_size=64)
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


for _name, _size, _mean, _std in [
    ("mobilenetv2_100", 224, IMAGENET_MEAN, IMAGENET_STD),
    ("tf_efficientnet_lite0", 224, TF_MEAN, TF_STD),
    ("tf_efficientnet_lite1", 240, TF_MEAN, TF_STD),
    ("tf_efficientnet_lite2", 260, TF_MEAN, TF_STD),
    ("efficientnet_b0", 224, IMAGENET_MEAN, IMAGENET_STD),
    ("resnet18", 224, IMAGENET_MEAN, IMAGENET_STD),
    ("resnet50", 224, IMAGENET_MEAN, IMAGENET_STD),
    ("convnext_tiny", 224, IMAGENET_MEAN, IMAGENET_STD),
]:
    register_backbone(_name, _size, _mean, _std)(_timm_backbone(_name))
