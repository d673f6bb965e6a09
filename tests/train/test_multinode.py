"""Training across machines: two torchrun "nodes" on loopback (Lightning DDP, gloo), one killed mid-run, the
relaunch resumes from last.ckpt; the decoded cache read lazily, each rank only its own rows."""

from __future__ import annotations

import os
import pickle
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DistributedSampler

from fashiontag.config import build_config
from fashiontag.data.synthetic import manifest_cli_args
from fashiontag.models import load_network
from fashiontag.train._config import TrainConfig
from fashiontag.train._distributed import (
    LazyRows,
    MemmapRowsDataset,
    distributed_kwargs,
    global_rank,
    wait_for_leader,
)


def test_lazy_rows_read_only_what_is_indexed(tmp_path):
    images = np.memmap(tmp_path / "images.u8", dtype=np.uint8, mode="w+", shape=(10, 4, 4, 3))
    images[:] = np.arange(10, dtype=np.uint8)[:, None, None, None]
    images.flush()
    view = LazyRows(
        np.memmap(tmp_path / "images.u8", dtype=np.uint8, mode="r", shape=(10, 4, 4, 3)), np.array([7, 2, 5, 9])
    )
    assert view.shape == (4, 4, 4, 3) and len(view) == 4
    assert view[np.array([3, 0, 1])][:, 0, 0, 0].tolist() == [9, 7, 2]  # any order, read sorted
    assert view[1][0, 0, 0] == 2 and np.asarray(view)[:, 0, 0, 0].tolist() == [7, 2, 5, 9]
    copy = pickle.loads(pickle.dumps(view))  # a DataLoader worker / another rank reopens the file
    assert len(pickle.dumps(view)) < 2000 and copy[2][0, 0, 0] == 5

    targets = np.arange(4, dtype=np.int64)[:, None]
    data = MemmapRowsDataset(view, np.arange(4), targets, targets)
    seen = []
    for rank in range(2):  # what Lightning's DistributedSampler gives each of two ranks: disjoint halves
        rows = list(DistributedSampler(data, num_replicas=2, rank=rank, shuffle=True, seed=0))
        seen.append({int(data[i][1]) for i in rows})
    assert seen[0].isdisjoint(seen[1]) and seen[0] | seen[1] == {0, 1, 2, 3}
    assert isinstance(data[0][0], torch.Tensor) and data[0][0].dtype == torch.uint8


def test_distributed_kwargs_and_leader_wait(tmp_path, monkeypatch):
    assert distributed_kwargs(TrainConfig()) == {}
    assert distributed_kwargs(build_config(TrainConfig, ddp=True)) == {"strategy": "ddp"}
    assert distributed_kwargs(build_config(TrainConfig, num_nodes=2)) == {"strategy": "ddp", "num_nodes": 2}
    marker = tmp_path / "meta.json"
    monkeypatch.setenv("RANK", "0")
    assert wait_for_leader(marker) is False  # rank 0 builds
    monkeypatch.setenv("RANK", "1")
    with pytest.raises(TimeoutError, match="shares"):
        wait_for_leader(marker, timeout=0.2, poll=0.05)
    marker.write_text("{}")
    assert wait_for_leader(marker) is True
    monkeypatch.setenv("LOCAL_RANK", "0")  # the second machine's only process: local rank 0, but not the leader
    assert global_rank() == 1
    monkeypatch.delenv("RANK")
    monkeypatch.setenv("LOCAL_RANK", "1")  # a process Lightning's own launcher started on one machine
    assert global_rank() == 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _launch(node_rank: int, port: int, args: list[str], log: Path) -> subprocess.Popen:
    """One machine's ``torchrun --nnodes 2 --nproc-per-node 1 --node-rank i`` with a static master on loopback."""
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes",
        "2",
        "--nproc-per-node",
        "1",
        "--node-rank",
        str(node_rank),
        "--master-addr",
        "127.0.0.1",
        "--master-port",
        str(port),
        "--max-restarts",
        "0",
        "-m",
        "fashiontag.cli.main",
        "train",
        *args,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}
    return subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env, start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    """End a launcher and its worker (its own session: nothing else is touched)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)


def _worker_pid(launcher: subprocess.Popen) -> int | None:
    """The training process torchrun started (its child running fashiontag.cli.main)."""
    import psutil

    try:
        for child in psutil.Process(launcher.pid).children(recursive=True):
            if "fashiontag.cli.main" in " ".join(child.cmdline()):
                return child.pid
    except psutil.Error:
        return None
    return None


@pytest.mark.slow
def test_torchrun_two_nodes_killed_then_resumes(synthetic, tmp_path):
    pytest.importorskip("psutil")
    manifest, taxonomy = synthetic
    out = tmp_path / "run"
    epochs = 12  # enough that the first last.ckpt lands well before the end, however fast the machine
    args = [
        *manifest_cli_args(manifest, taxonomy),
        "--out",
        str(out),
        "--backbone",
        "smallcnn",
        "pretrained=false",
        "image_size=32",
        "input_size=32",
        f"epochs={epochs}",
        "batch_size=4",
        "head_epochs=0",
        "early_stopping_patience=100",
        "progress_bar=false",
        "accelerator=cpu",
        "devices=1",
        "num_nodes=2",
        "lazy_cache=true",
    ]
    last = out / "checkpoints" / "last.ckpt"

    port = _free_port()
    nodes = [_launch(rank, port, args, tmp_path / f"first{rank}.log") for rank in (0, 1)]
    killed_at = None
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and all(n.poll() is None for n in nodes):
            worker = _worker_pid(nodes[1])
            if last.exists() and worker:
                time.sleep(0.2)  # let rank 0 finish writing it
                killed_at = torch.load(last, map_location="cpu", weights_only=True)
                os.kill(worker, signal.SIGKILL)  # node 1 dies mid-run
                break
            time.sleep(0.05)
        for node in nodes:  # the job is torn down, as a scheduler would after a node loss
            try:
                node.wait(timeout=60)
            except subprocess.TimeoutExpired:
                _stop(node)
    finally:
        for node in nodes:
            _stop(node)
    logs = "".join((tmp_path / f"first{r}.log").read_text()[-3000:] for r in (0, 1))
    assert killed_at is not None, "no last.ckpt before the run ended:\n" + logs
    assert killed_at["epoch"] < epochs - 1, "killed after the last epoch: not mid-run"
    assert nodes[1].returncode != 0 and not (out / "model" / "fashiontag.json").exists(), logs

    port = _free_port()
    nodes = [_launch(rank, port, args, tmp_path / f"again{rank}.log") for rank in (0, 1)]
    try:
        for node in nodes:
            node.wait(timeout=600)
    finally:
        for node in nodes:
            _stop(node)
    logs = [(tmp_path / f"again{r}.log").read_text() for r in (0, 1)]
    assert [n.returncode for n in nodes] == [0, 0], logs[0][-3000:] + logs[1][-3000:]
    assert "Restoring states from the checkpoint path at" in logs[0] and str(last) in logs[0]
    assert "GLOBAL_RANK: 1" in logs[1] or "world_size: 2" in "".join(logs).lower()
    final = torch.load(last, map_location="cpu", weights_only=True)
    assert final["global_step"] > killed_at["global_step"] and final["epoch"] >= epochs - 1
    net = load_network(out / "model")
    with torch.no_grad():
        assert list(net(torch.zeros(1, 32, 32, 3, dtype=torch.uint8))) == net.heads
