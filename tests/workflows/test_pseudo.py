"""`fashiontag train --unlabelled DIR`: teacher -> pseudo-labels above a threshold -> student, on tiny folders."""

import csv
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from fashiontag.cli.main import app
from fashiontag.data.checks import DataError
from fashiontag.data.synthetic import make_class_folders

runner = CliRunner()
FAST = [
    "--probe",
    "backbone=smallcnn",
    "pretrained=false",
    "image_size=32",
    "input_size=32",
    "probe_steps=60",
    "progress_bar=false",
]


def _train(photos: Path, out: Path, unlabelled: Path, threshold: str, rounds: str = "1", *more: str):  # noqa: ANN202
    args = ["train", "--data", str(photos), "--out", str(out), "--unlabelled", str(unlabelled), *more]
    return runner.invoke(app, [*args, "--pseudo-threshold", threshold, "--pseudo-rounds", rounds, *FAST])


@pytest.mark.slow
def test_unlabelled_photos_join_the_student(tmp_path: Path) -> None:
    photos = make_class_folders(tmp_path / "photos", {"tee": 8, "hat": 8})
    inbox = make_class_folders(tmp_path / "inbox_src", {"tee": 5, "hat": 5}, seed=1)
    flat = tmp_path / "inbox"
    flat.mkdir()
    for i, path in enumerate(sorted(inbox.rglob("*.png"))):  # unlabelled: no class folders
        path.rename(flat / f"u{i:02d}.png")
    (flat / "broken.jpg").write_bytes(b"nope")
    run = tmp_path / "run"
    result = _train(photos, run, flat, "0.5", rounds="2")  # the round-1 student labels again for the last one
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert (run / "round1" / "model" / "fashiontag.json").exists() and "(per round: [" in result.output
    table = list(csv.DictReader((run / "pseudo_labels.csv").open()))
    assert len(table) == 10 and all(r["label"] in {"tee", "hat"} for r in table)
    used = [r for r in table if r["used"] == "true"]
    assert all(float(r["confidence"]) >= 0.5 for r in used) and f"pseudo-labels: {len(used)} of 10" in result.output
    split = pd.read_csv(run / "split.csv")
    assert split["item_id"].str.startswith("unlabelled:").sum() == len(used)
    assert (run / "teacher" / "model" / "fashiontag.json").exists()
    assert json.loads((run / "model" / "fashiontag.json").read_text())["heads"]["class"] == ["hat", "tee"]


def test_adapt_bn_adapts_the_teacher_and_the_final_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import fashiontag.models

    photos = make_class_folders(tmp_path / "photos", {"tee": 8, "hat": 8})
    inbox = make_class_folders(tmp_path / "inbox", {"tee": 20, "hat": 20}, seed=1)  # AdaBN needs >= 32 photos
    adapted = []  # (network, photos) of each adaptation, in order
    real = fashiontag.models.adapt_batchnorm
    monkeypatch.setattr(
        fashiontag.models,
        "adapt_batchnorm",
        lambda net, images, *a, **k: adapted.append((net, len(images))) or real(net, images, *a, **k),
    )
    run = tmp_path / "run"
    result = _train(photos, run, inbox, "0.5", "1", "--adapt-bn")
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "BatchNorm statistics adapted" in result.output
    assert [n for _, n in adapted] == [40, 40] and adapted[0][0] is not adapted[1][0]  # the teacher, then the student
    adaptation = json.loads((run / "model" / "fashiontag.json").read_text())["adaptation"]
    assert adaptation["images"] == 40 and adaptation["from"] == str((run / "unadapted" / "model").resolve())
    assert not (run / ".model.adapting").exists()
    assert "adaptation" not in json.loads((run / "unadapted" / "model" / "fashiontag.json").read_text())
    refused = runner.invoke(app, ["train", "--data", str(photos), "--out", str(tmp_path / "r"), "--adapt-bn", *FAST])
    assert refused.exit_code == 2 and not (tmp_path / "r").exists()  # --adapt-bn without --unlabelled
    few = _train(photos, tmp_path / "few", photos / "tee", "0.5", "1", "--adapt-bn")  # 8 photos: refused up front
    assert isinstance(few.exception, DataError) and "too few for --adapt-bn" in str(few.exception)
    assert not (tmp_path / "few" / "teacher").exists()
    cascade = _train(photos, tmp_path / "cascade", inbox, "0.5", "1", "--adapt-bn", "strategy=cascade")
    assert cascade.exit_code == 2 and "cascade cannot be adapted" in " ".join(cascade.output.replace("│", " ").split())
    assert not (tmp_path / "cascade" / "teacher").exists()


def test_bad_threshold_is_refused(tmp_path: Path) -> None:
    photos = make_class_folders(tmp_path / "photos", {"tee": 6, "hat": 6})
    result = _train(photos, tmp_path / "r", photos, "1.5")
    assert result.exit_code == 2 and not (tmp_path / "r").exists()


