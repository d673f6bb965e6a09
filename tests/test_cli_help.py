"""``--help`` shows defaults, the top-level help has no dangling "Examples:", and export/predict/serve take
``--config FILE.yaml`` plus ``key=value`` like train and evaluate."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from fashiontag.cli import _train
from fashiontag.cli.main import app
from fashiontag.train import TrainConfig

runner = CliRunner()


def test_top_level_help_has_no_dangling_examples() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0 and "Examples:" not in result.output


def test_train_help_shows_every_section_and_default() -> None:
    result = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "400"})
    assert result.exit_code == 0
    text = " ".join(result.output.replace("│", " ").split())
    for section in ("data:", "model:", "optim:", "trainer:", "top level:"):
        assert section in text
    for key in ("lr=0.001", "epochs=5", "image_size=64", "backbone='tf_efficientnet_lite0'", "seed=0"):
        assert key in text, key
    assert "[default: (tf_efficientnet_lite0)]" in text  # an option's default, read from TrainConfig
    assert _train._default("backbone") == TrainConfig().model.backbone


def test_train_config_imports_no_torch() -> None:
    import subprocess
    import sys

    code = "import sys; from fashiontag.train import TrainConfig; TrainConfig(); print('torch' in sys.modules)"
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert shown.strip() == "False"


@pytest.mark.parametrize("command", ["export", "predict", "serve", "train", "evaluate"])
def test_commands_take_config_and_show_defaults(command: str) -> None:
    params = {o for p in typer.main.get_command(app).commands[command].params for o in p.opts}
    assert "--config" in params and "--threads" in params
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "[default:" in result.output


def test_export_config_file_and_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fashiontag import export

    seen = {}
    monkeypatch.setattr(export, "export_model", lambda model, fmt, **kw: seen.update(kw, format=fmt) or {})
    (tmp_path / "export.yaml").write_text("int8: true\nopset: 17\nint8_options: {per_channel: false}\n")
    _tiny_model(tmp_path / "model")
    result = runner.invoke(
        app,
        [
            "export",
            str(tmp_path / "model"),
            "--config",
            str(tmp_path / "export.yaml"),
            "--opset",
            "18",
            "report_size=0",
            "int8_options.calibrate_method=percentile",
        ],
    )
    assert seen["int8"] is True and seen["opset"] == 18 and seen["report_size"] is None, result.output
    assert seen["int8_options"].per_channel is False and seen["int8_options"].calibrate_method == "percentile"
    bad = runner.invoke(app, ["export", str(tmp_path / "model"), "opst=17"])
    assert bad.exit_code == 2 and "opset" in bad.output  # the closest valid key


def test_predict_and_serve_reject_unknown_keys(tmp_path: Path) -> None:
    _tiny_model(tmp_path / "model")
    result = runner.invoke(
        app, ["predict", str(tmp_path / "model"), "photos/", "--out", str(tmp_path / "p.csv"), "top_kk=5"]
    )
    assert result.exit_code == 2 and "top_k" in result.output
    result = runner.invoke(app, ["serve", str(tmp_path / "model"), "max_imagez=4"])
    assert result.exit_code == 2 and "max_images" in result.output


def _tiny_model(path: Path) -> None:
    from fashiontag.data.taxonomy import load_taxonomy
    from fashiontag.models._testing import make_tiny_model

    make_tiny_model(path, load_taxonomy("shop"))
