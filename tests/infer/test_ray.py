"""``predict --engine ray`` against a real Ray cluster started on 127.0.0.1: same rows as the local path, resume,
Parquet inputs, and a killed actor that loses and duplicates no row."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

ray = pytest.importorskip("ray", reason="Ray is the optional extra fashiontag[ray] (`make install` installs it)")
psutil = pytest.importorskip("psutil")

from fashiontag.cli.main import app  # noqa: E402
from fashiontag.infer import load, predict_files  # noqa: E402
from fashiontag.infer._ray import RayOptions, finished_shards, predict_ray, read_output  # noqa: E402
from fashiontag.infer._ray_cluster import cluster_processes, start_local_cluster, stop_local_cluster  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.realdata]
N_PHOTOS = 2000


@pytest.fixture(scope="module")
def cluster():
    """``ray start --head --num-cpus 2`` on loopback in a temp dir; yields (address, temp dir); stopped after
    (only its own processes: other Ray sessions on the machine go on)."""
    address, temp = start_local_cluster(cpus=2)
    try:
        yield address, temp
    finally:
        ray.shutdown()
        stop_local_cluster(temp)
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="module")
def photos(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A path list of 2,000 FPI photos, plus one broken file and one missing path (error rows)."""
    files = sorted((shared_data / "fpi_small" / "images").glob("*.jpg"))[:N_PHOTOS]
    if len(files) < N_PHOTOS:
        pytest.skip(f"need {N_PHOTOS} FPI photos, found {len(files)}")
    folder = tmp_path_factory.mktemp("photos")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    listing = folder / "list.txt"
    extra = [str(folder / "broken.jpg"), str(folder / "missing.jpg")]
    listing.write_text("\n".join([*map(str, files[:1000]), *extra, *map(str, files[1000:])]) + "\n")
    return listing