def test_pseudo_labelled_rows_are_their_own_source() -> None:
    """With several sources the pseudo-labelled photos are neither the shop's nor FPI's rows (per-source metrics
    and ``monitor_source`` count only real labels)."""
    import numpy as np

    from fashiontag.data.taxonomy import parse_taxonomy
    from fashiontag.train import from_arrays
    from fashiontag.workflows.pseudo import with_pseudo_labels

    taxonomy = parse_taxonomy("name: t\nversion: '1'\nlevels: [class]\ntree: [hat, tee]\n")
    labels = pd.DataFrame(
        {
            "item_id": ["a", "fpi:b"],
            "path": ["a", "b"],
            "dup_group": ["a", "b"],
            "leaf": ["hat", "tee"],
            "split": ["train", "val"],
            "source": ["main", "fpi"],
        }
    )
    data = from_arrays(np.zeros((2, 8, 8, 3), np.uint8), labels, taxonomy)
    combined = with_pseudo_labels(data, np.zeros((1, 8, 8, 3), np.uint8), ["u.jpg"], ["tee"]).labels
    assert combined["source"].tolist() == ["main", "fpi", "unlabelled"]
    assert combined.iloc[2][["item_id", "split", "leaf"]].tolist() == ["unlabelled:u.jpg", "train", "tee"]


def test_soft_pseudo_labels_keep_every_photo_and_distil_from_the_teacher(tmp_path: Path) -> None:
    photos = make_class_folders(tmp_path / "photos", {"tee": 8, "hat": 8})
    inbox = make_class_folders(tmp_path / "inbox", {"tee": 5, "hat": 5}, seed=1)
    run = tmp_path / "run"
    result = _train(photos, run, inbox, "0.99", "1", "--pseudo-soft")  # few are that sure: most join soft only
    assert result.exit_code == 0, result.output + repr(result.exception)
    table = list(csv.DictReader((run / "pseudo_labels.csv").open()))
    hard = sum(r["used"] == "true" for r in table)
    assert (
        hard < 10
        and f"pseudo-labels: {hard} of 10 unlabelled photos at >= 0.99, {10 - hard} more with soft labels only"
        in " ".join(result.output.split())
    )
    split = pd.read_csv(run / "split.csv")
    assert (split["item_id"].str.startswith("unlabelled:") & (split["split"] == "train")).sum() == 10
    optim = json.loads((run / "model" / "fashiontag.json").read_text())["training"]["optim"]
    assert Path(optim["teacher"]).resolve() == (run / "teacher" / "model").resolve()
    teacher = json.loads((run / "teacher" / "model" / "fashiontag.json").read_text())["training"]["optim"]
    assert teacher["teacher"] is None  # the teacher itself learnt from the labels alone


@pytest.mark.parametrize(
    ("more", "message"),
    [
        (["--adapt-bn"], "--pseudo-soft with --adapt-bn"),
        (["teacher=elsewhere/model"], "leave teacher=elsewhere/model out"),
        (["strategy=cascade"], "cannot distil into strategy=cascade"),
        (["mode=trunk", "mix_activations=0.4"], "--pseudo-soft with mix_activations"),
    ],
)
def test_soft_pseudo_labels_refuse_what_they_cannot_combine_with(tmp_path: Path, more: list[str], message: str) -> None:
    photos = make_class_folders(tmp_path / "photos", {"tee": 6, "hat": 6})
    inbox = make_class_folders(tmp_path / "inbox", {"tee": 20, "hat": 20}, seed=1)
    result = _train(photos, tmp_path / "r", inbox, "0.5", "1", "--pseudo-soft", *more)
    assert result.exit_code == 2 and message in " ".join(result.output.replace("│", " ").split()), result.output
    assert not (tmp_path / "r" / "teacher").exists()  # refused before the teacher trained
    alone = runner.invoke(app, ["train", "--data", str(photos), "--out", str(tmp_path / "a"), "--pseudo-soft", *FAST])
    assert alone.exit_code == 2 and "needs --unlabelled" in alone.output


def test_a_missing_unlabelled_folder_stops_before_the_teacher_trains(tmp_path: Path) -> None:
    photos = make_class_folders(tmp_path / "photos", {"tee": 6, "hat": 6})
    result = _train(photos, tmp_path / "r", tmp_path / "nothing", "0.5")
    assert isinstance(result.exception, DataError) and "no images to pseudo-label" in str(result.exception)
    assert not (tmp_path / "r" / "teacher").exists()


