"""ASGI middleware: a request body limit and deadline enforced while reading, and per-route metrics."""

from __future__ import annotations

import asyncio
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fashiontag.serve._errors import ServiceError
from fashiontag.serve._metrics import Metrics

#: Sent with answers given before the body was read to its end: the rest of it will not be read, so the
#: connection cannot carry another request (and uvicorn closes it instead of parsing leftover body bytes).
CLOSE = {"Connection": "close"}


class BodyLimitMiddleware:
    """Refuse bodies over ``max_bytes`` with 413: up front from Content-Length, else while streaming
    (chunked uploads), so an oversized upload is never buffered whole. A body still incomplete
    ``timeout_s`` after the request started gets 408 (a client trickling its upload holds a connection
    and a parser; headers have their own deadline in ``_server``)."""

    def __init__(self, app: ASGIApp, max_bytes: int, metrics: Metrics, timeout_s: float | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.metrics = metrics
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            self.metrics.errors.labels("too_large").inc()
            await _send_413(send, int(declared), self.max_bytes)
            return
        seen, complete = 0, False
        deadline = None if self.timeout_s is None else time.monotonic() + self.timeout_s

        async def limited_receive() -> Message:
            nonlocal seen, complete
            if complete or deadline is None:  # after the body: only waiting for a disconnect, no deadline
                message = await receive()
            else:
                try:
                    message = await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
                except asyncio.TimeoutError:
                    raise ServiceError(
                        408, f"request body not received within {self.timeout_s:g} s", "body_timeout", CLOSE
                    ) from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                complete = not message.get("more_body", False)
                if seen > self.max_bytes:
                    raise ServiceError(413, f"request body exceeds {self.max_bytes} bytes", "too_large", CLOSE)
            return message

        await self.app(scope, limited_receive, send)


async def _send_413(send: Send, size: int, limit: int) -> None:
    body = f'{{"detail":"request body of {size} bytes exceeds the limit of {limit}"}}'.encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class MetricsMiddleware:
    """Counts requests by route template (not raw path, to bound label cardinality) and status."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = getattr(scope.get("route"), "path", None) or "other"
            if route.startswith("/static"):
                route = "/static"
            self.metrics.requests.labels(route, scope["method"], str(status)).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - start)
