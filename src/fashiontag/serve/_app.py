"""``create_app(settings, predictor)``: wiring only. Routes are thin; the work is in LabelService."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from fashiontag.serve._errors import install_error_handlers
from fashiontag.serve._metrics import Metrics
from fashiontag.serve._middleware import BodyLimitMiddleware, MetricsMiddleware
from fashiontag.serve._predictor import LabellerPredictor, Predictor
from fashiontag.serve._routes import router
from fashiontag.serve._service import LabelService
from fashiontag.serve._settings import ServeSettings

if TYPE_CHECKING:
    from fashiontag.labelstudio import LabelStudioLink

STATIC_DIR = Path(__file__).parent / "static"
logger = logging.getLogger("fashiontag.serve")


def create_app(
    settings: ServeSettings, predictor: Predictor | None = None, labelstudio: LabelStudioLink | None = None
) -> FastAPI:
    """Build the labelling service.

    The model loads in the background during the lifespan: ``/healthz`` answers at once, ``/readyz``
    and ``/v1/labels`` answer 503 until it is loaded.

    Args:
        settings: limits, batching and the model path (used when ``predictor`` is None).
        predictor: anything following :class:`Predictor`; default: the Labeller at ``settings.model_path``.
        labelstudio: also speak Label Studio's ML-backend protocol (``serve/_labelstudio.py``) with this link.

    Example:
        >>> from fashiontag.serve import FakePredictor
        >>> app = create_app(ServeSettings(), FakePredictor())
    """
    if predictor is None:
        if settings.model_path is None:
            raise ValueError("create_app needs settings.model_path or a predictor")
        predictor = LabellerPredictor(settings.model_path, settings.backend)
    metrics = Metrics()
    service = LabelService(settings, predictor, metrics)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service.batcher.start()
        loader = asyncio.create_task(_load(service))
        try:
            yield
        finally:
            loader.cancel()
            await service.batcher.stop()
            service.close()

    app = FastAPI(
        title="fashiontag labelling service",
        version="1",
        description="Label fashion product photos over a hierarchical taxonomy.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.service = service
    app.add_middleware(
        BodyLimitMiddleware, max_bytes=settings.max_body_bytes, metrics=metrics, timeout_s=settings.body_timeout_s
    )
    app.add_middleware(MetricsMiddleware, metrics=metrics)  # added last = outermost: sees every status
    install_error_handlers(app)
    app.include_router(router)
    if labelstudio is not None:
        from fashiontag.serve._labelstudio import install_labelstudio

        install_labelstudio(app, labelstudio)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


async def _load(service: LabelService) -> None:
    try:
        await asyncio.to_thread(service.predictor.load)
    except Exception as exc:  # keep serving /healthz and say why in /readyz
        logger.exception("model failed to load")
        service.load_error = f"{type(exc).__name__}: {exc}"
    else:
        logger.info("model loaded: %s", service.predictor.info())
