"""Grad-CAM overlays for the report's mistake gallery (captum ``LayerGradCam`` on the backbone's last feature map).

The explained score is the log-probability of the predicted class: tree heads are marginals of a softmax, so
``log p`` stands in for a logit. The target layer is found by running the backbone once and taking the last
module whose output is still a spatial map (timm: what ``forward_features`` ends with, e.g. efficientnet's
``bn2`` or resnet's ``layer4``; smallcnn: its last pooling). A cascade explains each image with the part that
produced its prediction: the routed group's specialist, or the router for the top level.

Example:
    >>> heat = gradcam(network, images, "articleType", classes)  # doctest: +SKIP
    >>> heat.shape, float(heat.min()), float(heat.max())  # doctest: +SKIP
    ((8, 80, 80), 0.0, 1.0)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


def feature_layer(backbone: Any, input_size: int) -> tuple[str, Any]:
    """``(name, module)``: the last module, in execution order, whose output is a 4-D map at least 2x2."""
    import torch

    shapes: list[tuple[str, Any, tuple[int, ...]]] = []

    def record(name: str) -> Any:
        return lambda module, _, out: shapes.append((name, module, tuple(out.shape))) if torch.is_tensor(out) else None

    hooks = [module.register_forward_hook(record(name)) for name, module in backbone.named_modules()]
    training = backbone.training
    try:
        parameter = next(backbone.parameters())
        probe = torch.zeros(1, 3, input_size, input_size, device=parameter.device, dtype=parameter.dtype)
        backbone.eval()
        with torch.no_grad():
            backbone(probe)
    finally:
        backbone.train(training)
        for hook in hooks:
            hook.remove()
    spatial = [(name, module) for name, module, shape in shapes if len(shape) == 4 and min(shape[-2:]) > 1]
    if not spatial:
        raise ValueError(f"{type(backbone).__name__} has no module with a spatial (4-D, >=2x2) output")
    return spatial[-1]


def gradcam(
    network: Any, images: np.ndarray, head: str, classes: Sequence[int], layer: Any = None, batch_size: int = 16
) -> np.ndarray:
    """Grad-CAM of ``classes`` on ``head`` for a :class:`TaggerNet` and uint8 NHWC ``images``.

    Args:
        network: a TaggerNet (``backbone``, ``to_input``, ``forward_logits``, ``probabilities``).
        images: letterboxed uint8 ``[N, S, S, 3]``, as the network takes them.
        head: the taxonomy head whose class is explained.
        classes: one class index per image, in ``head``'s label order.
        layer: the module to explain; default :func:`feature_layer` of the backbone.
        batch_size: images per backward pass.

    Returns:
        float32 ``[N, S, S]`` in ``[0, 1]`` (each map divided by its peak; all zeros where nothing is positive).

    Example:
        >>> heat = gradcam(load_network("runs/m1"), images[:4], "articleType", [3, 1, 0, 7])  # doctest: +SKIP
    """
    import torch
    from captum.attr import LayerAttribution, LayerGradCam

    if layer is None:
        _, layer = feature_layer(network.backbone, network.preprocess.input_size)

    def score(x: torch.Tensor) -> torch.Tensor:
        return network.probabilities(network.forward_logits(x))[head].clamp_min(1e-12).log()

    explainer = LayerGradCam(score, layer)
    device = next(network.parameters()).device
    maps = []
    with torch.enable_grad():
        for start in range(0, len(images), batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size])).to(device)
            target = torch.as_tensor(np.asarray(classes[start : start + batch_size], dtype=np.int64), device=device)
            attribution = explainer.attribute(network.to_input(batch), target=target, relu_attributions=True)
            attribution = LayerAttribution.interpolate(attribution, tuple(images.shape[1:3]), "bilinear")
            maps.append(attribution[:, 0].detach().float().cpu().numpy())
    heat = np.concatenate(maps) if maps else np.zeros((0, *images.shape[1:3]), np.float32)
    peak = heat.reshape(len(heat), -1).max(1, initial=0.0)[:, None, None]
    return np.clip(np.divide(heat, peak, out=np.zeros_like(heat), where=peak > 0), 0.0, 1.0).astype(np.float32)


def overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.45, colormap: str = "jet") -> np.ndarray:
    """Blend a ``[H, W]`` heatmap in ``[0, 1]`` (as ``colormap`` colours) over a uint8 ``[H, W, 3]`` image."""
    from matplotlib import colormaps

    colours = colormaps[colormap](np.clip(heat, 0.0, 1.0))[..., :3] * 255.0
    return np.clip((1.0 - alpha) * image.astype(np.float32) + alpha * colours, 0, 255).astype(np.uint8)


def _jobs(network: Any, images: np.ndarray, head: str, classes: np.ndarray) -> list[tuple[Any, str, np.ndarray, list]]:
    """``(part, head, rows, classes)`` per part that explains some images (one job for a plain network)."""
    parts = network.parts() if hasattr(network, "parts") else {}
    if not parts:
        return [(network, head, np.arange(len(images)), list(classes))]
    import torch

    taxonomy = network.taxonomy
    top = taxonomy.levels[0]
    with torch.inference_mode():
        routed = parts["router"](torch.from_numpy(np.ascontiguousarray(images)))[top].argmax(-1).numpy()
    groups = taxonomy.head_labels(top)
    jobs: dict[str, tuple[Any, str, list[int], list[int]]] = {}
    for row, (group, cls) in enumerate(zip(routed, classes, strict=True)):
        label = taxonomy.head_labels(head)[int(cls)]
        part = parts.get(groups[group])
        if part is not None and head in part.heads and label in part.taxonomy.head_labels(head):
            key, own = groups[group], (part, head, part.taxonomy.head_labels(head).index(label))
        else:  # top-level prediction, or a group without a specialist: the router made the call
            key, own = "router", (parts["router"], top, int(group))
        job = jobs.setdefault(key, (own[0], own[1], [], []))
        job[2].append(row)
        job[3].append(own[2])
    return [(part, h, np.asarray(rows), cls) for part, h, rows, cls in jobs.values()]


def add_gradcam(network: Any, gallery: list[dict[str, Any]], images: np.ndarray) -> dict[str, Any]:
    """Set ``cam`` (a data-URI overlay) on each gallery tile; returns ``{enabled, count, layer, note}``.

    Tiles need ``index`` (row of ``images``), ``head`` and ``class`` (predicted index). Never raises: an
    ONNX-only model or a failure leaves the gallery as it was and says why in ``note``.
    """
    from fashiontag.evaluate.report import thumbnail_data_uri

    if not gallery:
        return {"enabled": False, "count": 0, "layer": None, "note": "no mistakes to explain"}
    if network is None or not (hasattr(network, "forward_logits") and hasattr(network, "preprocess")):
        return {"enabled": False, "count": 0, "layer": None, "note": "Grad-CAM needs the PyTorch network"}
    try:
        rows = np.asarray([g["index"] for g in gallery])
        classes = np.asarray([g["class"] for g in gallery])
        layers = set()
        for part, head, own, cls in _jobs(network, images[rows], gallery[0]["head"], classes):
            name, layer = feature_layer(part.backbone, part.preprocess.input_size)
            layers.add(name)
            heat = gradcam(part, images[rows[own]], head, cls, layer)
            for tile, image, h in zip((gallery[i] for i in own), images[rows[own]], heat, strict=True):
                tile["cam"] = thumbnail_data_uri(overlay(image, h))
    except Exception as exc:  # noqa: BLE001 - an optional picture must never cost the report
        log.warning("Grad-CAM skipped: %s: %s", type(exc).__name__, exc)
        for tile in gallery:
            tile.pop("cam", None)
        return {"enabled": False, "count": 0, "layer": None, "note": f"Grad-CAM failed: {type(exc).__name__}: {exc}"}
    return {"enabled": True, "count": len(gallery), "layer": ", ".join(sorted(layers)), "note": None}
