"""The labelling use case behind ``POST /v1/labels``: validate, queue, await, assemble.

Policy (docs/serve.md): size and type problems reject the whole request (413/415). An image that
fails to decode (empty files included) rejects a single-image request with 422; in a multi-image request
it gets its own ``error`` and the others are still labelled (200).

Decoding runs in a pool of ``decode_workers`` threads owned by the service, not in anyio's 40-thread pool:
at most that many decoded frames exist at once, each within ``decode_bytes_per_image``. The request
timeout covers decoding, queueing and the model (504); decodes of a timed-out request that have not
started are cancelled.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fashiontag.serve._batcher import MicroBatcher, QueueFullError
from fashiontag.serve._errors import ServiceError
from fashiontag.serve._metrics import Metrics
from fashiontag.serve._predictor import Predictor
from fashiontag.serve._settings import ServeSettings
from fashiontag.serve._validate import Upload, check_upload, prepare_upload


class LabelService:
    """Owns the predictor, the micro-batcher and the metrics of one app."""

    def __init__(self, settings: ServeSettings, predictor: Predictor, metrics: Metrics) -> None:
        self.settings = settings
        self.predictor = predictor
        self.metrics = metrics
        self.load_error: str | None = None
        self.batcher = MicroBatcher(
            self._predict, settings.batch_size, settings.batch_wait_ms, settings.max_queue, on_batch=self._on_batch
        )
        self.decode_pool = ThreadPoolExecutor(settings.decode_workers, thread_name_prefix="fashiontag-decode")

    def close(self) -> None:
        """Drop decodes not started yet; running ones finish in their threads."""
        self.decode_pool.shutdown(wait=False, cancel_futures=True)

    @property
    def ready(self) -> bool:
        return self.load_error is None and self.predictor.ready

    def _predict(self, images: list[Any]) -> list[dict[str, Any]]:
        return self.predictor.predict(images, top_k=self.settings.top_k)

    def _on_batch(self, size: int) -> None:
        self.metrics.batch_size.observe(size)
        self.metrics.queue_depth.set(self.batcher.depth)

    def require_ready(self) -> None:
        if not self.ready:
            reason = f"model failed to load: {self.load_error}" if self.load_error else "model is loading"
            raise ServiceError(503, reason, "not_ready", {"Retry-After": str(self.settings.retry_after_s)})

    def check_count(self, count: int) -> None:
        if count > self.settings.max_images:
            raise ServiceError(
                413, f"{count} images in one request; the limit is {self.settings.max_images}", "too_many_images"
            )

    async def label(self, uploads: list[Upload]) -> list[dict[str, Any]]:
        self.require_ready()
        self.check_count(len(uploads))
        for upload in uploads:
            check_upload(upload, self.settings.allowed_content_types, self.settings.max_upload_bytes)
        timeout = self.settings.request_timeout_s
        try:
            return await asyncio.wait_for(self._label(uploads), timeout)
        except asyncio.TimeoutError:
            raise ServiceError(504, f"no answer within {timeout:g} s", "timeout") from None

    async def _decode(self, uploads: list[Upload]) -> list[tuple[Any, str | None]]:
        """Each upload decoded in the bounded pool; cancelling this cancels the decodes not started."""
        prepare = getattr(self.predictor, "prepare", None)  # optional: a predictor may take raw bytes
        size = getattr(self.predictor, "decode_size", None)  # the pixels it needs: JPEGs decode at reduced scale
        loop = asyncio.get_running_loop()
        jobs = [
            loop.run_in_executor(
                self.decode_pool, prepare_upload, upload, prepare, size, self.settings.decode_bytes_per_image
            )
            for upload in uploads
        ]
        return list(await asyncio.gather(*jobs))

    async def _label(self, uploads: list[Upload]) -> list[dict[str, Any]]:
        decoded = await self._decode(uploads)
        errors = [error for _, error in decoded]
        if len(uploads) == 1 and errors[0] is not None:
            raise ServiceError(422, f"{uploads[0].filename}: {errors[0]}", "bad_image")
        good = [item for item, error in decoded if error is None]
        labelled = iter(await self._run(good) if good else [])
        results = []
        for upload, error in zip(uploads, errors, strict=True):
            if error is not None:
                self.metrics.image_errors.inc()
                results.append(
                    {
                        "source": upload.filename,
                        "labels": {},
                        "level_reached": None,
                        "needs_review": True,
                        "error": error,
                    }
                )
            else:
                results.append({**next(labelled), "source": upload.filename})
        return results

    async def _run(self, images: list[Any]) -> list[dict[str, Any]]:
        try:
            futures = self.batcher.enqueue(images)
        except QueueFullError as exc:
            raise ServiceError(
                503, f"busy: {exc}; retry later", "queue_full", {"Retry-After": str(self.settings.retry_after_s)}
            ) from None
        self.metrics.queue_depth.set(self.batcher.depth)
        results = await asyncio.gather(*futures)  # a timeout in label() cancels these: the batcher skips them
        self.metrics.images.inc(sum(1 for r in results if not r.get("error")))
        return list(results)
