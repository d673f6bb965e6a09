"""``serve --labelstudio``: Label Studio's ML-backend protocol on the service, with the real tiny model."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from fastapi.testclient import TestClient

from fashiontag.data.taxonomy import Taxonomy
from fashiontag.labelstudio import LabelStudioLink, labelling_config
from fashiontag.serve import FakePredictor, ServeSettings, create_app


def _ready(client: TestClient) -> None:
    deadline = time.monotonic() + 30
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, client.get("/readyz").json()
        time.sleep(0.05)


def test_setup_predict_health_webhook(
    model_dir: Path, dataset: tuple[Path, Path], taxonomy: Taxonomy, file_server: str
) -> None:
    images = sorted((dataset[0].parent / "images").glob("*.png"))
    config = labelling_config(taxonomy)
    app = create_app(ServeSettings(model_path=model_dir, max_images=2), labelstudio=LabelStudioLink())
    with TestClient(app) as client:
        assert client.get("/health").json()["status"] == "UP"
        _ready(client)
        setup = client.post(
            "/setup",
            json={
                "project": "1.1700000000",
                "schema": config,
                "hostname": file_server,
                "access_token": "t0k",
                "extra_params": None,
            },
        )
        assert setup.status_code == 200 and setup.json()["model_version"] == "fashiontag:tiny"
        tasks = [{"id": i, "data": {"image": f"/images/{p.name}"}} for i, p in enumerate(images[:5])]
        tasks.append({"id": 99, "data": {"image": "/images/missing.png"}})
        tasks.insert(1, {"id": 98, "data": {"image": "/taxonomy.yaml"}})  # not an image, in a chunk with a good one
        body = {"tasks": tasks, "project": "1.1700000000", "label_config": config, "params": {"context": None}}
        answer = client.post("/predict", json=body)
        assert answer.status_code == 200, answer.text
        results = answer.json()["results"]
        assert len(results) == 7  # Label Studio pairs predictions with tasks by position
        for prediction in [results[0], *results[2:6]]:
            kinds = {r["from_name"]: r for r in prediction["result"]}
            assert len(kinds["taxonomy"]["value"]["taxonomy"][0]) == 2
            assert kinds["colour"]["value"]["choices"][0] in ("Red", "Blue")
            assert 0.0 < prediction["score"] <= 1.0 and prediction["model_version"] == "fashiontag:tiny"
        assert results[6]["result"] == []  # a 404 image: an empty prediction, not a failed batch
        assert results[1]["result"] == []  # the non-image costs only its own task
        assert client.post("/webhook", json={"action": "ANNOTATION_CREATED"}).json()["trained"] is False
        # the labelling API still works beside it, on the same predictor
        with images[0].open("rb") as handle:
            assert client.post("/v1/labels", files={"files": ("a.png", handle, "image/png")}).status_code == 200


def test_bad_config_and_not_ready_are_clear_errors(taxonomy: Taxonomy) -> None:
    app = create_app(ServeSettings(), FakePredictor(taxonomy), labelstudio=LabelStudioLink())
    with TestClient(app) as client:
        _ready(client)
        answer = client.post("/setup", json={"schema": '<View><Image name="i" value="$x"/></View>'})
        assert answer.status_code == 422 and "Taxonomy" in answer.json()["detail"]
        answer = client.post(
            "/predict",
            json={
                "tasks": [{"id": 1, "data": {"image": "relative.png"}}],
                "label_config": labelling_config(taxonomy),
            },
        )
        assert answer.status_code == 200 and answer.json()["results"][0]["result"] == []
    gate = threading.Event()
    app = create_app(ServeSettings(), FakePredictor(taxonomy, load_gate=gate), labelstudio=LabelStudioLink())
    with TestClient(app) as client:
        assert client.get("/health").json() == {"status": "UP", "model_class": "fashiontag", "ready": False}
        assert client.post("/setup", json={"schema": labelling_config(taxonomy)}).status_code == 503
        gate.set()


def test_routes_absent_without_the_flag(taxonomy: Taxonomy) -> None:
    with TestClient(create_app(ServeSettings(), FakePredictor(taxonomy))) as client:
        assert client.post("/predict", json={"tasks": []}).status_code in (404, 405)


def test_token_only_goes_to_the_label_studio_host() -> None:
    link = LabelStudioLink("http://ls:8080", "secret")
    assert link.headers_for("http://ls:8080/data/upload/1/a.jpg") == {"Authorization": "Token secret"}
    assert link.headers_for("https://cdn.example.com/a.jpg") == {}
    assert link.headers_for("http://ls:8080.evil.com/a.jpg") == {}
