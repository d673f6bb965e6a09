"""Label Studio's ML-backend protocol on the labelling service: ``/health``, ``/setup``, ``/predict``, ``/webhook``.

Shapes follow Label Studio's own client (``label_studio/ml/api_connector.py``, 1.2x): ``/setup`` gets
``{project, schema, hostname, access_token, extra_params}`` and answers ``{model_version}``; ``/predict`` gets
``{tasks, project, label_config, params}`` and answers ``{results: [one prediction per task], model_version}``,
each prediction ``{result, score, model_version}``, in task order (Label Studio pairs them by position).
Images go through the same :class:`LabelService` as ``/v1/labels`` (same Predictor, queue, limits), so no
second model is loaded. Training is not done online: ``/webhook`` acknowledges events; the loop is
``fashiontag labelstudio import`` then ``train --init-from`` (docs/review.md).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel, Field

from fashiontag.labelstudio import (
    ConfigNames,
    ImageFetchError,
    LabelConfigError,
    LabelStudioLink,
    parse_config,
    prediction_from_result,
)
from fashiontag.serve._errors import ServiceError
from fashiontag.serve._service import LabelService
from fashiontag.serve._validate import Upload

logger = logging.getLogger("fashiontag.serve")
router = APIRouter(tags=["label-studio"])


class SetupRequest(BaseModel):
    project: str | None = None
    schema_: str | None = Field(None, alias="schema")
    hostname: str | None = None
    access_token: str | None = None
    model_version: str | None = None
    extra_params: Any = None


class PredictRequest(BaseModel):
    tasks: list[dict[str, Any]]
    project: str | None = None
    label_config: str | None = None
    params: dict[str, Any] | None = None


def _service(request: Request) -> LabelService:
    return request.app.state.service


def _link(request: Request) -> LabelStudioLink:
    return request.app.state.labelstudio


def model_version(service: LabelService) -> str:
    """``fashiontag:<model dir>``: what Label Studio records on each prediction."""
    return f"fashiontag:{service.predictor.info().get('model') or 'model'}"


def _names(service: LabelService, label_config: str | None) -> ConfigNames:
    if not label_config:
        raise ServiceError(422, "no label_config in the request", "invalid_request")
    try:
        return parse_config(label_config, list(service.predictor.taxonomy.attributes))
    except LabelConfigError as exc:
        raise ServiceError(422, str(exc), "invalid_request") from None


@router.get("/health")
def health(request: Request) -> dict[str, Any]:
    """Label Studio's liveness check: UP while the process runs (``/setup`` says whether the model is loaded)."""
    return {"status": "UP", "model_class": "fashiontag", "ready": _service(request).ready}


@router.post("/setup")
def setup(request: Request, body: SetupRequest) -> dict[str, str]:
    """Connect a project: check its config names an Image and a Taxonomy tag, remember its host and token."""
    service = _service(request)
    service.require_ready()
    _names(service, body.schema_)
    _link(request).update(body.hostname, body.access_token)
    return {"model_version": model_version(service)}


async def _fetch_all(link: LabelStudioLink, tasks: list[dict[str, Any]], key: str, max_bytes: int) -> list[bytes | str]:
    """Each task's image bytes, or the reason it could not be fetched (logged)."""
    fetched = await link.fetch_many([(task.get("data") or {}).get(key) for task in tasks], max_bytes)
    out: list[bytes | str] = []
    for task, item in zip(tasks, fetched, strict=True):
        if isinstance(item, ImageFetchError):
            logger.warning("label-studio task %s: %s", task.get("id"), item)
            out.append(str(item))
        else:
            out.append(item)
    return out


async def _label_chunk(service: LabelService, chunk: list[tuple[int, bytes]]) -> dict[int, dict[str, Any]]:
    """Results by image index. The service refuses a whole request for one file of a bad type or size (415/413)
    and a single undecodable image (422): then each image goes alone, so one bad file costs only its own task."""
    try:
        results = await service.label([Upload(f"task{i}", "", data) for i, data in chunk])
    except ServiceError as exc:
        if exc.status_code not in (413, 415, 422):
            raise
        if len(chunk) == 1:
            logger.warning("label-studio task image %d rejected: %s", chunk[0][0], exc.detail)
            return {}
        out: dict[int, dict[str, Any]] = {}
        for item in chunk:
            out.update(await _label_chunk(service, [item]))
        return out
    return {i: result for (i, _), result in zip(chunk, results, strict=True) if not result.get("error")}


async def _label(service: LabelService, images: list[bytes | str]) -> list[dict[str, Any] | None]:
    """Labeller results per image (None where the image could not be fetched or labelled), in request-sized chunks
    through the service's queue and limits."""
    good = [(i, data) for i, data in enumerate(images) if isinstance(data, bytes)]
    labelled: dict[int, dict[str, Any]] = {}
    step = service.settings.max_images
    for start in range(0, len(good), step):
        labelled.update(await _label_chunk(service, good[start : start + step]))
    return [labelled.get(i) for i in range(len(images))]


@router.post("/predict")
async def predict(request: Request, body: PredictRequest) -> dict[str, Any]:
    """Pre-label tasks: one prediction per task, in order (an unreadable image gets an empty result)."""
    service = _service(request)
    service.require_ready()
    names = _names(service, body.label_config)
    version = model_version(service)
    images = await _fetch_all(_link(request), body.tasks, names.image_key, service.settings.max_upload_bytes)
    results = await _label(service, images)
    taxonomy = service.predictor.taxonomy
    empty = {"result": [], "score": 0.0, "model_version": version}
    predictions = [empty if r is None else prediction_from_result(r, taxonomy, names, version) for r in results]
    return {"results": predictions, "model_version": version}


@router.post("/webhook")
async def webhook(request: Request) -> dict[str, Any]:
    """Label Studio posts every project event here once a backend is connected; nothing trains online."""
    try:
        event = (await request.json()).get("action")
    except ValueError:
        event = None
    return {"status": "ok", "action": event, "trained": False}


def install_labelstudio(app: FastAPI, link: LabelStudioLink) -> None:
    """Add the ML-backend routes to a service app (called by ``create_app(..., labelstudio=link)``)."""
    app.state.labelstudio = link
    app.include_router(router)
