"""Training through the CLI on the synthetic dataset: strategies, backbones, probe, resume, losses."""

import json

import pytest
import torch
from typer.testing import CliRunner

from fashiontag.cli.main import app
from fashiontag.data.synthetic import manifest_cli_args
from fashiontag.models import list_backbones, list_strategies, load_network
from fashiontag.train import _lightning, focal_loss, list_augments

runner = CliRunner()


def _train(args):
    result = runner.invoke(app, ["train", *args])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result


@pytest.mark.parametrize("strategy", list_strategies())
def test_train_each_strategy(strategy, synthetic, tiny_args, tmp_path):
    manifest, taxonomy = synthetic
    _train([*tiny_args(manifest, taxonomy, tmp_path / "run"), "--strategy", strategy, "--backbone", "smallcnn"])
    sidecar = json.loads((tmp_path / "run" / "model" / "fashiontag.json").read_text())
    assert sidecar["strategy"] == strategy and sidecar["training"]["model"]["strategy"] == strategy
    assert sidecar["split"]["sha256"] and "torch" in sidecar["versions"]
    net = load_network(tmp_path / "run" / "model")
    with torch.no_grad():
        assert list(net(torch.zeros(2, 32, 32, 3, dtype=torch.uint8))) == net.heads
    if strategy != "cascade":
        assert (tmp_path / "run" / "learning_curves.png").exists()
    if strategy == "flat":  # docs/train.md "Outputs, by mode": what a Lightning fine-tune adds
        run = tmp_path / "run"
        for name in [
            "checkpoints/last.ckpt",
            "checkpoints/best.ckpt",
            "run.json",
            "logs/version_0/metrics.csv",
            "tb/version_0/hparams.yaml",
            "taxonomy.yaml",
            "split.csv",
        ]:
            assert (run / name).is_file(), name


@pytest.mark.parametrize("backbone", [b for b in list_backbones() if b != "smallcnn"])
def test_train_each_backbone_one_batch(backbone, synthetic, tiny_args, tmp_path):
    manifest, taxonomy = synthetic
    _train(
        [
            *tiny_args(manifest, taxonomy, tmp_path / "run"),
            "--backbone",
            backbone,
            "limit_train_batches=1",
            "limit_val_batches=1",
            "batch_size=4",
            "head_epochs=0",
        ]
    )


def test_probe_mode_learns_synthetic(synthetic, tiny_args, tmp_path):
    manifest, taxonomy = synthetic
    _train([*tiny_args(manifest, taxonomy, tmp_path / "run"), "--probe", "--backbone", "smallcnn", "probe_steps=200"])
    metrics = json.loads((tmp_path / "run" / "model" / "fashiontag.json").read_text())["metrics"]
    assert 0.0 <= metrics["val_macro_f1"] <= 1.0 and "acc_colour" in metrics


class _Abort(Exception):
    pass


class _AbortAfter:
    """Callback that kills training after N steps, like a crash mid-epoch."""

    def __init__(self, steps):
        from lightning.pytorch.callbacks import Callback

        outer = self

        class Impl(Callback):
            def on_train_batch_end(self, trainer, *args):
                if trainer.global_step >= outer.steps:
                    trainer.save_checkpoint(trainer.default_root_dir + "/checkpoints/last.ckpt")
                    raise _Abort()

        self.steps, self.callback = steps, Impl()


@pytest.mark.parametrize("mode", ["full", "trunk"])
def test_resume_after_abort(mode, synthetic, tiny_args, tmp_path, monkeypatch):
    manifest, taxonomy = synthetic
    args = [
        *tiny_args(manifest, taxonomy, tmp_path / "run"),
        "--backbone",
        "smallcnn",
        "epochs=3",
        "batch_size=4",
        f"mode={mode}",
        "trunk_cut=-1",
    ]
    monkeypatch.setattr(_lightning, "_EXTRA_CALLBACKS", [_AbortAfter(2).callback])
    result = runner.invoke(app, ["train", *args])
    assert isinstance(result.exception, _Abort)
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    assert last.exists()
    step_at_abort = torch.load(last, map_location="cpu", weights_only=True)["global_step"]
    views = sorted((tmp_path / "run").glob("trunk_cache/*/view_*.npy"))
    written = [v.stat().st_mtime_ns for v in views]
    monkeypatch.setattr(_lightning, "_EXTRA_CALLBACKS", [])
    _train(args)
    final = torch.load(last, map_location="cpu", weights_only=True)
    assert final["global_step"] > step_at_abort
    assert (tmp_path / "run" / "model" / "fashiontag.json").exists()
    if mode == "trunk":  # the cached activations were reused, not extracted again
        assert len(views) == 2 and [v.stat().st_mtime_ns for v in views] == written


