"""Client-facing errors and the handlers that turn every failure into a JSON answer."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException

logger = logging.getLogger("fashiontag.serve")

#: ``errors_total`` kinds of the framework's own HTTP errors; others are ``http_<status>``.
HTTP_KINDS = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}


class ServiceError(HTTPException):
    """An HTTP error with a metrics ``kind`` (too_large, unsupported_type, bad_image, queue_full, ...)."""

    def __init__(self, status_code: int, detail: str, kind: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(status_code=status_code, detail=detail, headers=headers)
        self.kind = kind


def install_error_handlers(app: FastAPI) -> None:
    """Known errors keep their status; anything unexpected is logged and becomes a JSON 500."""

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
        request.app.state.metrics.errors.labels(exc.kind).inc()
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> Response:
        """Starlette's and FastAPI's own errors (malformed multipart: 400, unknown route: 404, ...) are
        counted like ours, so a flood of broken uploads shows in ``errors_total``."""
        request.app.state.metrics.errors.labels(HTTP_KINDS.get(exc.status_code, f"http_{exc.status_code}")).inc()
        return await http_exception_handler(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        request.app.state.metrics.errors.labels("invalid_request").inc()
        return JSONResponse({"detail": _validation_message(exc)}, status_code=422)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        request.app.state.metrics.errors.labels("internal").inc()
        return JSONResponse({"detail": f"internal error: {type(exc).__name__}"}, status_code=500)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        parts.append(f"{where}: {error.get('msg')}" if where else str(error.get("msg")))
    return "; ".join(parts) or "invalid request"
