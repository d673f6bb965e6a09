"""Running the app under uvicorn with slow-client protection: a header deadline and a connection cap.

uvicorn (h11) has a keep-alive timeout but no deadline for a request's headers: a client that connects and
then sends nothing, or a header byte every few seconds (slowloris), holds its connection for ever, and 250
of them were all still held after 25 s (issue 13). :class:`GuardedH11Protocol` adds what nginx calls
``client_header_timeout``: the headers of each request must be complete within ``header_timeout_s`` of
the connection opening or the first byte of the request, else the connection is closed (with a 408 if
part of a request arrived). Connections beyond ``max_connections`` are closed as they open. The body has
its own deadline in :class:`~fashiontag.serve._middleware.BodyLimitMiddleware` (408, counted in metrics).

It also answers a malformed request that follows an early answer (a 413 sent while the client was still
uploading) by closing the connection, where uvicorn would try to send a second response and log
h11's ``LocalProtocolError`` traceback.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from fashiontag.serve._settings import ServeSettings

logger = logging.getLogger("fashiontag.serve")

_REQUEST_TIMEOUT = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a header deadline and a connection cap (set by :func:`guarded_protocol`)."""

    header_timeout_s: float = 10.0
    max_connections: int = 512
    _last_refusal_log = 0.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._header_timer: asyncio.TimerHandle | None = None
        self._partial = False
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            self._log_refusal()
            transport.close()
            return
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.IDLE:  # (part of) the next request's headers: start its deadline
            self._partial = True
            self._arm_header_timer()
        else:
            self._cancel_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        if self.conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
            super().send_400_response(msg)
        else:  # we already answered this request (e.g. 413 mid-upload): nothing more to say, just close
            self.transport.close()

    def _arm_header_timer(self) -> None:
        if self._header_timer is None and not self.transport.is_closing():
            self._header_timer = self.loop.call_later(self.header_timeout_s, self._header_timeout)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timeout(self) -> None:
        self._header_timer = None
        if self.conn.their_state is not h11.IDLE or self.transport.is_closing():
            return
        if self._partial and self.conn.our_state is h11.IDLE:
            self.transport.write(_REQUEST_TIMEOUT)
        self.transport.close()

    @classmethod
    def _log_refusal(cls) -> None:
        now = time.monotonic()
        if now - cls._last_refusal_log > 10.0:  # once per 10 s, so a flood does not flood the log too
            cls._last_refusal_log = now
            logger.warning("connection limit (%d) reached: closing new connections", cls.max_connections)


def guarded_protocol(settings: ServeSettings) -> type[GuardedH11Protocol]:
    """A :class:`GuardedH11Protocol` subclass carrying ``settings``' header deadline and connection cap."""
    return type(
        "GuardedH11Protocol",
        (GuardedH11Protocol,),
        {"header_timeout_s": settings.header_timeout_s, "max_connections": settings.max_connections},
    )


def uvicorn_options(settings: ServeSettings) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run``/``uvicorn.Config``: address, the guarded protocol, keep-alive."""
    return {
        "host": settings.host,
        "port": settings.port,
        "http": guarded_protocol(settings),
        "timeout_keep_alive": settings.keep_alive_timeout_s,
    }


def run_server(app: Any, settings: ServeSettings, log_level: str = "info") -> None:
    """``uvicorn.run`` with :func:`uvicorn_options`: what ``fashiontag serve`` runs (blocks until stopped).

    Example:
        >>> from fashiontag.serve import FakePredictor, ServeSettings, create_app
        >>> settings = ServeSettings(port=8001, header_timeout_s=5)
        >>> run_server(create_app(settings, FakePredictor()), settings)  # doctest: +SKIP
    """
    import uvicorn

    uvicorn.run(app, log_level=log_level, **uvicorn_options(settings))
