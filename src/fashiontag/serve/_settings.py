"""Service settings: defaults, then ``FASHIONTAG_*`` environment variables, then CLI flags.

Built by the caller (the CLI, a test, the benchmark) and passed to ``create_app``; nothing here is
read at import time.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from fashiontag.data.images import MAX_PIXELS

DEFAULT_CONTENT_TYPES = ["image/jpeg", "image/png", "image/webp", "image/bmp", "image/gif", "image/tiff"]
#: Below this pixel limit (1 MP at 4 bytes a pixel) ordinary photos would be refused: a setting error.
MIN_DECODE_PIXELS = 1_000_000


def default_decode_workers() -> int:
    """One decode per core the process may use, at most 4: decoding is CPU-bound and each holds a frame."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(4, cores))


class ServeSettings(BaseSettings):
    """Everything the service can be tuned with; each field is also ``FASHIONTAG_<NAME>``.

    Example:
        >>> ServeSettings(model_path="runs/best", max_images=4).max_images
        4
    """

    model_config = SettingsConfigDict(env_prefix="FASHIONTAG_", extra="ignore")

    model_path: Path | None = Field(None, description="Model directory (fashiontag.json + weights).")
    backend: str = Field("auto", description="Labeller backend: auto, onnx or torch.")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    max_upload_bytes: int = Field(10 * 1024 * 1024, gt=0, description="Largest accepted image file.")
    max_images: int = Field(16, gt=0, description="Most images in one request.")
    max_queue: int = Field(256, gt=0, description="Most images waiting for the model; beyond it: 503.")
    batch_size: int = Field(16, gt=0, description="Most images the model sees in one micro-batch.")
    batch_wait_ms: float = Field(5.0, ge=0, description="How long a micro-batch waits to fill up.")
    request_timeout_s: float = Field(30.0, gt=0, description="A request still unanswered after this: 504.")
    top_k: int = Field(3, gt=0, le=20)
    allowed_content_types: list[str] = Field(default_factory=lambda: list(DEFAULT_CONTENT_TYPES))
    retry_after_s: int = Field(1, ge=0, description="Retry-After sent with 503 answers.")
    decode_workers: int = Field(
        default_factory=default_decode_workers,
        gt=0,
        description="Images decoded at once (a bounded pool; default: cores, at most 4).",
    )
    decode_memory_mib: int = Field(
        768,
        gt=0,
        description="Memory the images being decoded at once may take; "
        "an image whose decoded frame needs more than its share is refused (422).",
    )
    header_timeout_s: float = Field(
        10.0,
        gt=0,
        description="A request's headers must arrive within this; else the connection is closed (slow clients).",
    )
    body_timeout_s: float = Field(60.0, gt=0, description="A request's body must arrive within this; else 408.")
    keep_alive_timeout_s: float = Field(5.0, gt=0, description="An idle keep-alive connection is closed after this.")
    max_connections: int = Field(512, gt=0, description="Open connections beyond this are closed at once.")

    @model_validator(mode="after")
    def _consistent(self) -> ServeSettings:
        """Refuse combinations that would make the service fail every request of some kind, at start."""
        if self.max_queue < self.max_images:
            raise ValueError(
                f"max_queue ({self.max_queue}) must be at least max_images ({self.max_images}): "
                f"every request with more than {self.max_queue} images would get 503"
            )
        if self.max_pixels < MIN_DECODE_PIXELS:
            raise ValueError(
                f"decode_memory_mib ({self.decode_memory_mib}) / decode_workers ({self.decode_workers}) "
                f"leaves {self.decode_bytes_per_image / 2**20:.1f} MiB per image, a limit of "
                f"{self.max_pixels} pixels: ordinary photos would be refused; raise decode_memory_mib"
            )
        unknown = sorted(set(self.allowed_content_types) - set(DEFAULT_CONTENT_TYPES))
        if unknown or not self.allowed_content_types:
            raise ValueError(
                f"allowed_content_types must be a non-empty subset of {DEFAULT_CONTENT_TYPES} (the types "
                f"the service recognises from their bytes); got {self.allowed_content_types}"
            )
        return self

    @property
    def decode_bytes_per_image(self) -> int:
        """Each concurrent decode's share of ``decode_memory_mib``: the largest decoded frame accepted."""
        return self.decode_memory_mib * 2**20 // self.decode_workers

    @property
    def max_pixels(self) -> int:
        """The pixel limit the memory budget implies for 4-byte pixels (RGB, RGBA, 16-bit RGB), at most the
        decompression-bomb limit; 1- and 2-byte modes (greyscale, 16-bit grey) may have more."""
        return min(MAX_PIXELS, self.decode_bytes_per_image // 4)

    @property
    def max_body_bytes(self) -> int:
        """The whole multipart body: every file at its limit plus room for the part headers."""
        return self.max_images * (self.max_upload_bytes + 16 * 1024) + 64 * 1024
