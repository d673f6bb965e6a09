"""Per-upload checks before anything is queued: size (413), type by declared header and magic bytes
(415), and a full decode with ``load_image`` (422 with the reason). Cheap checks come first."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fashiontag.data.images import ImageError, load_image
from fashiontag.serve._errors import ServiceError

#: Declared types that say nothing about the content; the magic bytes decide.
GENERIC_TYPES = {"", "application/octet-stream", "binary/octet-stream"}


@dataclass(frozen=True)
class Upload:
    filename: str
    content_type: str
    data: bytes


def sniff(data: bytes) -> str | None:
    """The image type the leading bytes announce, or None."""
    head = data[:16]
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:2] == b"BM":
        return "image/bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    return None


def check_upload(upload: Upload, allowed: list[str], max_bytes: int) -> None:
    """Raise :class:`ServiceError` (413, 415 or 422) unless the bytes look like an allowed image."""
    name = upload.filename or "upload"
    if len(upload.data) > max_bytes:
        raise ServiceError(413, f"{name}: {len(upload.data)} bytes exceeds the limit of {max_bytes}", "too_large")
    if not upload.data:
        raise ServiceError(422, f"{name}: empty file (0 bytes)", "bad_image")
    declared = upload.content_type.split(";")[0].strip().lower()
    if declared not in GENERIC_TYPES and declared not in allowed:
        raise ServiceError(415, f"{name}: content type {declared!r} is not one of {allowed}", "unsupported_type")
    actual = sniff(upload.data)
    if actual is None or actual not in allowed:
        what = "unrecognised content" if actual is None else actual
        raise ServiceError(415, f"{name}: the file's bytes are {what}, not one of {allowed}", "unsupported_type")


def prepare_upload(upload: Upload, prepare: Callable[[bytes], Any] | None) -> tuple[Any, str | None]:
    """Decode fully, once (truncation, bombs, corrupt data): ``(prepared, None)`` or ``(None, reason)``.

    ``prepare`` is the predictor's own decoder (letterboxed array for a real model); without one the bytes
    are checked with ``load_image`` and passed on as they are.
    """
    try:
        if prepare is None:
            load_image(upload.data, name=upload.filename)
            return upload.data, None
        return prepare(upload.data), None
    except ImageError as exc:
        return None, exc.reason
