"""HTTP routes: each one reads the request, calls the service, returns a schema."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, Response

from fashiontag.serve._schemas import (
    ErrorResponse,
    HealthResponse,
    InfoResponse,
    LabelsResponse,
    TaxonomyResponse,
)
from fashiontag.serve._service import LabelService
from fashiontag.serve._validate import Upload

STATIC_DIR = Path(__file__).parent / "static"
router = APIRouter()

_ERRORS = {
    413: {"model": ErrorResponse, "description": "A file or the request is too large, or too many images."},
    415: {"model": ErrorResponse, "description": "Not an allowed image type (declared or by its bytes)."},
    422: {"model": ErrorResponse, "description": "A single image that cannot be decoded, or no files."},
    503: {"model": ErrorResponse, "description": "Model not loaded yet or queue full; see Retry-After."},
    504: {"model": ErrorResponse, "description": "No answer within the request timeout."},
}


def _service(request: Request) -> LabelService:
    return request.app.state.service


@router.post("/v1/labels", response_model=LabelsResponse, responses=_ERRORS, tags=["labels"])
async def label_images(
    request: Request,
    files: list[UploadFile] = File(..., description="One or more product photos (JPEG, PNG, WebP, ...)."),
) -> LabelsResponse:
    """Label each uploaded photo. Results come back in upload order with the file name as ``source``."""
    service = _service(request)
    service.check_count(len(files))
    uploads = [Upload(f.filename or f"image{i}", f.content_type or "", await f.read()) for i, f in enumerate(files)]
    return LabelsResponse.model_validate({"results": await service.label(uploads)})


@router.get("/v1/taxonomy", response_model=TaxonomyResponse, responses={503: {"model": ErrorResponse}}, tags=["labels"])
def taxonomy(request: Request) -> TaxonomyResponse:
    """The model's taxonomy: level names, attributes and the tree of node ids."""
    service = _service(request)
    service.require_ready()
    return TaxonomyResponse.from_taxonomy(service.predictor.taxonomy)


@router.get("/v1/info", response_model=InfoResponse, tags=["ops"])
def info(request: Request) -> InfoResponse:
    """Readiness, model description and request limits (the web page reads these)."""
    service = _service(request)
    settings = service.settings
    return InfoResponse(
        ready=service.ready,
        model=service.predictor.info() if service.ready else {},
        max_images=settings.max_images,
        max_upload_bytes=settings.max_upload_bytes,
        allowed_content_types=settings.allowed_content_types,
    )


@router.get("/healthz", response_model=HealthResponse, tags=["ops"])
def healthz() -> HealthResponse:
    """The process is up (says nothing about the model)."""
    return HealthResponse(status="ok")


@router.get("/readyz", response_model=HealthResponse, responses={503: {"model": ErrorResponse}}, tags=["ops"])
def readyz(request: Request) -> HealthResponse | JSONResponse:
    """200 once the model is loaded, else 503."""
    service = _service(request)
    if not service.ready:
        reason = f"model failed to load: {service.load_error}" if service.load_error else "model is loading"
        return JSONResponse(
            {"detail": reason}, status_code=503, headers={"Retry-After": str(service.settings.retry_after_s)}
        )
    return HealthResponse(status="ready")


@router.get("/metrics", tags=["ops"], response_class=Response)
def metrics(request: Request) -> Response:
    """Prometheus text format, from this app's own registry."""
    app_metrics = request.app.state.metrics
    return Response(app_metrics.render(), media_type=app_metrics.content_type)


@router.get("/", include_in_schema=False)
def index() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html")
