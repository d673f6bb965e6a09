"""Image corruptions (a registry) and an accuracy-vs-severity sweep.

Each corruption maps uint8 ``[N, H, W, 3]`` images and a severity to new uint8 images of the same shape, so the
network sees exactly what inference would. Default severities go from mild to strong; severity 0 of every
corruption is the clean baseline row.

Example:
    >>> noisy = apply_corruption(images, "gaussian_noise", 0.1)  # doctest: +SKIP
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image, ImageFilter

from fashiontag.registry import Registry

Corruption = Callable[[np.ndarray, float, np.random.Generator], np.ndarray]
CORRUPTIONS: Registry[np.ndarray] = Registry("corruption")
#: Severities swept by default for each corruption.
DEFAULT_SEVERITIES: dict[str, tuple[float, ...]] = {}
_WHITE = (255, 255, 255)


def register_corruption(name: str, severities: tuple[float, ...]) -> Callable[[Corruption], Corruption]:
    def decorator(function: Corruption) -> Corruption:
        CORRUPTIONS.register(name)(function)
        DEFAULT_SEVERITIES[name] = severities
        return function

    return decorator


def list_corruptions() -> list[str]:
    return CORRUPTIONS.names()


def apply_corruption(images: np.ndarray, name: str, severity: float, seed: int = 0) -> np.ndarray:
    """Corrupt a uint8 NHWC batch (deterministic for a given seed)."""
    return CORRUPTIONS.get(name)(np.asarray(images, dtype=np.uint8), float(severity), np.random.default_rng(seed))


def _per_image(images: np.ndarray, function: Callable[[Image.Image], Image.Image]) -> np.ndarray:
    return np.stack([np.asarray(function(Image.fromarray(img)).convert("RGB"), dtype=np.uint8) for img in images])


@register_corruption("gaussian_noise", (0.05, 0.1, 0.2, 0.3))
def gaussian_noise(images: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Additive N(0, sigma) noise on the [0, 1] scale, clipped (seed 002's test used sigma 0.1)."""
    noisy = images / 255.0 + rng.normal(0.0, sigma, size=images.shape)
    return (np.clip(noisy, 0.0, 1.0) * 255.0).round().astype(np.uint8)


@register_corruption("blur", (0.5, 1.0, 2.0, 3.0))
def blur(images: np.ndarray, radius: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian blur with ``radius`` pixels."""
    return _per_image(images, lambda im: im.filter(ImageFilter.GaussianBlur(radius)))


@register_corruption("jpeg", (80, 50, 20, 10))
def jpeg(images: np.ndarray, quality: float, rng: np.random.Generator) -> np.ndarray:
    """Re-encode as JPEG at ``quality`` (lower is worse)."""

    def encode(im: Image.Image) -> Image.Image:
        buffer = io.BytesIO()
        im.save(buffer, format="JPEG", quality=int(quality))
        return Image.open(io.BytesIO(buffer.getvalue()))

    return _per_image(images, encode)


@register_corruption("brightness", (0.6, 0.8, 1.2, 1.4))
def brightness(images: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    """Multiply pixel values by ``factor``."""
    return np.clip(images * factor, 0, 255).round().astype(np.uint8)


@register_corruption("contrast", (0.4, 0.6, 0.8, 1.5))
def contrast(images: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    """Scale each image's deviation from its mean grey level by ``factor``."""
    mean = images.mean(axis=(1, 2, 3), keepdims=True)
    return np.clip(mean + (images - mean) * factor, 0, 255).round().astype(np.uint8)


@register_corruption("rotation", (5, 15, 30, 45))
def rotation(images: np.ndarray, degrees: float, rng: np.random.Generator) -> np.ndarray:
    """Rotate by ``degrees`` around the centre, filling with white like the letterbox."""
    return _per_image(images, lambda im: im.rotate(degrees, resample=Image.BILINEAR, fillcolor=_WHITE))


@register_corruption("crop", (0.9, 0.8, 0.7, 0.6))
def crop(images: np.ndarray, keep: float, rng: np.random.Generator) -> np.ndarray:
    """Central crop keeping ``keep`` of each side, resized back (the product is cut off)."""

    def cut(im: Image.Image) -> Image.Image:
        w, h = im.size
        cw, ch = max(1, round(w * keep)), max(1, round(h * keep))
        left, top = (w - cw) // 2, (h - ch) // 2
        return im.crop((left, top, left + cw, top + ch)).resize((w, h), Image.BILINEAR)

    return _per_image(images, cut)


@register_corruption("padding", (0.1, 0.2, 0.3, 0.5))
def padding(images: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """White border of ``fraction`` of the side on each edge, resized back (the product gets smaller)."""

    def pad(im: Image.Image) -> Image.Image:
        w, h = im.size
        pw, ph = round(w * fraction), round(h * fraction)
        canvas = Image.new("RGB", (w + 2 * pw, h + 2 * ph), _WHITE)
        canvas.paste(im, (pw, ph))
        return canvas.resize((w, h), Image.BILINEAR)

    return _per_image(images, pad)


def robustness_sweep(
    predict: Callable[[np.ndarray], dict[str, np.ndarray]],
    images: np.ndarray,
    targets: dict[str, np.ndarray],
    corruptions: list[str] | None = None,
    severities: dict[str, tuple[float, ...]] | None = None,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Accuracy per head for the clean images and each (corruption, severity); ``predict`` maps images to probs."""
    from fashiontag.evaluate.metrics import accuracy

    def score(batch: np.ndarray) -> dict[str, float]:
        probs = predict(batch)
        return {head: accuracy(probs[head], targets[head]) for head in targets if head in probs}

    from tqdm.auto import tqdm

    sweep = [
        (name, severity)
        for name in corruptions or list_corruptions()
        for severity in (severities or {}).get(name, DEFAULT_SEVERITIES[name])
    ]
    rows = [{"corruption": "clean", "severity": 0.0, "accuracy": score(images)}]
    # a person waits on it: 32 passes over the images, minutes for 224 px photos on 2 cores
    for name, severity in tqdm(sweep, desc="corruption sweep", unit="pass", mininterval=2, disable=len(sweep) < 2):
        corrupted = apply_corruption(images, name, severity, seed)
        rows.append({"corruption": name, "severity": float(severity), "accuracy": score(corrupted)})
    return rows
