"""Issue 13's bad-input suite, service part: a generated corpus of hostile and careless requests and files,
each with the exact status (and reason) it must get. 0 HTTP 5xx: TestClient re-raises anything that would
reach the catch-all 500 handler, and every case also checks ``errors_total{kind="internal"}`` stays absent.

Settings are small so each limit is reachable with tiny files: 4 images a request, 300 kB a file and 8 MiB
of decoded frame per image (2 decode workers sharing 16 MiB: a pixel limit of 2 MP for RGBA).
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from conftest import image_bytes, png_claiming, wait_ready
from fashiontag.serve import FakePredictor, ServeSettings, create_app

SETTINGS = {"max_images": 4, "max_upload_bytes": 300_000, "decode_memory_mib": 16, "decode_workers": 2}
MULTIPART = {"content-type": "multipart/form-data; boundary=zzz"}
UNREADABLE = "unrecognised format or corrupt header"


def _encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _photo(size: tuple[int, int] = (64, 48)) -> Image.Image:
    y, x = np.mgrid[0 : size[1], 0 : size[0]]
    return Image.fromarray(np.stack([x * 255 // size[0], y * 255 // size[1], np.full_like(x, 90)], -1).astype(np.uint8))


def _patched(data: bytes, offset: int, value: bytes) -> bytes:
    return data[:offset] + value + data[offset + len(value) :]


def _png_bad_crc() -> bytes:
    data = bytearray(_encode(_photo(), "PNG"))
    data[29] ^= 0xFF  # IHDR CRC
    return bytes(data)


def _png_bad_idat() -> bytes:
    data = _encode(_photo(), "PNG")
    start = data.index(b"IDAT") + 4
    garbage = b"\x00garbage-not-zlib" * 4
    chunk = struct.pack(">I", len(garbage)) + b"IDAT" + garbage + struct.pack(">I", zlib.crc32(b"IDAT" + garbage))
    return data[: start - 8] + chunk + data[data.index(b"IEND") - 4 :]


def _bmp_claiming(width: int, height: int) -> bytes:
    return _patched(_encode(_photo((4, 4)), "BMP"), 18, struct.pack("<ii", width, height))


def _exif_rotated() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6
    return _encode(_photo(), "JPEG", exif=exif.tobytes())


def _animated_gif() -> bytes:
    frames = [_photo().convert("P"), Image.new("P", (64, 48), 3)]
    return _encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50)


def _transparent_palette() -> bytes:
    image = _photo().convert("P")
    image.info["transparency"] = 0
    return _encode(image, "PNG", transparency=0)


JPEG = _encode(_photo(), "JPEG")
PNG = _encode(_photo(), "PNG")
HEIC = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>'


def _file(name: str, data: bytes, kind: str = "image/jpeg") -> tuple[str, tuple[str, bytes, str]]:
    return ("files", (name, data, kind))


def _upload(name: str, data: bytes, kind: str = "image/jpeg") -> dict[str, Any]:
    return {"files": [_file(name, data, kind)]}


def _among_good(name: str, data: bytes, kind: str = "image/png") -> dict[str, Any]:
    return {"files": [_file("good.jpg", JPEG), _file(name, data, kind), _file("good.png", PNG, "image/png")]}


def _chunked_over_limit() -> Iterator[bytes]:
    yield b'--zzz\r\nContent-Disposition: form-data; name="files"; filename="a.jpg"\r\n\r\n'
    for _ in range(400):
        yield b"x" * 4096


@dataclass
class Case:
    """One bad (or careless) request: how to send it, the status it must get, and what the answer says."""

    request: Callable[[], dict[str, Any]]
    status: int
    detail: str = ""  # substring of the error body's detail (4xx)
    image_error: str | None = None  # 200 cases: the marked image's error substring (None: all labelled)
    method: str = "POST"
    path: str = "/v1/labels"
    extra: dict[str, Any] = field(default_factory=dict)


CASES: dict[str, Case] = {
    # The request itself
    "no files field": Case(lambda: {"data": {"other": "x"}}, 422, "files: Field required"),
    "json body": Case(lambda: {"json": {"files": ["a.jpg"]}}, 422, "files: Field required"),
    "files sent as a text field": Case(lambda: {"data": {"files": "a.jpg"}}, 422, "Expected UploadFile"),
    "multipart without boundary": Case(
        lambda: {"content": b"abc", "headers": {"content-type": "multipart/form-data"}}, 400, "Missing boundary"
    ),
    "malformed multipart": Case(
        lambda: {"content": b"--zzz\r\n" + b"x" * 5000, "headers": MULTIPART}, 400, "Invalid multipart data"
    ),
    "only the closing boundary": Case(
        lambda: {"content": b"--zzz--\r\n", "headers": MULTIPART}, 422, "files: Field required"
    ),
    "body over the limit (Content-Length)": Case(
        lambda: {"content": b"x" * 1_400_000, "headers": MULTIPART}, 413, "exceeds the limit"
    ),
    "chunked body over the limit": Case(
        lambda: {"content": _chunked_over_limit(), "headers": MULTIPART}, 413, "request body exceeds"
    ),
    "too many files": Case(lambda: {"files": [_file(f"{i}.jpg", JPEG) for i in range(5)]}, 413, "the limit is 4"),
    "file over max_upload_bytes": Case(
        lambda: _upload("big.png", b"\x89PNG\r\n\x1a\n" + bytes(300_001), "image/png"),
        413,
        "exceeds the limit of 300000",
    ),
    "GET on the upload route": Case(lambda: {}, 405, "Method Not Allowed", method="GET"),
    "unknown route": Case(lambda: {}, 404, "Not Found", method="GET", path="/v1/nothing"),
    # Types: declared and sniffed
    "declared text/plain": Case(lambda: _upload("notes.txt", b"hello\n", "text/plain"), 415, "'text/plain'"),
    "jpeg declared application/pdf": Case(
        lambda: _upload("doc.pdf", JPEG, "application/pdf"), 415, "'application/pdf'"
    ),
    "text declared image/jpeg": Case(lambda: _upload("fake.jpg", b"just text\n"), 415, "unrecognised content"),
    "svg": Case(lambda: _upload("logo.svg", SVG, "image/svg+xml"), 415, "'image/svg+xml'"),
    "heic declared image/heic": Case(lambda: _upload("p.heic", HEIC, "image/heic"), 415, "'image/heic'"),
    "heic declared octet-stream": Case(
        lambda: _upload("p.heic", HEIC, "application/octet-stream"), 415, "unrecognised content"
    ),
    "html declared image/png": Case(
        lambda: _upload("x.png", b"<html><body>hi</body></html>", "image/png"), 415, "unrecognised content"
    ),
    "empty file with a bad type": Case(lambda: _upload("e.txt", b"", "text/plain"), 415, "'text/plain'"),
    # One image that cannot be decoded: 422 with the reason
    "zero bytes": Case(lambda: _upload("empty.jpg", b""), 422, "empty file (0 bytes)"),
    "truncated jpeg": Case(lambda: _upload("cut.jpg", JPEG[: len(JPEG) // 2]), 422, "truncated"),
    "jpeg header only": Case(lambda: _upload("head.jpg", b"\xff\xd8\xff" + b"0" * 50), 422, UNREADABLE),
    "truncated png": Case(lambda: _upload("cut.png", PNG[: len(PNG) // 2], "image/png"), 422, "truncated"),
    "png with a bad crc": Case(lambda: _upload("crc.png", _png_bad_crc(), "image/png"), 422, UNREADABLE),
    "png with garbage pixel data": Case(
        lambda: _upload("idat.png", _png_bad_idat(), "image/png"), 422, "cannot decode image"
    ),
    "png bomb (100k x 100k)": Case(
        lambda: _upload("bomb.png", png_claiming(100_000, 100_000), "image/png"), 422, "decompression bomb"
    ),
    "png over the decode budget": Case(
        lambda: _upload("rgba.png", _encode(Image.new("RGBA", (1500, 1500)), "PNG"), "image/png"),
        422,
        "image too large to decode",
    ),
    "png of zero width": Case(lambda: _upload("zero.png", png_claiming(0, 10), "image/png"), 422, UNREADABLE),
    "bmp bomb": Case(
        lambda: _upload("bomb.bmp", _bmp_claiming(90_000, 90_000), "image/bmp"), 422, "decompression bomb"
    ),
    "gif header only": Case(lambda: _upload("head.gif", b"GIF89a", "image/gif"), 422, UNREADABLE),
    "truncated gif": Case(lambda: _upload("cut.gif", _encode(_photo(), "GIF")[:20], "image/gif"), 422, UNREADABLE),
    "tiff with a broken directory": Case(
        lambda: _upload("bad.tif", b"II*\x00\xff\xff\xff\x00" + b"\x00" * 40, "image/tiff"), 422, UNREADABLE
    ),
    "truncated webp": Case(
        lambda: _upload("cut.webp", _encode(_photo(), "WEBP")[:40], "image/webp"), 422, "cannot decode image"
    ),
    # One bad image among good ones: 200, only that image marked
    "zero bytes among good": Case(lambda: _among_good("empty.png", b""), 200, image_error="empty file (0 bytes)"),
    "truncated among good": Case(lambda: _among_good("cut.png", PNG[:80]), 200, image_error="truncated"),
    "bomb among good": Case(
        lambda: _among_good("bomb.png", png_claiming(100_000, 100_000)), 200, image_error="decompression bomb"
    ),
    "over budget among good": Case(
        lambda: _among_good("rgba.png", _encode(Image.new("RGBA", (1500, 1500)), "PNG")),
        200,
        image_error="image too large to decode",
    ),
    # Careless but valid: labelled
    "cmyk jpeg": Case(lambda: _upload("cmyk.jpg", _encode(_photo().convert("CMYK"), "JPEG")), 200),
    "16-bit greyscale png": Case(
        lambda: _upload(
            "g16.png",
            _encode(Image.fromarray(np.arange(64 * 48, dtype=np.uint16).reshape(48, 64) * 20), "PNG"),
            "image/png",
        ),
        200,
    ),
    "rgba png": Case(lambda: _upload("a.png", _encode(_photo().convert("RGBA"), "PNG"), "image/png"), 200),
    "palette png with transparency": Case(lambda: _upload("p.png", _transparent_palette(), "image/png"), 200),
    "1-bit png": Case(lambda: _upload("bw.png", _encode(_photo().convert("1"), "PNG"), "image/png"), 200),
    "float tiff": Case(lambda: _upload("f.tif", _encode(_photo().convert("F"), "TIFF"), "image/tiff"), 200),
    "animated gif": Case(lambda: _upload("anim.gif", _animated_gif(), "image/gif"), 200),
    "exif-rotated jpeg": Case(lambda: _upload("rot.jpg", _exif_rotated()), 200),
    "progressive jpeg": Case(lambda: _upload("prog.jpg", _encode(_photo(), "JPEG", progressive=True)), 200),
    "1x1 image": Case(lambda: _upload("dot.png", _encode(Image.new("RGB", (1, 1)), "PNG"), "image/png"), 200),
    "4000x1 strip": Case(lambda: _upload("line.png", _encode(Image.new("L", (4000, 1)), "PNG"), "image/png"), 200),
    "large jpeg decoded at reduced scale": Case(lambda: _upload("big.jpg", image_bytes(size=(3000, 2000))), 200),
    "png declared image/jpeg": Case(lambda: _upload("png.jpg", PNG, "image/jpeg"), 200),
    "jpeg declared octet-stream": Case(lambda: _upload("x.bin", JPEG, "application/octet-stream"), 200),
    "type with parameters": Case(lambda: _upload("x.jpg", JPEG, "image/jpeg; charset=binary"), 200),
    "path-traversal file name": Case(lambda: _upload("../../etc/passwd.jpg", JPEG), 200),
    "long unicode file name": Case(lambda: _upload("Kleid-" + "ü" * 500 + ".jpg", JPEG), 200),
}


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(ServeSettings(**SETTINGS), FakePredictor())) as test_client:
        wait_ready(test_client)
        yield test_client


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 25
    assert {case.status for case in CASES.values()} >= {200, 400, 404, 405, 413, 415, 422}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_gets_its_exact_status(client: TestClient, name: str) -> None:
    case = CASES[name]
    response = client.request(case.method, case.path, **case.request())
    assert response.status_code == case.status, response.text
    if case.status != 200:
        assert case.detail in response.json()["detail"]
    else:
        results = response.json()["results"]
        marked = [r for r in results if r["error"]]
        if case.image_error is None:
            assert not marked and all(r["labels"] for r in results)
        else:
            assert len(marked) == 1 and case.image_error in marked[0]["error"] and marked[0]["labels"] == {}
            assert all(r["labels"] for r in results if not r["error"])
    assert client.get("/healthz").status_code == 200
    assert 'kind="internal"' not in client.get("/metrics").text


def test_not_ready_is_503_with_retry_after():
    import threading

    gate = threading.Event()
    with TestClient(create_app(ServeSettings(**SETTINGS), FakePredictor(load_gate=gate))) as client:
        response = client.post("/v1/labels", **_upload("a.jpg", JPEG))
        gate.set()
    assert response.status_code == 503 and response.headers["Retry-After"] == "1"
    assert "model is loading" in response.json()["detail"]
