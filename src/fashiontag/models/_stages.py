"""A backbone as an ordered list of stages, so training can freeze and cache the early ones.

Cached-trunk fine-tuning runs the frozen first stages once per image (and view) and trains only the last
stages and the heads; that needs the backbone cut into pieces whose composition is exactly its forward.
Each architecture family registers how it is cut (by class name, the way timm groups its models).

Example:
    >>> module, _ = create_backbone("smallcnn")
    >>> len(backbone_stages(module))
    2
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from fashiontag.registry import Registry

_CUTTERS: Registry[list[nn.Module]] = Registry("backbone family (cached-trunk stages)")


def _efficientnet(model: nn.Module) -> list[nn.Module]:
    """timm EfficientNet / MobileNetV2 / EfficientNet-Lite: stem, each block stage, then the head conv."""
    stem = nn.Sequential(model.conv_stem, model.bn1)
    head = nn.Sequential(model.conv_head, model.bn2, model.global_pool, nn.Flatten(1))
    return [stem, *model.blocks, head]


def _resnet(model: nn.Module) -> list[nn.Module]:
    stem = nn.Sequential(model.conv1, model.bn1, model.act1, model.maxpool)
    return [stem, model.layer1, model.layer2, model.layer3, model.layer4, nn.Sequential(model.global_pool)]


def _smallcnn(model: nn.Module) -> list[nn.Module]:
    return [model.features, model.dense]


for _family, _cut in {"EfficientNet": _efficientnet, "ResNet": _resnet, "SmallCNN": _smallcnn}.items():
    _CUTTERS.register(_family)(lambda cut=_cut: cut)


def backbone_stages(backbone: nn.Module) -> list[nn.Module]:
    """The backbone's stages in order; applying them in turn equals ``backbone(x)`` (pooled features).

    The stages share parameters with ``backbone`` (no copies), so training the last stages trains it.
    Unknown families fail with the list of families that can be cut.
    """
    cutter: Callable[[nn.Module], list[nn.Module]] = _CUTTERS.create(type(backbone).__name__)
    return cutter(backbone)


def split_backbone(backbone: nn.Module, cut: int) -> tuple[nn.Sequential, nn.Sequential]:
    """``(frozen trunk, trainable tail)`` at stage index ``cut`` (negative: counted from the end).

    Example: ``cut=-3`` on EfficientNet-Lite0 freezes the stem and blocks 0-4 and trains blocks 5-6 and the
    head conv. At least one stage must stay on each side.
    """
    stages = backbone_stages(backbone)
    index = cut if cut >= 0 else len(stages) + cut
    if not 0 < index < len(stages):
        raise ValueError(
            f"trunk_cut={cut} leaves no stage on one side; this backbone has {len(stages)} stages, "
            f"so use 1..{len(stages) - 1} or -1..-{len(stages) - 1}"
        )
    return nn.Sequential(*stages[:index]), nn.Sequential(*stages[index:])


def list_cuttable_families() -> list[str]:
    return _CUTTERS.names()
