"""Which image files fashiontag can decode, and the one place optional Pillow plugins are registered.

Phones save HEIC and browsers AVIF. Pillow (>= 11.3 wheels) decodes AVIF itself; HEIC needs the maintained
``pillow-heif`` plugin. Every decoder goes through :func:`fashiontag.data.images.load_image`, which calls
:func:`register_image_plugins` first, and every folder scan asks :func:`image_suffixes`, so a format is
either collected *and* decodable, or skipped with :func:`unsupported_reason`.
"""

from __future__ import annotations

import functools
import importlib.util

#: Formats Pillow decodes without plugins.
BASE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})
HEIF_SUFFIXES = frozenset({".heic", ".heif"})
AVIF_SUFFIXES = frozenset({".avif"})

_NOT_IMAGES = {
    ".svg": "SVG is a vector drawing, not a photo: export it to PNG",
    ".svgz": "SVG is a vector drawing, not a photo: export it to PNG",
    ".pdf": "PDF is a document, not an image",
    ".psd": "Photoshop files are not read: export them to PNG or JPEG",
    ".raw": "camera RAW files are not read: export them to JPEG",
    ".cr2": "camera RAW files are not read: export them to JPEG",
    ".nef": "camera RAW files are not read: export them to JPEG",
    ".dng": "camera RAW files are not read: export them to JPEG",
    ".mp4": "videos are not read", ".mov": "videos are not read",
}  # fmt: skip


@functools.cache
def heif_available() -> bool:
    return importlib.util.find_spec("pillow_heif") is not None


@functools.cache
def avif_available() -> bool:
    from PIL import features

    return bool(features.check("avif"))


@functools.cache
def register_image_plugins() -> None:
    """Register pillow-heif's HEIC/HEIF opener with Pillow once per process (no-op when not installed)."""
    if heif_available():
        from pillow_heif import register_heif_opener

        register_heif_opener()


def image_suffixes() -> frozenset[str]:
    """Lower-case suffixes of the files that folder scans collect: those this install can decode."""
    extra = (HEIF_SUFFIXES if heif_available() else frozenset()) | (AVIF_SUFFIXES if avif_available() else frozenset())
    return BASE_SUFFIXES | extra


def unsupported_reason(suffix: str) -> str:
    """Why a file with ``suffix`` is skipped by a folder scan (a short, user-facing reason)."""
    suffix = suffix.lower()
    if suffix in HEIF_SUFFIXES:
        return "HEIC/HEIF photo: install pillow-heif to read it (pip install pillow-heif)"
    if suffix in AVIF_SUFFIXES:
        return "AVIF image: this Pillow cannot decode AVIF (upgrade pillow to >= 11.3)"
    if suffix in _NOT_IMAGES:
        return _NOT_IMAGES[suffix]
    return f"not an image type ({suffix or 'no extension'})"
