"""The review loop against a real Label Studio server (installed by ``make labelstudio-env`` in ``.lsvenv``).

Label Studio starts on loopback with a temporary data dir (SQLite) and a user from environment variables;
the test creates a project with our config, imports exported tasks, connects ``fashiontag serve --labelstudio``
as the ML backend and reads its live predictions, submits annotations (one skipped), exports them and
imports the export as a manifest that the manifest reader and the taxonomy mapping accept.
"""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from fashiontag.cli.main import app
from fashiontag.data.mapping import map_items
from fashiontag.data.readers import read_dataset
from fashiontag.data.taxonomy import Taxonomy

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
LSVENV = Path(os.environ.get("FASHIONTAG_LSVENV", REPO / ".lsvenv"))
TOKEN = "fashiontag-test-token-0123456789"
runner = CliRunner()


def _label_studio() -> Path:
    binary = LSVENV / "bin" / "label-studio"
    failed = LSVENV / ".failed"
    if failed.exists():
        pytest.skip(f"Label Studio could not be installed: {failed.read_text().strip()}")
    if not binary.exists():
        pytest.skip(f"Label Studio is not installed in {LSVENV}: run `make labelstudio-env`")
    return binary


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(url: str, process: subprocess.Popen, log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{url} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} not up after {timeout_s} s:\n{log.read_text()[-3000:]}")


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "wb") as handle:
        return subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture()
def servers(tmp_path: Path, dataset: tuple[Path, Path], model_dir: Path) -> Iterator[tuple[str, str]]:
    """(Label Studio URL, ML backend URL), both on loopback, stopped after the test."""
    binary = _label_studio()
    root = dataset[0].parent
    ls_port, ml_port = _free_port(), _free_port()
    ls_url, ml_url = f"http://127.0.0.1:{ls_port}", f"http://127.0.0.1:{ml_port}"
    env = {
        **os.environ,
        "LABEL_STUDIO_BASE_DATA_DIR": str(tmp_path / "ls"),
        "LABEL_STUDIO_HOST": ls_url,
        "LABEL_STUDIO_USERNAME": "reviewer@example.com",
        "LABEL_STUDIO_PASSWORD": "review-pass-123",
        "LABEL_STUDIO_USER_TOKEN": TOKEN,
        "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
        "LOCAL_FILES_SERVING_ENABLED": "true",
        "LOCAL_FILES_DOCUMENT_ROOT": str(root),
        "SSRF_PROTECTION_ENABLED": "false",
        "USE_DEFAULT_BANNED_SUBNETS": "false",
    }  # backend on loopback
    studio = _start(
        [
            str(binary),
            "start",
            "--no-browser",
            "--internal-host",
            "127.0.0.1",
            "-p",
            str(ls_port),
            "--data-dir",
            str(tmp_path / "ls"),
            "--enable-legacy-api-token",
        ],
        env,
        tmp_path / "ls.log",
    )
    backend = _start(
        [
            sys.executable,
            "-m",
            "fashiontag.cli.main",
            "serve",
            str(model_dir),
            "--labelstudio",
            "--port",
            str(ml_port),
            "--log-level",
            "warning",
        ],
        {**os.environ, "OMP_NUM_THREADS": "1"},
        tmp_path / "ml.log",
    )
    try:
        _wait(f"{ml_url}/readyz", backend, tmp_path / "ml.log", 120)
        _wait(f"{ls_url}/health", studio, tmp_path / "ls.log", 240)
        yield ls_url, ml_url
    finally:
        _stop(backend)
        _stop(studio)


def _api(ls_url: str) -> httpx.Client:
    return httpx.Client(base_url=ls_url, headers={"Authorization": f"Token {TOKEN}"}, timeout=60)


def _true_path(path: str) -> list[str]:
    kind = Path(path).name.split("_")[0].capitalize()
    return ["Tops" if kind in ("Tshirts", "Shirts") else "Shoes", kind]