def test_resume_refuses_checkpoints_of_other_settings(synthetic, tiny_args, tmp_path, monkeypatch):
    """A second command into the same --out with another learning rate must not continue the first run (and
    save its network as the new model); more epochs with the same settings resume."""
    manifest, taxonomy = synthetic
    args = [*tiny_args(manifest, taxonomy, tmp_path / "run"), "--backbone", "smallcnn", "epochs=2", "batch_size=4"]
    monkeypatch.setattr(_lightning, "_EXTRA_CALLBACKS", [_AbortAfter(2).callback])
    assert isinstance(runner.invoke(app, ["train", *args]).exception, _Abort)
    monkeypatch.setattr(_lightning, "_EXTRA_CALLBACKS", [])
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    before = last.read_bytes()
    result = runner.invoke(app, ["train", *args, "lr=0.05"])
    assert result.exit_code == 2, result.output
    assert "other settings" in result.output and "optim.lr" in result.output and "another --out" in result.output
    assert last.read_bytes() == before  # nothing of the interrupted run was touched
    _train([*args, "epochs=3"])  # same settings, longer: resumes
    assert torch.load(last, map_location="cpu", weights_only=True)["epoch"] == 2
    assert json.loads((tmp_path / "run" / "run.json").read_text())["epochs"] == 3
    before = last.read_bytes()
    fewer = runner.invoke(app, ["train", *args, "epochs=1"])  # fewer epochs than the checkpoint has done
    text = " ".join(fewer.output.replace("│", " ").split())
    assert fewer.exit_code == 2 and "saved in epoch 3" in text and "epochs=3 or more" in text, fewer.output
    assert last.read_bytes() == before
    _train([*args, "epochs=3"])  # as many as it was saved in: allowed (nothing left to train)
    last.write_bytes(b"truncated by a crash")
    broken = runner.invoke(app, ["train", *args, "epochs=3"])
    assert broken.exit_code == 2 and "cannot be read" in " ".join(broken.output.replace("│", " ").split())


def test_focal_loss_matches_hand_computation():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]])
    targets = torch.tensor([0, 2])
    p = logits.softmax(-1)[torch.arange(2), targets]
    expected = (-((1 - p) ** 2) * p.log()).mean()
    assert torch.allclose(focal_loss(logits, targets, gamma=2.0), expected)
    assert torch.allclose(focal_loss(logits, targets, gamma=0.0), torch.nn.functional.cross_entropy(logits, targets))


@pytest.mark.parametrize("name", list_augments())
def test_augment_presets_keep_shape(name):
    from fashiontag.train import create_augment

    x = torch.rand(4, 3, 32, 32)
    y, mix = create_augment(name)(x)
    assert y.shape == x.shape and (mix is None or len(mix[0]) == 4)


def test_scene_preset_paints_the_white_backdrop_and_keeps_the_item():
    """A red square on white: the backdrop becomes a scene (no longer white), the square stays red."""
    from fashiontag.train._augment import _SceneBackground

    x = torch.ones(8, 3, 48, 48)
    x[:, 1:, 16:32, 16:32] = 0.0  # pure red item
    torch.manual_seed(0)
    y = _SceneBackground(p=1.0, zoom=(1.0, 1.0), degrees=0.0)(x)
    item, backdrop = y[:, :, 18:30, 18:30], y[:, :, :10, :10]
    assert torch.allclose(item, x[:, :, 18:30, 18:30], atol=1e-4)
    assert (backdrop.min(1).values > 0.92).float().mean() < 0.5  # most of the white backdrop is painted over
    assert backdrop.std(dim=(1, 2, 3)).min() > 0.01  # a varied scene per image, not a flat fill
    assert 0.0 <= float(y.min()) and float(y.max()) <= 1.0
    small = _SceneBackground(p=1.0, zoom=(0.5, 0.5), degrees=0.0)(x)  # zoomed out: the item covers a quarter
    red = (small[:, 0] > 0.9) & (small[:, 1] < 0.1) & (small[:, 2] < 0.1)
    assert abs(red.float().mean().item() - (16 * 16 / 4) / 48**2) < 0.02