@pytest.fixture(scope="module")
def local_rows(onnx_model_dir: Path, photos: Path, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("local") / "preds.csv"
    predict_files(load(onnx_model_dir, backend="onnx"), [str(photos)], out, progress=False)
    return pd.read_csv(out, dtype=str, keep_default_na=False)


def test_same_rows_as_local_then_resume(cluster, onnx_model_dir, photos, local_rows, tmp_path):
    address, _ = cluster
    out = tmp_path / "preds.parquet"
    summary = predict_ray(
        onnx_model_dir, [str(photos)], out, RayOptions(address=address, shard_size=500), progress=False
    )
    assert summary.processed == N_PHOTOS + 2 and len(summary.failures) == 2
    rows = read_output(out)
    assert len(local_rows) == N_PHOTOS + 2
    pd.testing.assert_frame_equal(rows, local_rows)  # same columns, same order, same labels and confidences
    assert set(rows.loc[rows["error"] != "", "path"].map(lambda p: Path(p).name)) == {"broken.jpg", "missing.jpg"}
    assert len(finished_shards(out)) == 5 and not [p for p in out.iterdir() if p.name.endswith(".tmp")]

    first = finished_shards(out)[-1]
    first.unlink()  # as if the run had stopped before its last shard
    again = predict_ray(onnx_model_dir, [str(photos)], out, RayOptions(address=address, shard_size=500), progress=False)
    assert again.skipped == 2000 and again.processed == 2
    resumed = read_output(out)
    assert resumed["path"].is_unique and set(resumed["path"]) == set(local_rows["path"])


def _actor_processes(temp: Path) -> list:
    """This cluster's inference actors (``ray::MapWorker(MapBatches(OnnxLabelActor))``), not yet exited."""
    actors = []
    for proc in cluster_processes(temp):
        try:
            if "OnnxLabelActor" in " ".join(proc.cmdline()) and proc.status() != psutil.STATUS_ZOMBIE:
                actors.append(proc)
        except psutil.Error:  # exited meanwhile
            continue
    return actors


def test_killed_actor_loses_and_duplicates_no_row(cluster, onnx_model_dir, photos, local_rows, tmp_path):
    address, temp = cluster
    out = tmp_path / "preds.parquet"
    options = RayOptions(address=address, shard_size=100, batch_size=32, decode_batch=32)
    result: dict = {}
    run = threading.Thread(
        target=lambda: result.update(summary=predict_ray(onnx_model_dir, [str(photos)], out, options, progress=False))
    )
    run.start()
    killed, shards_at_kill = None, None
    deadline = time.monotonic() + 120
    while run.is_alive() and time.monotonic() < deadline and killed is None:
        actors = _actor_processes(temp)
        if actors and finished_shards(out):  # labelling is under way: kill an actor mid-batch
            shards_at_kill = len(finished_shards(out))
            killed = actors[0].pid
            actors[0].kill()
        time.sleep(0.02)
    run.join(timeout=300)
    assert killed is not None, "the run finished before an actor could be killed"
    assert shards_at_kill < (N_PHOTOS + 2) // 100, "killed after the last shard: not mid-run"
    assert not psutil.pid_exists(killed) or psutil.Process(killed).status() == psutil.STATUS_ZOMBIE
    rows = read_output(out)
    assert result["summary"].processed == N_PHOTOS + 2
    pd.testing.assert_frame_equal(rows, local_rows)  # nothing lost, nothing twice, same labels


def test_parquet_inputs_paths_and_bytes(cluster, onnx_model_dir, photos, local_rows, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    address, _ = cluster
    paths = [p for p in photos.read_text().split() if Path(p).exists()][:40]
    pq.write_table(pa.table({"path": paths[:20]}), tmp_path / "paths.parquet")
    blobs = [Path(p).read_bytes() for p in paths[20:]]
    pq.write_table(pa.table({"path": paths[20:], "image": blobs}), tmp_path / "bytes.parquet")
    out = tmp_path / "preds.csv"
    inputs = [str(tmp_path / "paths.parquet"), str(tmp_path / "bytes.parquet")]
    summary = predict_ray(onnx_model_dir, inputs, out, RayOptions(address=address), progress=False)
    assert summary.processed == 40 and not summary.failures
    rows = read_output(out).set_index("path").sort_index()
    expected = local_rows.set_index("path").loc[paths].sort_index()
    pd.testing.assert_frame_equal(rows, expected)  # bytes decode to the same labels as the files
    assert predict_ray(onnx_model_dir, inputs, out, RayOptions(address=address), progress=False).processed == 0


def test_cli_engine_ray(cluster, onnx_model_dir, photos, tmp_path):
    address, _ = cluster
    listing = tmp_path / "few.txt"
    listing.write_text("\n".join(photos.read_text().split()[:10]) + "\n")
    out = tmp_path / "preds.csv"
    result = CliRunner().invoke(
        app,
        [
            "predict",
            str(onnx_model_dir),
            str(listing),
            "--out",
            str(out),
            "--engine",
            "ray",
            "--address",
            address,
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "10 labelled" in result.output and f"wrote 1 shard(s) to {out}: part-000000.csv" in result.output
    bad = CliRunner().invoke(
        app,
        [
            "predict",
            str(onnx_model_dir),
            str(listing),
            "--out",
            str(tmp_path / "p.jsonl"),
            "--engine",
            "ray",
            "--address",
            address,
        ],
    )
    assert bad.exit_code == 2 and ".parquet or .csv" in " ".join(bad.output.replace("│", " ").split())


def test_unreachable_address_is_one_clear_error(onnx_model_dir, tmp_path):
    listing = tmp_path / "one.txt"
    listing.write_text("a.jpg\n")
    ray.shutdown()  # this process may still be connected to the test cluster (then that connection is used)
    start = time.monotonic()
    result = CliRunner().invoke(
        app,
        [
            "predict",
            str(onnx_model_dir),
            str(listing),
            "--out",
            str(tmp_path / "p.csv"),
            "--engine",
            "ray",
            "--address",
            "127.0.0.1:1",
        ],
    )
    assert result.exit_code == 2 and "no Ray cluster answers there" in " ".join(result.output.replace("│", " ").split())
    assert time.monotonic() - start < 30 and not (tmp_path / "p.csv").exists()


def test_tta_with_the_ray_engine_is_refused_not_dropped(onnx_model_dir, tmp_path):
    """Ray workers label single views: `--tta flip` there would have been silently ignored."""
    listing = tmp_path / "one.txt"
    listing.write_text("a.jpg\n")
    out = tmp_path / "p.csv"
    args = ["predict", str(onnx_model_dir), str(listing), "--out", str(out), "--engine", "ray", "--tta", "flip"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "--engine local only" in " ".join(result.output.replace("│", " ").split())
    assert not out.exists()
