"""API behaviour with an injected fake predictor: no model, no network, fast."""

from __future__ import annotations

import asyncio
import threading

from conftest import image_bytes, wait_ready
from fashiontag.serve import FakePredictor
from fashiontag.serve._batcher import MicroBatcher


def _files(*names: str) -> list[tuple[str, tuple[str, bytes, str]]]:
    colors = ["red", "navy", "olive", "black", "white"]
    return [("files", (name, image_bytes(colors[i % 5]), "image/jpeg")) for i, name in enumerate(names)]


def test_one_image_gets_a_labeller_result(client):
    response = client.post("/v1/labels", files=_files("dress.jpg"))
    assert response.status_code == 200
    (result,) = response.json()["results"]
    assert result["source"] == "dress.jpg"
    assert result["error"] is None
    assert set(result["labels"]) == {"group", "type"}
    group = result["labels"]["group"]
    assert {"label", "id", "confidence", "accepted", "top_k"} <= set(group)
    assert 0 <= group["confidence"] <= 1 and len(group["top_k"]) == 3
    assert result["level_reached"] in (None, "group", "type")
    assert result["needs_review"] == (not all(h["accepted"] for h in result["labels"].values()))


def test_several_images_come_back_in_upload_order(client):
    names = ["a.jpg", "b.jpg", "c.jpg", "d.jpg"]
    response = client.post("/v1/labels", files=_files(*names))
    assert response.status_code == 200
    assert [r["source"] for r in response.json()["results"]] == names
    again = client.post("/v1/labels", files=_files(*names)).json()
    assert again == response.json()  # deterministic for the same bytes


def test_openapi_documents_the_result_schema(client):
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    assert {"LabelsResponse", "ImageResult", "HeadLabel", "TaxonomyResponse", "ErrorResponse"} <= set(schemas)
    assert set(schemas["ImageResult"]["properties"]) >= {"source", "labels", "level_reached", "needs_review", "error"}
    post = spec["paths"]["/v1/labels"]["post"]
    assert "multipart/form-data" in post["requestBody"]["content"]
    assert {"200", "413", "415", "422", "503", "504"} <= set(post["responses"])


def test_taxonomy_lists_levels_attributes_and_tree(client):
    body = client.get("/v1/taxonomy").json()
    assert body["name"] == "slowfashion" and body["levels"] == ["group", "type"]
    shoes = next(node for node in body["tree"] if node["id"] == "Shoes")
    assert "Shoes > Heels" in [child["id"] for child in shoes["children"]]


def test_not_ready_until_the_model_has_loaded(make_client):
    gate = threading.Event()
    with make_client(predictor=FakePredictor(load_gate=gate), ready=False) as client:
        assert client.get("/healthz").status_code == 200
        not_ready = client.get("/readyz")
        assert not_ready.status_code == 503 and "Retry-After" in not_ready.headers
        assert client.post("/v1/labels", files=_files("a.jpg")).status_code == 503
        assert client.get("/v1/info").json()["ready"] is False
        gate.set()
        wait_ready(client)
        assert client.post("/v1/labels", files=_files("a.jpg")).status_code == 200


def test_a_model_that_fails_to_load_says_why(make_client):
    class Broken(FakePredictor):
        def load(self) -> None:
            raise FileNotFoundError("no model.onnx")

    with make_client(predictor=Broken(), ready=False) as client:
        for _ in range(200):
            if "failed" in client.get("/readyz").text:
                break
        response = client.get("/readyz")
        assert response.status_code == 503 and "no model.onnx" in response.json()["detail"]
        assert client.get("/healthz").status_code == 200


def test_metrics_expose_requests_latency_errors_and_images(client):
    client.post("/v1/labels", files=_files("a.jpg", "b.jpg"))
    client.post("/v1/labels", files=[("files", ("x.txt", b"hello", "text/plain"))])
    text = client.get("/metrics").text
    assert 'fashiontag_requests_total{method="POST",route="/v1/labels",status="200"} 1.0' in text
    assert 'fashiontag_requests_total{method="POST",route="/v1/labels",status="415"} 1.0' in text
    assert "fashiontag_request_duration_seconds_bucket" in text
    assert 'fashiontag_errors_total{kind="unsupported_type"} 1.0' in text
    assert "fashiontag_images_labelled_total 2.0" in text
    assert "fashiontag_batch_size_count" in text


def test_two_apps_keep_separate_metrics(make_client):
    with make_client() as first, make_client() as second:
        first.post("/v1/labels", files=_files("a.jpg"))
        assert "fashiontag_images_labelled_total 1.0" in first.get("/metrics").text
        assert "fashiontag_images_labelled_total 0.0" in second.get("/metrics").text


def test_slow_model_gives_504(make_client):
    with make_client(predictor=FakePredictor(delay_s=0.5), request_timeout_s=0.05) as client:
        response = client.post("/v1/labels", files=_files("a.jpg"))
        assert response.status_code == 504
        assert client.get("/healthz").status_code == 200


def test_predictor_crash_is_a_json_500(make_client):
    class Crashing(FakePredictor):
        def predict(self, images, top_k=3):
            raise RuntimeError("boom")

    with make_client(predictor=Crashing(), raise_server_exceptions=False) as client:
        response = client.post("/v1/labels", files=_files("a.jpg"))
        assert response.status_code == 500 and response.json() == {"detail": "internal error: RuntimeError"}
        assert client.get("/healthz").status_code == 200


def test_concurrent_requests_share_one_micro_batch():
    seen: list[int] = []

    def predict(images):
        seen.append(len(images))
        return [{"n": len(x)} for x in images]

    async def scenario():
        batcher = MicroBatcher(predict, batch_size=16, wait_ms=50, max_queue=32)
        batcher.start()
        out = await asyncio.gather(batcher.submit([b"a", b"bb"]), batcher.submit([b"ccc"]), batcher.submit([b"d"]))
        await batcher.stop()
        return out

    results = asyncio.run(scenario())
    assert results == [[{"n": 1}, {"n": 2}], [{"n": 3}], [{"n": 1}]]
    assert seen == [4]


def test_index_page_and_assets_are_served_locally(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    for asset in ("/static/app.js", "/static/style.css"):
        assert client.get(asset).status_code == 200
    assert "http://" not in page.text and "https://" not in page.text  # no CDN, no external fonts
