"""Hostile and broken uploads each get the right 4xx, never a 500, and the service stays healthy.

TestClient re-raises any exception that reaches the catch-all 500 handler, so every test here also
proves that the bad input did not get there.
"""

from __future__ import annotations

import threading
import time

import pytest

from conftest import image_bytes, png_claiming
from fashiontag.serve import FakePredictor

GOOD = ("files", ("good.jpg", image_bytes(), "image/jpeg"))
JPEG = image_bytes("navy", (64, 64))


def _noise_jpeg(size: int) -> bytes:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
    import io

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


CASES = {
    "oversized file": ([("files", ("big.jpg", _noise_jpeg(96), "image/jpeg"))], 413, "exceeds the limit"),
    "truncated jpeg": ([("files", ("cut.jpg", JPEG[: len(JPEG) // 2], "image/jpeg"))], 422, "truncated"),
    "zero bytes": ([("files", ("empty.jpg", b"", "image/jpeg"))], 422, "empty file"),
    "text declared as text": ([("files", ("notes.txt", b"just some text\n", "text/plain"))], 415, "text/plain"),
    "text declared as jpeg": ([("files", ("fake.jpg", b"just some text\n", "image/jpeg"))], 415, "unrecognised"),
    "jpeg declared as pdf": ([("files", ("doc.pdf", JPEG, "application/pdf"))], 415, "application/pdf"),
    "decompression bomb": (
        [("files", ("bomb.png", png_claiming(100_000, 100_000), "image/png"))],
        422,
        "decompression bomb",
    ),
    "too many files": ([("files", (f"{i}.jpg", JPEG, "image/jpeg")) for i in range(5)], 413, "limit is 4"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_upload_gets_the_right_4xx(make_client, case):
    files, status, reason = CASES[case]
    with make_client(max_upload_bytes=8_000, max_images=4) as client:
        response = client.post("/v1/labels", files=files)
        assert response.status_code == status, response.text
        assert reason in response.json()["detail"]
        assert client.get("/healthz").status_code == 200
        good = client.post("/v1/labels", files=[GOOD])
        assert good.status_code == 200 and good.json()["results"][0]["error"] is None
        assert 'kind="internal"' not in client.get("/metrics").text


def test_body_over_the_request_limit_is_refused_before_reading(make_client):
    with make_client(max_upload_bytes=1_000, max_images=1) as client:
        response = client.post(
            "/v1/labels", content=b"x" * 200_000, headers={"content-type": "multipart/form-data; boundary=zzz"}
        )
        assert response.status_code == 413
        assert client.post("/v1/labels", files=[GOOD]).status_code == 200


def test_chunked_body_over_the_limit_is_cut_while_streaming(make_client):
    def chunks():
        for _ in range(100):
            yield b"--zzz\r\n" + b"x" * 4096

    with make_client(max_upload_bytes=1_000, max_images=1) as client:
        response = client.post(
            "/v1/labels", content=chunks(), headers={"content-type": "multipart/form-data; boundary=zzz"}
        )
        assert response.status_code == 413


def test_no_files_and_garbage_bodies_are_422(client):
    assert client.post("/v1/labels").status_code == 422
    assert client.post("/v1/labels", data={"other": "x"}).status_code == 422
    garbage = client.post(
        "/v1/labels", content=b"\x00\x01garbage", headers={"content-type": "multipart/form-data; boundary=zzz"}
    )
    assert 400 <= garbage.status_code < 500


def test_one_broken_image_among_several_gets_its_own_error(client):
    files = [
        GOOD,
        ("files", ("cut.jpg", JPEG[:200], "image/jpeg")),
        ("files", ("ok.png", image_bytes(fmt="PNG"), "image/png")),
    ]
    response = client.post("/v1/labels", files=files)
    assert response.status_code == 200
    good, broken, png = response.json()["results"]
    assert broken["source"] == "cut.jpg" and "truncated" in broken["error"] and broken["labels"] == {}
    assert good["error"] is None and png["error"] is None and png["labels"]


def test_full_queue_answers_503_with_retry_after(make_client):
    predictor = FakePredictor(delay_s=0.6)
    with make_client(predictor=predictor, max_queue=3, max_images=3, batch_size=1, batch_wait_ms=0) as client:
        service = client.app.state.service
        first: dict = {}
        worker = threading.Thread(
            target=lambda: first.update(
                r=client.post(
                    "/v1/labels",
                    files=[
                        ("files", (f"{i}.jpg", image_bytes(c), "image/jpeg"))
                        for i, c in enumerate(["red", "navy", "olive"])
                    ],
                )
            )
        )
        worker.start()
        deadline = time.monotonic() + 5
        while not (predictor.batches and service.batcher.depth == 2) and time.monotonic() < deadline:
            time.sleep(0.005)
        busy = client.post("/v1/labels", files=[GOOD, ("files", ("b.jpg", JPEG, "image/jpeg"))])
        assert busy.status_code == 503 and busy.headers["Retry-After"] == "1"
        assert "queue full" in busy.json()["detail"]
        worker.join()
        assert first["r"].status_code == 200
        assert client.post("/v1/labels", files=[GOOD]).status_code == 200
