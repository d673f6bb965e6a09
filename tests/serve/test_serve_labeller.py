"""The real adapter: ``fashiontag.infer.load`` behind the service, on an untrained tiny model."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from conftest import image_bytes, wait_ready
from fashiontag.data.taxonomy import load_taxonomy
from fashiontag.serve import ServeSettings, create_app

pytest.importorskip("fashiontag.infer", reason="fashiontag.infer is not built yet")
testing = pytest.importorskip("fashiontag.models._testing", reason="no model helpers (torch missing?)")


def test_service_labels_with_a_real_labeller(tmp_path):
    testing.make_tiny_model(tmp_path / "model", load_taxonomy("slowfashion"))
    app = create_app(ServeSettings(model_path=tmp_path / "model", backend="torch"))  # default adapter
    with TestClient(app) as client:
        wait_ready(client, timeout_s=60)
        assert client.get("/v1/info").json()["model"]["backend"] == "torch"
        files = [("files", ("a.jpg", image_bytes("red"), "image/jpeg")),
                 ("files", ("b.png", image_bytes("navy", fmt="PNG"), "image/png"))]
        response = client.post("/v1/labels", files=files)
        assert response.status_code == 200, response.text
        results = response.json()["results"]
        assert [r["source"] for r in results] == ["a.jpg", "b.png"]
        assert all(r["error"] is None and set(r["labels"]) == {"group", "type"} for r in results)
        assert client.get("/v1/taxonomy").json()["levels"] == ["group", "type"]
