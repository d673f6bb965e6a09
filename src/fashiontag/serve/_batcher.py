"""Micro-batching: images from concurrent requests share one model call.

Requests put their images on a bounded queue and await one future per image. A single worker task
takes the first waiting image, waits up to ``wait_ms`` for more (at most ``batch_size``), and runs the
predictor in a thread so the event loop keeps accepting requests. A full queue refuses new work
(:class:`QueueFullError` -> 503) instead of growing without bound.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

PredictFn = Callable[[list[Any]], list[dict[str, Any]]]


class QueueFullError(RuntimeError):
    """The queue cannot take every image of the request."""


@dataclass
class _Item:
    data: bytes
    future: asyncio.Future[dict[str, Any]]


class MicroBatcher:
    """Collects images into batches for ``predict_fn``; start() and stop() within a running loop.

    Example:
        >>> async def demo():
        ...     batcher = MicroBatcher(lambda xs: [{"n": len(x)} for x in xs], batch_size=8)
        ...     batcher.start()
        ...     out = await batcher.submit([b"ab", b"c"])
        ...     await batcher.stop()
        ...     return out
        >>> asyncio.run(demo())
        [{'n': 2}, {'n': 1}]
    """

    def __init__(
        self,
        predict_fn: PredictFn,
        batch_size: int = 16,
        wait_ms: float = 5.0,
        max_queue: int = 256,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self.predict_fn = predict_fn
        self.batch_size = batch_size
        self.wait_s = wait_ms / 1000.0
        self.max_queue = max_queue
        self.on_batch = on_batch
        self._queue: asyncio.Queue[_Item] = asyncio.Queue(maxsize=max_queue)
        self._task: asyncio.Task[None] | None = None

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="fashiontag-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        while not self._queue.empty():
            item = self._queue.get_nowait()
            if not item.future.done():
                item.future.set_exception(RuntimeError("service shutting down"))

    def enqueue(self, images: list[Any]) -> list[asyncio.Future[dict[str, Any]]]:
        """Queue every image or none of them; the caller awaits the futures (and may cancel them)."""
        if self._queue.qsize() + len(images) > self.max_queue:
            raise QueueFullError(f"queue full ({self._queue.qsize()}/{self.max_queue} images waiting)")
        loop = asyncio.get_running_loop()
        futures = []
        for data in images:
            item = _Item(data, loop.create_future())
            self._queue.put_nowait(item)  # cannot raise: room checked above, no await in between
            futures.append(item.future)
        return futures

    async def submit(self, images: list[Any]) -> list[dict[str, Any]]:
        return list(await asyncio.gather(*self.enqueue(images)))

    async def _collect(self) -> list[_Item]:
        batch = [await self._queue.get()]
        deadline = time.monotonic() + self.wait_s
        while len(batch) < self.batch_size:
            if not self._queue.empty():
                batch.append(self._queue.get_nowait())
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except asyncio.TimeoutError:
                break
        # Requests that timed out or disconnected cancelled their futures: skip their images.
        return [item for item in batch if not item.future.done()]

    async def _run(self) -> None:
        while True:
            batch = await self._collect()
            if not batch:
                continue
            if self.on_batch is not None:
                self.on_batch(len(batch))
            try:
                results = await asyncio.to_thread(self.predict_fn, [item.data for item in batch])
                if len(results) != len(batch):
                    raise RuntimeError(f"predictor returned {len(results)} results for {len(batch)} images")
            except Exception as exc:  # the model failed: every waiting request learns why, the worker lives on
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(exc)
                continue
            for item, result in zip(batch, results, strict=True):
                if not item.future.done():
                    item.future.set_result(result)