def test_several_teachers_label_as_an_ensemble_and_the_student_distils_from_all(tmp_path: Path) -> None:
    import numpy as np

    from fashiontag.models import load_network
    from fashiontag.workflows.select import decode_paths, network_embeddings

    photos = make_class_folders(tmp_path / "photos", {"tee": 8, "hat": 8})
    inbox = make_class_folders(tmp_path / "inbox", {"tee": 5, "hat": 5}, seed=1)
    run = tmp_path / "run"
    result = _train(photos, run, inbox, "0.5", "1", "--pseudo-soft", "--pseudo-teachers", "2")
    assert result.exit_code == 0, result.output + repr(result.exception)
    teachers = [run / "teacher" / "model", run / "teacher2" / "model"]
    seeds = [json.loads((t / "fashiontag.json").read_text())["training"]["seed"] for t in teachers]
    assert seeds == [0, 1]  # each its own seed, so they differ
    flat = " ".join(result.output.split())
    assert f"teacher: {teachers[0]}, {teachers[1]}" in flat

    table = list(csv.DictReader((run / "pseudo_labels.csv").open()))  # the mean of both teachers' probabilities
    nets = [load_network(t) for t in teachers]
    images, paths, _ = decode_paths([r["path"] for r in table], nets[0].preprocess.size, nets[0].preprocess.fill)
    each = [network_embeddings(net, images)[1]["class"] for net in nets]
    assert not np.allclose(each[0], each[1])
    mean = (each[0] + each[1]) / 2
    np.testing.assert_allclose([float(r["confidence"]) for r in table], mean.max(1), atol=1e-5)
    assert [r["label"] for r in table] == [nets[0].taxonomy.head_labels("class")[i] for i in mean.argmax(1)]

    record = json.loads((run / "model" / "fashiontag.json").read_text())["teacher"]
    assert [Path(m["path"]) for m in record["members"]] == [t.resolve() for t in teachers]
    alone = runner.invoke(
        app, ["train", "--data", str(photos), "--out", str(tmp_path / "a"), "--pseudo-teachers", "2", *FAST]
    )
    assert alone.exit_code == 2 and "needs --unlabelled" in alone.output


def test_saved_models_label_at_their_own_size_and_no_teacher_trains(tmp_path: Path) -> None:
    import numpy as np

    from fashiontag.models import load_network
    from fashiontag.workflows.select import decode_paths, network_embeddings

    photos = make_class_folders(tmp_path / "photos", {"tee": 8, "hat": 8})
    inbox = make_class_folders(tmp_path / "inbox", {"tee": 5, "hat": 5}, seed=1)
    saved = []
    for name, size in (("small", "32"), ("large", "40")):  # two saved models, one trained at another size
        args = [
            "train",
            "--data",
            str(photos),
            "--out",
            str(tmp_path / name),
            *FAST,
            f"image_size={size}",
            f"input_size={size}",
        ]
        assert runner.invoke(app, args).exit_code == 0
        saved.append(tmp_path / name / "model")
    run = tmp_path / "run"
    more = [item for model in saved for item in ("--pseudo-teacher", str(model))]
    result = _train(photos, run, inbox, "0.5", "1", "--pseudo-soft", *more)
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert not (run / "teacher").exists() and f"teacher: {saved[0]}, {saved[1]}" in " ".join(result.output.split())

    table = list(csv.DictReader((run / "pseudo_labels.csv").open()))  # each model saw the photos at its own size
    nets = [load_network(model) for model in saved]
    probs = []
    for net in nets:
        images, _, _ = decode_paths([r["path"] for r in table], net.preprocess.size, net.preprocess.fill)
        probs.append(network_embeddings(net, images)[1]["class"])
    assert nets[1].preprocess.size == 40 != nets[0].preprocess.size
    np.testing.assert_allclose([float(r["confidence"]) for r in table], np.mean(probs, 0).max(1), atol=1e-5)
    record = json.loads((run / "model" / "fashiontag.json").read_text())
    assert [Path(m["path"]) for m in record["teacher"]["members"]] == [m.resolve() for m in saved]
    assert record["preprocess"]["size"] == 32  # the student keeps its own size; its new rows were decoded at it


def test_a_saved_teacher_of_another_taxonomy_or_with_trained_teachers_is_refused(tmp_path: Path) -> None:
    photos = make_class_folders(tmp_path / "photos", {"tee": 6, "hat": 6})
    other = make_class_folders(tmp_path / "other", {"tee": 6, "bag": 6})
    inbox = make_class_folders(tmp_path / "inbox", {"tee": 3, "hat": 3}, seed=1)
    assert runner.invoke(app, ["train", "--data", str(other), "--out", str(tmp_path / "o"), *FAST]).exit_code == 0
    cases = [
        (
            ["--pseudo-teacher", str(tmp_path / "o" / "model")],
            "has labels ['bag', 'tee'], the run's 'class' has ['hat', 'tee']",
        ),
        (["--pseudo-teacher", str(tmp_path / "missing")], "--pseudo-teacher " + str(tmp_path / "missing")),
        (["--pseudo-teacher", str(tmp_path / "o" / "model"), "--pseudo-teachers", "2"], "use one of them"),
    ]
    for more, message in cases:
        result = _train(photos, tmp_path / "r", inbox, "0.5", "1", *more)
        flat = " ".join(result.output.replace("│", " ").split())
        assert result.exit_code == 2 and message in flat, flat
        assert not (tmp_path / "r" / "teacher").exists()
    alone = runner.invoke(
        app,
        [
            "train",
            "--data",
            str(photos),
            "--out",
            str(tmp_path / "a"),
            "--pseudo-teacher",
            str(tmp_path / "o" / "model"),
            *FAST,
        ],
    )
    assert alone.exit_code == 2 and "needs --unlabelled" in alone.output
