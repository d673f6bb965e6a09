"""Thread count from affinity and cgroup quota (fake cgroup files), and ``--threads`` honoured by a command."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from fashiontag import _threads
from fashiontag._threads import available_cores, cgroup_cpu_limit, configure_threads, onnxruntime_threads
from fashiontag.cli.main import app


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")


def test_cgroup_v2_quota_tightest_on_the_path(tmp_path: Path) -> None:
    proc = tmp_path / "cgroup"
    _write(proc, "0::/user.slice/job")
    _write(tmp_path / "fs" / "user.slice" / "job" / "cpu.max", "max 100000")
    _write(tmp_path / "fs" / "user.slice" / "cpu.max", "150000 100000")
    assert cgroup_cpu_limit(proc, tmp_path / "fs") == pytest.approx(1.5)
    _write(tmp_path / "fs" / "user.slice" / "cpu.max", "max 100000")
    assert cgroup_cpu_limit(proc, tmp_path / "fs") is None


def test_cgroup_v2_namespace_reads_the_mount(tmp_path: Path) -> None:
    proc = tmp_path / "cgroup"
    _write(proc, "0::/")
    _write(tmp_path / "fs" / "cpu.max", "50000 100000")
    assert cgroup_cpu_limit(proc, tmp_path / "fs") == pytest.approx(0.5)


def test_cgroup_v1_cfs_quota(tmp_path: Path) -> None:
    proc = tmp_path / "cgroup"
    _write(proc, "5:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n0::/")
    group = tmp_path / "fs" / "cpu,cpuacct" / "docker" / "abc"
    _write(group / "cpu.cfs_quota_us", "300000")
    _write(group / "cpu.cfs_period_us", "100000")
    assert cgroup_cpu_limit(proc, tmp_path / "fs") == pytest.approx(3.0)
    _write(group / "cpu.cfs_quota_us", "-1")
    assert cgroup_cpu_limit(proc, tmp_path / "fs") is None


def test_no_cgroup_file_means_no_limit(tmp_path: Path) -> None:
    assert cgroup_cpu_limit(tmp_path / "absent", tmp_path) is None


def test_available_cores_caps_affinity_by_quota(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    proc = tmp_path / "cgroup"
    _write(proc, "0::/")
    _write(tmp_path / "cpu.max", "150000 100000")
    assert available_cores(proc, tmp_path) == 2  # 1.5 CPUs of quota: 2 threads, not 8
    _write(tmp_path / "cpu.max", "max 100000")
    assert available_cores(proc, tmp_path) == 8
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3}, raising=False)  # taskset -c 3
    assert available_cores(proc, tmp_path) == 1


@pytest.fixture()
def restore_threads(monkeypatch: pytest.MonkeyPatch):
    for name in _threads.THREAD_ENV:
        monkeypatch.delenv(name, raising=False)
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_resolution_order(restore_threads: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_threads, "available_cores", lambda *a: 7)
    assert _threads.resolve_threads(None) == 7
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert _threads.resolve_threads(None) == 3 and _threads.resolve_threads(2) == 2


def test_configure_sets_torch_env_and_onnxruntime(restore_threads: None) -> None:
    assert configure_threads(1) == 1
    assert torch.get_num_threads() == 1 and onnxruntime_threads() == 1
    assert all(os.environ[name] == "1" for name in _threads.THREAD_ENV)  # child processes inherit it


def test_command_honours_threads_option(restore_threads: None) -> None:
    torch.set_num_threads(2)
    result = CliRunner().invoke(app, ["backbones", "--json", "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert torch.get_num_threads() == 1 and os.environ["OMP_NUM_THREADS"] == "1" and onnxruntime_threads() == 1


def test_every_command_takes_threads() -> None:
    import typer.main

    group = typer.main.get_command(app)
    commands = []
    for name, command in group.commands.items():
        commands += (
            [(f"{name} {sub}", c) for sub, c in command.commands.items()]
            if hasattr(command, "commands")
            else [(name, command)]
        )
    missing = [name for name, command in commands if "--threads" not in {o for p in command.params for o in p.opts}]
    assert not missing, f"commands without --threads: {missing}"
