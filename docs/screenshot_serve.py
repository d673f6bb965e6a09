"""The README's picture of the web page, from a real model: ``fashiontag serve MODEL``, photos uploaded in
Debian's Chromium (Playwright), a full-page screenshot. The browser test writes its own screenshot under pytest's
temporary folder; only this script writes into docs/.

Run (after ``make demo``):

    .venv/bin/python docs/screenshot_serve.py --model runs/demo/train/model --out docs/images/serve_page.png \\
        ../shared/data/fpi_small/images/15970.jpg ../shared/data/fpi_small/images/39386.jpg \\
        ../shared/data/fpi_small/images/59263.jpg
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_ready(url: str, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:  # noqa: S310 - loopback
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"the service at {url} did not become ready in {seconds:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("docs/images/serve_page.png"))
    parser.add_argument("photos", type=Path, nargs="+")
    args = parser.parse_args()
    from playwright.sync_api import expect, sync_playwright

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    command = [str(Path(sys.executable).parent / "fashiontag"), "serve", str(args.model), "--host", "127.0.0.1",
               "--port", str(port), "--log-level", "warning"]
    server = subprocess.Popen(command)
    try:
        _wait_ready(url)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(url)
            expect(page.locator("#model-status")).to_have_attribute("data-state", "ready")
            page.locator("#file-input").set_input_files([str(p) for p in args.photos])
            expect(page.locator(".card")).to_have_count(len(args.photos))
            expect(page.locator(".card[aria-busy]")).to_have_count(0)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(args.out), full_page=True)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
