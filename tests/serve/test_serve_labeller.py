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
        files = [
            ("files", ("a.jpg", image_bytes("red"), "image/jpeg")),
            ("files", ("b.png", image_bytes("navy", fmt="PNG"), "image/png")),
        ]
        response = client.post("/v1/labels", files=files)
        assert response.status_code == 200, response.text
        results = response.json()["results"]
        assert [r["source"] for r in results] == ["a.jpg", "b.png"]
        assert all(r["error"] is None and set(r["labels"]) == {"group", "type"} for r in results)
        assert client.get("/v1/taxonomy").json()["levels"] == ["group", "type"]


def test_service_decodes_each_upload_once_and_matches_the_labeller(tmp_path, monkeypatch):
    from fashiontag.data import images as image_module
    from fashiontag.infer import load

    testing.make_tiny_model(tmp_path / "model", load_taxonomy("slowfashion"))
    data = [image_bytes("red"), image_bytes("navy", fmt="PNG")]
    expected = load(tmp_path / "model", backend="torch").predict(data)
    calls: list[int] = []
    real = image_module._decode  # every load_image / load_reduced / load_letterboxed goes through it

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(image_module, "_decode", counted)
    app = create_app(ServeSettings(model_path=tmp_path / "model", backend="torch"))
    with TestClient(app) as client:
        wait_ready(client, timeout_s=60)
        files = [
            ("files", ("a.jpg", data[0], "image/jpeg")),
            ("files", ("b.png", data[1], "image/png")),
            ("files", ("c.jpg", b"\xff\xd8\xff" + b"0" * 50, "image/jpeg")),
        ]
        results = client.post("/v1/labels", files=files).json()["results"]
    assert len(calls) == 2  # one decode per good upload; the broken one's header is refused before decoding
    assert results[2]["error"] and results[2]["labels"] == {}
    for got, want in zip(results[:2], expected, strict=True):
        assert got["level_reached"] == want["level_reached"] and got["needs_review"] == want["needs_review"]
        for head, entry in want["labels"].items():
            assert got["labels"][head]["id"] == entry["id"]
            assert got["labels"][head]["confidence"] == pytest.approx(entry["confidence"], abs=1e-5)
