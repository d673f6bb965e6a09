"""Service settings: defaults, then ``FASHIONTAG_*`` environment variables, then CLI flags.

Built by the caller (the CLI, a test, the benchmark) and passed to ``create_app``; nothing here is
read at import time.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_CONTENT_TYPES = ["image/jpeg", "image/png", "image/webp", "image/bmp", "image/gif", "image/tiff"]


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

    @property
    def max_body_bytes(self) -> int:
        """The whole multipart body: every file at its limit plus room for the part headers."""
        return self.max_images * (self.max_upload_bytes + 16 * 1024) + 64 * 1024
