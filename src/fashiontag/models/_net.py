"""TaggerNet: uint8 NHWC images in, per-head probabilities out (preprocessing inside the network).

Putting resize and normalisation inside the network means torch, ONNX and the service all feed the same
letterboxed uint8 pixels, so there is one preprocessing path to get right.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fashiontag.artifact import Preprocess
from fashiontag.data.taxonomy import Taxonomy
from fashiontag.models._backbones import backbone_spec, create_backbone
from fashiontag.models._strategies import create_strategy, strategy_factory
from fashiontag.registry import UnknownNameError, unknown_name_message


def default_preprocess(backbone: str, size: int | None = None, input_size: int | None = None) -> Preprocess:
    """Letterbox ``size`` (default: ``input_size``) and the backbone's own input size and mean/std."""
    spec = backbone_spec(backbone)
    input_size = input_size or spec.input_size
    return Preprocess(size or input_size, input_size, 255, spec.mean, spec.std)


def resize_images(images: Tensor, size: int, input_size: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """uint8 ``[B,S,S,3]`` (S = ``size``) -> float ``[0,1]`` ``[B,3,I,I]`` (I = ``input_size``): the first half of
    :func:`images_to_input`, where training augments (colour jitter etc. expect [0,1] pixels)."""
    x = images.permute(0, 3, 1, 2).to(dtype) / 255.0
    if size != input_size:
        x = F.interpolate(x, size=(input_size, input_size), mode="bilinear", align_corners=False, antialias=False)
    return x


def normalise_input(x: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    """Float ``[0,1]`` NCHW -> the backbone's normalised input (channels_last memory): the second half."""
    return ((x - mean) / std).contiguous(memory_format=torch.channels_last)


def images_to_input(images: Tensor, preprocess: Preprocess, mean: Tensor, std: Tensor) -> Tensor:
    """uint8 ``[B,S,S,3]`` -> float normalised ``[B,3,I,I]`` (channels_last memory, ONNX-exportable).

    The one preprocessing: export, inference and evaluation call it whole; training calls its two halves
    (:func:`resize_images`, then augmentation, then :func:`normalise_input`).
    """
    return normalise_input(resize_images(images, preprocess.size, preprocess.input_size, mean.dtype), mean, std)


class TaggerNet(nn.Module):
    """Backbone + strategy head.

    Example:
        >>> net = create_network(load_taxonomy("slowfashion"), "smallcnn")  # doctest: +SKIP
        >>> probs = net(torch.zeros(2, 64, 64, 3, dtype=torch.uint8))       # doctest: +SKIP
    """

    def __init__(
        self,
        taxonomy: Taxonomy,
        backbone: str,
        strategy: str,
        preprocess: Preprocess,
        pretrained: bool | str = False,
        **strategy_options: Any,
    ) -> None:
        super().__init__()
        self.taxonomy = taxonomy
        self.strategy = strategy
        self.strategy_options = dict(strategy_options)
        self.preprocess = preprocess
        self.heads = list(taxonomy.heads)
        self.backbone_name = backbone
        self.backbone, self.num_features = create_backbone(backbone, pretrained=pretrained)
        self.pretrained_source = getattr(self.backbone, "pretrained_source", None)
        self.head = create_strategy(strategy, taxonomy, self.num_features, **strategy_options)
        self.logit_heads = self.head.logit_heads()
        self.register_buffer("mean", torch.tensor(preprocess.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(preprocess.std).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("temperature", torch.ones(len(self.logit_heads)), persistent=False)

    def to_input(self, images: Tensor) -> Tensor:
        return images_to_input(images, self.preprocess, self.mean, self.std)

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        """uint8 ``[B,S,S,3]`` -> ``{head: probabilities [B, n_labels]}`` in ``taxonomy.heads`` order; with
        ``preprocess.flip`` the mean over each image and its mirror image (one batch of 2B)."""
        return self.labelling_probabilities(*self.logits_with_mirror(self.to_input(images)))

    def logits_with_mirror(self, x: Tensor) -> tuple[dict[str, Tensor], dict[str, Tensor] | None]:
        """Raw logits of normalised ``x`` and, with ``preprocess.flip``, of its mirror images (one batch of 2B;
        ``None`` without the flip): the review fit takes its temperatures from the first and its thresholds from
        :meth:`labelling_probabilities` of both, in one pass."""
        if not self.preprocess.flip:
            return self.forward_logits(x), None
        n = x.shape[0]
        both = self.forward_logits(torch.cat([x, x.flip(-1)]))
        return {h: v[:n] for h, v in both.items()}, {h: v[n:] for h, v in both.items()}

    def labelling_probabilities(
        self, plain: dict[str, Tensor], mirrored: dict[str, Tensor] | None = None
    ) -> dict[str, Tensor]:
        """The probabilities the network labels with, from :meth:`logits_with_mirror`'s halves (their mean)."""
        probs = self.probabilities(plain)
        if mirrored is None:
            return probs
        other = self.probabilities(mirrored)
        return {head: (p + other[head]) / 2 for head, p in probs.items()}

    def forward_features(self, x: Tensor) -> Tensor:
        return self.backbone(x)

    def forward_logits(self, x: Tensor) -> dict[str, Tensor]:
        """Float normalised NCHW -> raw logits per strategy head (``self.logit_heads``), for training."""
        return self.head(self.backbone(x))

    def probabilities(self, logits: dict[str, Tensor]) -> dict[str, Tensor]:
        """Temperature-scaled probabilities per taxonomy head from ``forward_logits`` output."""
        return self.head.probabilities(logits, self.temperature)

    def parts(self) -> dict[str, TaggerNet]:
        """Separately trained and saved sub-networks: none (a cascade has a router and specialists)."""
        return {}

    def part_dirs(self) -> dict[str, str]:
        return {}

    @property
    def primary(self) -> TaggerNet:
        """The network whose backbone stands for the whole (transfer, embeddings): this one."""
        return self

    def set_temperature(self, temperature: dict[str, float]) -> None:
        """Per logit head (``self.logit_heads``, e.g. flat: ``leaf`` + attributes); missing heads stay 1."""
        values = torch.ones(len(self.logit_heads))
        for name, value in temperature.items():
            if name not in self.logit_heads:
                raise UnknownNameError(unknown_name_message("temperature head", name, self.logit_heads))
            values[self.logit_heads.index(name)] = float(value)
        self.temperature.copy_(values)

    def get_temperature(self) -> dict[str, float]:
        return {h: float(t) for h, t in zip(self.logit_heads, self.temperature.tolist(), strict=True)}

    def sidecar_fields(self) -> dict[str, Any]:
        """The sidecar keys that rebuild this network: strategy, backbone, heads, preprocess, taxonomy."""
        return {
            "strategy": self.strategy,
            "strategy_options": dict(self.strategy_options),
            "backbone": {
                "name": self.backbone_name,
                "num_features": self.num_features,
                "pretrained": self.pretrained_source,
            },
            "taxonomy": self.taxonomy.to_dict(),
            "heads": {h: self.taxonomy.head_labels(h) for h in self.heads},
            "logit_heads": list(self.logit_heads),
            "preprocess": self.preprocess.to_dict(),
            "temperature": self.get_temperature(),
        }


def create_network(
    taxonomy: Taxonomy,
    backbone: str = "smallcnn",
    strategy: str = "flat",
    preprocess: Preprocess | None = None,
    pretrained: bool | str = False,
    **kw: Any,
) -> nn.Module:
    """Build a :class:`TaggerNet`, or what a strategy with ``build_network`` builds (``cascade``: a CascadeNet).

    Args:
        taxonomy: the label tree and attributes.
        backbone: a name from ``list_backbones()``.
        strategy: a name from ``list_strategies()``.
        preprocess: letterbox size / input size / mean / std; default from the backbone.
        pretrained: False, True (offline package weights, else timm hub) or a weights file path.
        **kw: strategy options (``dropout``; combined: ``attribute``; cascade: ``inner`` strategy).
    """
    preprocess = preprocess or default_preprocess(backbone)
    build_network = getattr(strategy_factory(strategy), "build_network", None)
    if build_network is not None:  # a strategy of several networks (cascade)
        return build_network(taxonomy, backbone, preprocess, pretrained, **kw)
    return TaggerNet(taxonomy, backbone, strategy, preprocess, pretrained, **kw)
