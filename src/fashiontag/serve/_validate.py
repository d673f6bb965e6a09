"""Per-upload checks before anything is queued: size (413), type by declared header and magic bytes
(415), then the decode budget from the header and a full decode (a reason: 422 alone, or that image's
``error`` among several). Cheap checks come first."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fashiontag.data.images import ImageError, check_decodable, load_reduced
from fashiontag.serve._errors import ServiceError

logger = logging.getLogger("fashiontag.serve")

#: Declared types that say nothing about the content; the magic bytes decide.
GENERIC_TYPES = {"", "application/octet-stream", "binary/octet-stream"}
#: Size a predictor without ``prepare`` is checked at: the decode still runs in full, the result is small.
CHECK_SIZE = 64


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
    """Raise :class:`ServiceError` (413 or 415) unless the bytes look like an allowed image.

    An empty file passes: it is an undecodable image like a truncated one, so the decode step marks it (422
    alone, its own ``error`` among several), rather than rejecting the other images of the request.
    """
    name = upload.filename or "upload"
    if len(upload.data) > max_bytes:
        raise ServiceError(413, f"{name}: {len(upload.data)} bytes exceeds the limit of {max_bytes}", "too_large")
    declared = upload.content_type.split(";")[0].strip().lower()
    if declared not in GENERIC_TYPES and declared not in allowed:
        raise ServiceError(415, f"{name}: content type {declared!r} is not one of {allowed}", "unsupported_type")
    if not upload.data:
        return
    actual = sniff(upload.data)
    if actual is None or actual not in allowed:
        what = "unrecognised content" if actual is None else actual
        raise ServiceError(415, f"{name}: the file's bytes are {what}, not one of {allowed}", "unsupported_type")


def prepare_upload(
    upload: Upload, prepare: Callable[[bytes], Any] | None, size: int | None = None, max_decode_bytes: int | None = None
) -> tuple[Any, str | None]:
    """Decode fully, once (truncation, bombs, corrupt data): ``(prepared, None)`` or ``(None, reason)``.

    The header is read first: an image whose decoded frame (at the JPEG draft scale for ``size``) exceeds
    ``max_decode_bytes`` is refused before any pixel is decoded. ``prepare`` is the predictor's own decoder
    (letterboxed array for a real model); without one the bytes are decoded at ``CHECK_SIZE`` px to check
    them, and passed on as they are.
    """
    try:
        check_decodable(upload.data, size, max_decode_bytes)
        if prepare is None:
            load_reduced(upload.data, CHECK_SIZE, name=upload.filename)
            return upload.data, None
        return prepare(upload.data), None
    except ImageError as exc:
        return None, exc.reason
    except Exception as exc:  # a decoder bug on one hostile file marks that file, it is not a 500
        logger.warning("decoding %s failed unexpectedly", upload.filename, exc_info=True)
        return None, f"cannot decode image: {type(exc).__name__}: {exc}"