def test_label_studio_round_trip(
    servers: tuple[str, str], dataset: tuple[Path, Path], model_dir: Path, taxonomy: Taxonomy, tmp_path: Path
) -> None:
    started = time.monotonic()
    ls_url, ml_url = servers
    root = dataset[0].parent
    config, preds, tasks_file = tmp_path / "config.xml", tmp_path / "preds.csv", tmp_path / "tasks.json"
    for args in (
        ["labelstudio", "config", str(dataset[1]), "--out", str(config)],
        ["predict", str(model_dir), str(root / "images"), "--out", str(preds), "--no-progress"],
        [
            "labelstudio",
            "export",
            str(preds),
            "--taxonomy",
            str(dataset[1]),
            "--root",
            str(root),
            "--out",
            str(tasks_file),
        ],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    exported = json.loads(tasks_file.read_text())
    with _api(ls_url) as api:
        project = api.post("/api/projects", json={"title": "review", "label_config": config.read_text()})
        assert project.status_code == 201, project.text
        pid = project.json()["id"]
        # local-files URLs are served only under a project's local storage (no sync: the tasks come from us)
        storage = api.post(
            "/api/storages/localfiles",
            json={"project": pid, "path": str(root / "images"), "title": "photos", "use_blob_urls": False},
        )
        assert storage.status_code == 201, storage.text
        imported = api.post(f"/api/projects/{pid}/import", json=exported)
        assert imported.status_code == 201 and imported.json()["task_count"] == len(exported), imported.text
        tasks = api.get("/api/tasks", params={"project": pid, "page_size": 100}).json()["tasks"]
        assert len(tasks) == len(exported)

        backend = api.post("/api/ml", json={"url": ml_url, "project": pid, "title": "fashiontag"})
        assert backend.status_code == 201, backend.text
        assert backend.json()["state"] == "CO", backend.json()  # connected: /health and /setup answered
        action = api.post(
            "/api/dm/actions",
            params={"id": "retrieve_tasks_predictions", "project": pid},
            json={"selectedItems": {"all": True, "excluded": []}},
        )
        assert action.status_code == 200, action.text
        predictions = api.get("/api/predictions", params={"project": pid}).json()
        live = {p["task"]: p for p in predictions if p["model_version"] == "fashiontag:tiny"}
        from_file = {p["task"]: p for p in predictions if p["model_version"] == "fashiontag"}
        assert len(live) == len(tasks) and len(from_file) == len(tasks)
        for task_id, prediction in live.items():  # same model, same pixels: live pre-label == exported one
            tree = {r["from_name"]: r["value"] for r in prediction["result"]}
            expected = {r["from_name"]: r["value"] for r in from_file[task_id]["result"]}
            assert tree == expected, (tmp_path / "ml.log").read_text()[-3000:]

        path_of = {t["id"]: t["data"]["path"] for t in tasks}
        cancelled = tasks[0]["id"]
        for task in tasks:
            result = [
                {
                    "from_name": "taxonomy",
                    "to_name": "image",
                    "type": "taxonomy",
                    "value": {"taxonomy": [_true_path(path_of[task["id"]])]},
                },
                {"from_name": "colour", "to_name": "image", "type": "choices", "value": {"choices": ["Red"]}},
            ]
            body = {"result": result, "lead_time": 2.5, "was_cancelled": task["id"] == cancelled}
            answer = api.post(f"/api/tasks/{task['id']}/annotations", json=body)
            assert answer.status_code == 201, answer.text
        export = api.get(f"/api/projects/{pid}/export", params={"exportType": "JSON"})
        assert export.status_code == 200, export.text
    export_file = tmp_path / "export.json"
    export_file.write_bytes(export.content)

    out = root / "reviewed.csv"
    result = runner.invoke(
        app, ["labelstudio", "import", str(export_file), "--taxonomy", str(dataset[1]), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "1 task(s) skipped (cancelled)" in result.output
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert len(rows) == len(tasks) - 1 and all(r["annotator"] and r["annotated_at"] for r in rows)
    mapped = map_items(read_dataset("manifest", out).items, taxonomy, "manifest")
    assert mapped.unmapped == {}
    for path, leaf in zip(mapped.items["path"], mapped.items["leaf"], strict=True):
        assert leaf == " > ".join(_true_path(path))
    assert set(mapped.items["colour"]) == {"Red"}
    # ... and adapt: the manifest trains as is, starting from the model that pre-labelled it
    result = runner.invoke(
        app,
        [
            "train",
            "--data",
            str(out),
            "--reader",
            "manifest",
            "--source",
            "manifest",
            "--taxonomy",
            str(dataset[1]),
            "--init-from",
            str(model_dir),
            "--out",
            str(tmp_path / "adapted"),
            "epochs=1",
            "image_size=32",
            "progress_bar=false",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "adapted" / "model" / "fashiontag.json").is_file()
    print(f"\nround trip after both servers were up: {time.monotonic() - started:.1f} s")
