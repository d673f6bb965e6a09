"""Augmentation presets, batched on the device with kornia (uint8 never leaves the GPU twice).

Each preset is ``(images_float01 NCHW, targets) -> (images, targets, mix)`` where ``mix`` is None or
``(permutation, lam)`` for mixup/cutmix (the loss mixes the two target sets).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from fashiontag.registry import Registry

AUGMENTS: Registry[nn.Module] = Registry("augmentation preset")


def create_augment(name: str) -> nn.Module:
    return AUGMENTS.create(name)


def list_augments() -> list[str]:
    return AUGMENTS.names()


class _Preset(nn.Module):
    def __init__(self, ops: list[nn.Module] | None = None, mix: str | None = None, alpha: float = 0.4) -> None:
        super().__init__()
        self.ops = nn.Sequential(*(ops or []))
        self.mix, self.alpha = mix, alpha

    def forward(self, images: Tensor) -> tuple[Tensor, Any]:
        images = self.ops(images) if len(self.ops) else images
        if self.mix is None or images.shape[0] < 2:
            return images, None
        if self.mix == "mixup":
            return mixup(images, self.alpha)
        lam = float(torch.distributions.Beta(self.alpha, self.alpha).sample())
        perm = torch.randperm(images.shape[0], device=images.device)
        h, w = images.shape[-2:]
        ch, cw = int(h * (1 - lam) ** 0.5), int(w * (1 - lam) ** 0.5)
        y, x = torch.randint(0, h - ch + 1, ()).item(), torch.randint(0, w - cw + 1, ()).item()
        images = images.clone()
        images[..., y : y + ch, x : x + cw] = images[perm][..., y : y + ch, x : x + cw]
        return images, (perm, 1 - ch * cw / (h * w))


def mixup(x: Tensor, alpha: float) -> tuple[Tensor, tuple[Tensor, float]]:
    """Mixup of a batch with a permutation of itself, ``lam ~ Beta(alpha, alpha)``: images here, cached-trunk
    activations in the trunk module (manifold mixup); the loss mixes the two target sets with ``(perm, lam)``."""
    lam = float(torch.distributions.Beta(alpha, alpha).sample())
    perm = torch.randperm(x.shape[0], device=x.device)
    return lam * x + (1 - lam) * x[perm], (perm, lam)


def _k() -> Any:
    import kornia.augmentation as K

    return K


def _preset(name: str) -> Callable[[Callable[[], nn.Module]], Callable[[], nn.Module]]:
    return AUGMENTS.register(name)


@_preset("none")
def _none() -> nn.Module:
    return _Preset()


@_preset("light")
def _light() -> nn.Module:
    K = _k()
    return _Preset(
        [
            K.RandomHorizontalFlip(),
            K.RandomAffine(degrees=5, translate=(0.05, 0.05), scale=(0.95, 1.05), padding_mode="border"),
        ]
    )


@_preset("strong")
def _strong() -> nn.Module:  # seed 000: flips, rotation, zoom, shifts, colour jitter
    K = _k()
    return _Preset(
        [
            K.RandomHorizontalFlip(),
            K.RandomAffine(degrees=15, translate=(0.1, 0.1), scale=(0.85, 1.15), padding_mode="border"),
            K.ColorJitter(0.2, 0.2, 0.2, 0.02, p=0.8),
            K.RandomGrayscale(p=0.05),
        ]
    )


@_preset("randaugment")
def _randaugment() -> nn.Module:
    K = _k()
    return _Preset([K.RandomHorizontalFlip(), K.auto.RandAugment(n=2, m=9)])


@_preset("trivialaugment")
def _trivial() -> nn.Module:
    K = _k()
    return _Preset([K.RandomHorizontalFlip(), K.auto.TrivialAugment()])


@_preset("mixup")
def _mixup() -> nn.Module:
    K = _k()
    return _Preset([K.RandomHorizontalFlip()], mix="mixup")


@_preset("cutmix")
def _cutmix() -> nn.Module:
    K = _k()
    return _Preset([K.RandomHorizontalFlip()], mix="cutmix", alpha=1.0)


class _ResizedCropSameSize(nn.Module):
    """kornia's RandomResizedCrop back to the batch's own size (known only at call time: input_size varies)."""

    def __init__(self, scale: tuple[float, float] = (0.5, 1.0), ratio: tuple[float, float] = (0.75, 4 / 3)) -> None:
        super().__init__()
        self.scale, self.ratio = scale, ratio
        self._crops: dict[tuple[int, int], nn.Module] = {}

    def forward(self, images: Tensor) -> Tensor:
        size = (int(images.shape[-2]), int(images.shape[-1]))
        if size not in self._crops:
            self._crops[size] = _k().RandomResizedCrop(size, scale=self.scale, ratio=self.ratio)
        return self._crops[size](images)


@_preset("photo")
def _photo() -> nn.Module:  # phone photos: framing, zoom, light and white balance vary far more than packshots
    K = _k()
    return _Preset(
        [
            K.RandomHorizontalFlip(),
            _ResizedCropSameSize(),
            K.RandomRotation(10.0, p=0.5),
            K.ColorJitter(0.3, 0.3, 0.3, 0.05, p=0.8),
            K.RandomGrayscale(p=0.05),
        ]
    )


class _SceneBackground(nn.Module):
    """Packshot -> photo: zoom the item out on its white backdrop, then paint the near-white backdrop with a
    random scene (smooth colour field plus texture noise and a light gradient).

    A model trained on white-background packshots meets beds, floors and hangers in a shop's photos; showing it
    the same items on varied backgrounds (domain randomisation) is the cheap half of closing that gap. The
    backdrop is found by colour (every channel above ``white``), so white garments lose some pixels to the
    scene, which is the price of not segmenting.
    """

    def __init__(
        self, p: float = 0.8, white: float = 0.92, zoom: tuple[float, float] = (0.55, 1.0), degrees: float = 10.0
    ) -> None:
        super().__init__()
        self.p, self.white, self.zoom, self.degrees = p, white, zoom, degrees

    def _zoom_out(self, images: Tensor) -> Tensor:
        """Each image shrunk by a random factor, turned a little and put onto a white canvas at a random place
        (items fill less of a phone photo's frame than of a packshot's, and are seldom square to it)."""
        import torch.nn.functional as F

        b, _, h, w = images.shape
        scale = torch.empty(b, device=images.device).uniform_(*self.zoom)
        shift = (1 - scale)[:, None] * torch.empty(b, 2, device=images.device).uniform_(-1, 1)
        angle = torch.empty(b, device=images.device).uniform_(-self.degrees, self.degrees).deg2rad()
        theta = torch.zeros(b, 2, 3, device=images.device)
        theta[:, 0, 0], theta[:, 0, 1] = angle.cos() / scale, -angle.sin() / scale
        theta[:, 1, 0], theta[:, 1, 1] = angle.sin() / scale, angle.cos() / scale
        theta[:, :, 2] = -shift / scale[:, None]
        grid = F.affine_grid(theta, [b, 3, h, w], align_corners=False)
        return F.grid_sample(images - 1, grid, align_corners=False, padding_mode="zeros") + 1  # white outside

    def _scene(self, b: int, h: int, w: int, like: Tensor) -> Tensor:
        import torch.nn.functional as F

        on = {"device": like.device, "dtype": like.dtype}
        cells = int(torch.randint(2, 6, ()).item())
        field = F.interpolate(torch.rand(b, 3, cells, cells, **on), size=(h, w), mode="bicubic", align_corners=False)
        tone = torch.rand(b, 1, 1, 1, **on)  # from dark floors to pale sheets
        field = tone * field + (1 - tone) * field.mean(1, keepdim=True)  # some scenes near-grey, some coloured
        ramp = torch.linspace(-0.25, 0.25, h, **on).view(1, 1, h, 1)
        grain = 0.06 * torch.rand(b, 1, 1, 1, **on) * torch.randn(b, 1, h, w, **on)  # luminance noise of a sensor
        return (field + ramp * torch.randn(b, 1, 1, 1, **on) + grain).clamp(0, 1)

    def forward(self, images: Tensor) -> Tensor:
        b, _, h, w = images.shape
        pick = torch.rand(b, device=images.device) < self.p
        if not bool(pick.any()):
            return images
        chosen = self._zoom_out(images[pick])
        backdrop = (chosen.min(1, keepdim=True).values > self.white).to(images.dtype)
        scene = self._scene(int(pick.sum()), h, w, images)
        out = images.clone()
        out[pick] = chosen * (1 - backdrop) + scene * backdrop
        return out


@_preset("scene")
def _scene() -> nn.Module:  # packshots on varied backgrounds, then the phone-photo preset's framing and light
    K = _k()
    return _Preset(
        [
            K.RandomHorizontalFlip(),
            _SceneBackground(),
            K.ColorJitter(0.3, 0.3, 0.3, 0.05, p=0.8),
            K.RandomGaussianBlur((3, 3), (0.1, 1.0), p=0.2),
            K.RandomGrayscale(p=0.05),
        ]
    )
