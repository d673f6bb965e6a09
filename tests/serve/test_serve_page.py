"""The web page in a real browser: Debian's Chromium driven by Playwright (never downloads a browser)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import image_bytes, live_server
from fashiontag.serve import FakePredictor

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium binary ({CHROMIUM} missing)"),
]


@pytest.fixture
def server_url() -> Iterator[str]:
    with live_server(FakePredictor(delay_s=0.05), max_images=2) as (host, port):
        yield f"http://{host}:{port}"


def _photos(tmp_path: Path) -> list[Path]:
    from PIL import Image, ImageDraw

    paths = []
    for name, body, background in [
        ("red-dress.jpg", (190, 40, 60), (245, 243, 240)),
        ("navy-heels.png", (35, 50, 100), (236, 240, 245)),
        ("broken.jpg", None, None),
    ]:
        path = tmp_path / name
        if body is None:
            path.write_bytes(image_bytes()[:300])  # truncated: shows an error card
        else:
            image = Image.new("RGB", (480, 360), background)
            draw = ImageDraw.Draw(image)
            draw.rounded_rectangle((170, 60, 310, 300), radius=40, fill=body)
            draw.ellipse((205, 30, 275, 90), fill=body)
            image.save(path)
        paths.append(path)
    return paths


def test_page_labels_uploaded_photos(server_url, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    photos = _photos(tmp_path)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            choosers: list = []
            page.on("filechooser", lambda chooser: choosers.append(chooser))  # before goto: intercept from the start
            page.goto(server_url)
            expect(page.locator("#model-status")).to_have_attribute("data-state", "ready")
            zone = page.locator("#dropzone")
            page.keyboard.press("Tab")  # the drop zone is the first focusable control
            expect(zone).to_be_focused()
            page.keyboard.press("Enter")  # Enter on the focused drop zone opens the file picker
            deadline = time.monotonic() + 10
            while not choosers and time.monotonic() < deadline:
                page.wait_for_timeout(50)
            assert choosers, "Enter on the drop zone did not open the file picker"
            choosers[0].set_files([str(p) for p in photos])
            expect(page.locator(".card")).to_have_count(3)
            expect(page.locator(".card[aria-busy]")).to_have_count(0)
            expect(page.locator("#summary")).to_contain_text("Labelled 2 photos")
            cards = page.locator(".card")
            assert cards.locator(".head").count() == 4  # two heads on each of the two good photos
            expect(page.locator(".card", has_text="broken.jpg").locator(".card-error")).to_contain_text("truncated")
            expect(page.locator(".badge-level").first).to_contain_text("Level reached")
            assert page.locator(".card img").count() == 2  # object-URL previews of the two photos
            expect(page.locator(".card", has_text="broken.jpg").locator(".no-preview")).to_be_visible()
            page.locator("#dropzone").blur()
            shot = tmp_path / "serve_page.png"  # never into docs/ (tracked): docs/screenshot_serve.py makes that one
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
        finally:
            browser.close()