@pytest.mark.slow
def test_ddp_two_cpu_processes(synthetic, tmp_path):
    """Lightning re-launches the CLI as 2 gloo processes; the run must finish and save one loadable model."""
    import subprocess
    import sys

    manifest, taxonomy = synthetic
    args = _tiny_args_ddp(manifest, taxonomy, tmp_path / "run")
    done = subprocess.run(
        [sys.executable, "-m", "fashiontag.cli.main", "train", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**__import__("os").environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "world_size: 2" in done.stderr + done.stdout or "Initializing distributed: GLOBAL_RANK: 1" in done.stderr
    net = load_network(tmp_path / "run" / "model")
    with torch.no_grad():
        assert list(net(torch.zeros(1, 32, 32, 3, dtype=torch.uint8))) == net.heads


def _tiny_args_ddp(manifest, taxonomy, out):
    return [
        *manifest_cli_args(manifest, taxonomy),
        "--out",
        str(out),
        "--backbone",
        "smallcnn",
        "pretrained=false",
        "image_size=32",
        "input_size=32",
        "epochs=1",
        "batch_size=4",
        "progress_bar=false",
        "ddp=true",
        "devices=2",
        "accelerator=cpu",
    ]


def test_trunk_says_when_its_augmentation_is_unused(synthetic, tiny_args, tmp_path):
    """Cached-trunk views 0 and 1 are each image and its mirror; a preset asked for with 2 views would do nothing."""
    manifest, taxonomy = synthetic
    for views, said in (("2", True), ("3", False)):
        args = [
            *tiny_args(manifest, taxonomy, tmp_path / views),
            "--backbone",
            "smallcnn",
            "epochs=1",
            "batch_size=4",
            "mode=trunk",
            "trunk_cut=-1",
            "augment=scene",
            f"trunk_views={views}",
        ]
        result = runner.invoke(app, ["train", *args])
        assert result.exit_code == 0, result.output
        assert ("augment=scene is not used" in result.output) is said


def test_training_prints_no_lightning_noise(synthetic, tiny_args, tmp_path, recwarn):
    """A person reads the run's own lines: no litlogger advert, no "100% of the batches" echo of a default, no
    torch deprecation inside Lightning, no "modules in eval mode" for the cached trunk's frozen stages."""
    import logging

    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())
    logging.getLogger("lightning.pytorch").addHandler(handler)
    try:
        manifest, taxonomy = synthetic
        _train(
            [
                *tiny_args(manifest, taxonomy, tmp_path / "run"),
                "--backbone",
                "smallcnn",
                "batch_size=4",
                "mode=trunk",
                "trunk_cut=-1",
                "trunk_views=1",
            ]
        )
    finally:
        logging.getLogger("lightning.pytorch").removeHandler(handler)
    assert any("max_epochs=1" in line for line in lines), lines  # Lightning's own lines about the run still show
    assert not [line for line in lines if "Tip:" in line or "was configured so 100%" in line], lines
    said = [str(w.message) for w in recwarn]
    assert not [m for m in said if "in eval mode" in m or "LeafSpec" in m], said


def test_the_refit_command_for_refused_heads_parses_and_keeps_the_runs_split(synthetic, tiny_args, tmp_path):
    """`train` prints one `evaluate` command that sets every refused head's reachable target at once (each refit
    replaces all thresholds) on the run's own split file: its words are options and overrides `evaluate` takes."""
    import shlex

    from fashiontag.config import build_config
    from fashiontag.evaluate import EvaluateConfig
    from fashiontag.train import TrainConfig
    from fashiontag.train._fit import refit_command

    manifest, taxonomy = synthetic
    _train([*tiny_args(manifest, taxonomy, tmp_path / "run"), "--backbone", "smallcnn", "calibrate=false"])
    config = build_config(TrainConfig, data=str(manifest), reader="manifest", out=str(tmp_path / "run"))
    line = refit_command(tmp_path / "run" / "model", config, {"group": 0.96, "colour": 0.9})
    words = shlex.split(line)
    assert words[:3] == ["fashiontag", "evaluate", str(tmp_path / "run" / "model")]
    assert words[words.index("--split-file") + 1] == str((tmp_path / "run" / "split.csv").resolve())
    assert words[words.index("--reader") + 1] == "manifest"
    settings = build_config(EvaluateConfig, None, [w for w in words if "=" in w and not w.startswith("-")])
    assert settings.target_accuracy == {"group": 0.96, "colour": 0.9} and settings.save_calibration is True
    assert settings.calibrate_split == "val"


def test_train_fits_review_thresholds_on_val(synthetic, tiny_args, tmp_path, caplog):
    """A trained model never accepts every label silently: `train` fits Learn-then-Test thresholds on its val
    split and saves them (6 photos per leaf cannot show 98.5% accuracy, so every head is refused and every photo
    goes to review); with calibrate=false it has none, and loading it says so."""
    import logging

    import pandas as pd

    import fashiontag

    manifest, taxonomy = synthetic
    photo = str(manifest.parent / pd.read_csv(manifest)["path"].iloc[0])
    result = _train([*tiny_args(manifest, taxonomy, tmp_path / "run"), "--backbone", "smallcnn"])
    sidecar = json.loads((tmp_path / "run" / "model" / "fashiontag.json").read_text())
    val = int((pd.read_csv(tmp_path / "run" / "split.csv")["split"] == "val").sum())
    policy = sidecar["review_policy"]
    assert val > 0 and policy["calibration"] == {"split": "val", "count": val}
    assert set(sidecar["thresholds"]) == set(policy["heads"]) == set(sidecar["heads"])
    assert f"review: thresholds fitted on {val} val photos" in result.output
    assert all(fit["reason"] for fit in policy["heads"].values())  # too few photos for the guarantee: refused
    top, below = sidecar["taxonomy"]["levels"][:2]  # each refused head's summary line says why, in short
    assert f"review:   {top}: not auto-labelled at 98.5% (too few or too uncertain val photos" in result.output
    assert f"review:   {below}: not auto-labelled: its parent level {top} is not" in result.output
    assert fashiontag.load(tmp_path / "run" / "model").predict([photo])[0]["needs_review"] is True

    _train([*tiny_args(manifest, taxonomy, tmp_path / "bare"), "--backbone", "smallcnn", "calibrate=false"])
    assert "thresholds" not in json.loads((tmp_path / "bare" / "model" / "fashiontag.json").read_text())
    with caplog.at_level(logging.WARNING):
        bare = fashiontag.load(tmp_path / "bare" / "model")
    assert "has no review thresholds: every label is accepted" in caplog.text
    assert bare.predict([photo])[0]["needs_review"] is False


def test_a_run_recorded_before_a_settings_key_existed_still_resumes(tmp_path):
    """A key added to the settings later (``mix_activations``) had its default's effect in a run recorded before it:
    resuming that run is allowed with the default, and refused with another value."""
    from fashiontag.config import ConfigError, build_config
    from fashiontag.train import TrainConfig
    from fashiontag.train._resume import RECORD, check_resume, run_settings

    config = build_config(TrainConfig, None, [f"out={tmp_path}", "mode=trunk"])
    settings = run_settings(config)
    del settings["optim"]["mix_activations"]  # as an older fashiontag recorded it
    (tmp_path / "checkpoints").mkdir()
    torch.save({"epoch": 0}, tmp_path / "checkpoints" / "last.ckpt")
    (tmp_path / RECORD).write_text(json.dumps({"settings": settings}), encoding="utf-8")
    assert check_resume(tmp_path, config) is True
    (tmp_path / RECORD).write_text(json.dumps({"settings": settings}), encoding="utf-8")  # check_resume rewrote it
    mixed = build_config(TrainConfig, None, [f"out={tmp_path}", "mode=trunk", "mix_activations=0.4"])
    with pytest.raises(ConfigError, match="optim.mix_activations: 0.0 -> 0.4"):
        check_resume(tmp_path, mixed)
