"""``fashiontag train --unlabelled DIR``: a shop's unlabelled photos as extra training data (self-training).

The simplest version that is honest about what it does: a teacher is trained on the labelled photos, labels
the unlabelled ones, and those it is at least ``threshold`` sure of (on the deepest level) join the training
set of a student trained the same way (Lee 2013, "pseudo-label"; the teacher/student form of Xie et al.
2020 without noise on the student beyond the usual augmentation). No FixMatch consistency loss.

Writes ``OUT/teacher/model`` (the teacher), ``OUT/pseudo_labels.csv`` (every unlabelled photo, its label,
confidence and whether it was used) and the student at ``OUT/model``. ``rounds`` > 1 repeats the labelling
with each student as the next teacher (intermediate students in ``OUT/round<r>/model``), as noisy-student
training does. ``teachers`` > 1 trains several first teachers with their own seeds (``OUT/teacher2/model``, ...)
whose mean probabilities label the photos (an ensemble usually errs less than its members). ``teacher_models``
labels with saved models instead (yesterday's model, another backbone or input size, an ensemble of them):
no teacher trains, and each model labels the photos decoded at its own size.

With ``soft`` the student also learns each teacher's softened probabilities on every training row
(distillation, ``distill_alpha`` / ``distill_temperature``; Hinton et al. 2015), and the unlabelled photos
under the threshold join too, with those soft labels only: the photos the teacher is unsure of are the ones a
hard threshold throws away (300 labelled shop photos, the same teacher: 0.865 -> 0.867 under a 10-minute
plan, 0.877 with the student's recipe pinned; BENCHMARKS.md, "Few labels").

Example:
    >>> config = build_config(TrainConfig, data="photos", out="runs/shop", probe=True)  # doctest: +SKIP
    >>> train_with_unlabelled(config, "inbox/")  # doctest: +SKIP
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fashiontag._io import atomic_open
from fashiontag.config import updated
from fashiontag.data.checks import DataError
from fashiontag.data.config import DataConfig
from fashiontag.workflows.select import decode_paths, network_embeddings

Decoded = dict[tuple[int, int], np.ndarray]  # the same photos letterboxed at each (size, fill) a network needs


def _members(net: Any) -> list[Any]:
    """One network or an ensemble's list of them, as a list."""
    return net if isinstance(net, list) else [net]


def _view(member: Any, images: np.ndarray | Decoded) -> np.ndarray:
    """``images``, or from a :data:`Decoded` mapping the copy letterboxed as ``member`` was trained."""
    pre = member.preprocess
    return images[(pre.size, pre.fill)] if isinstance(images, dict) else images


def pseudo_label(
    net: Any,
    images: np.ndarray | Decoded,
    head: str,
    batch_size: int = 64,
) -> tuple[list[str], np.ndarray]:
    """The teacher's label and confidence on ``head`` for each image (leaf ids when ``head`` is the deepest
    level); ``net`` may be a list of networks with one taxonomy (an ensemble: the mean of their probabilities),
    and ``images`` a :data:`Decoded` mapping when they were trained at different sizes."""
    nets = _members(net)
    if not len(_view(nets[0], images)):
        return [], np.zeros(0)
    probs = np.mean([network_embeddings(m, _view(m, images), batch_size)[1][head] for m in nets], axis=0)
    labels = nets[0].taxonomy.head_labels(head)
    return [labels[i] for i in probs.argmax(1)], probs.max(1)


def _write_table(path: Path, paths: list[str], labels: list[str], confidence: np.ndarray, keep: np.ndarray) -> None:
    with atomic_open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", "confidence", "used"])
        writer.writerows(
            [p, lab, f"{c:.6f}", str(bool(k)).lower()]
            for p, lab, c, k in zip(paths, labels, confidence, keep, strict=True)
        )


def confident_leaves(
    teacher: Any,
    images: np.ndarray | Decoded,
    threshold: float,
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The teacher's (or an ensemble's, a list) deepest-level label and confidence per image, and which to keep:
    at least ``threshold`` sure and a leaf of the taxonomy."""
    taxonomy = _members(teacher)[0].taxonomy
    labels, confidence = pseudo_label(teacher, images, taxonomy.levels[-1])
    keep = (confidence >= threshold) & np.array([taxonomy.is_leaf(x) for x in labels], dtype=bool)
    return labels, confidence, keep


def with_pseudo_labels(data: Any, images: np.ndarray, names: list[str], leaves: list[str | None]) -> Any:
    """``data`` (TrainData) plus ``images`` labelled ``leaves`` in its train split, item ids ``unlabelled:NAME``
    (each its own duplicate group; attributes unknown; a leaf of None: no label, for soft labels only)."""
    from fashiontag.train import from_arrays

    ids = [f"unlabelled:{name}" for name in names]
    extra = pd.DataFrame({"item_id": ids, "path": names, "dup_group": ids, "leaf": leaves, "split": "train"})
    for attribute in data.taxonomy.attributes:
        extra[attribute] = None
    for column in data.labels.columns.difference(extra.columns):
        extra[column] = "unlabelled" if column == "source" else None  # several sources: these rows are their own
    combined = pd.concat([data.labels, extra[data.labels.columns]], ignore_index=True)
    return from_arrays(np.concatenate([data.images, images]), combined, data.taxonomy)


def train_with_unlabelled(
    config: Any,
    unlabelled: str | Path,
    threshold: float = 0.9,
    rounds: int = 1,
    adapt_bn: bool = False,
    soft: bool = False,
    teachers: int = 1,
    teacher_models: list[str] | None = None,
) -> dict[str, Any]:
    """Teacher on the labelled data, pseudo-labels above ``threshold``, student on both; with ``rounds`` > 1 each
    student becomes the next round's teacher (``OUT/round<r>``; the last one is ``OUT/model``). With ``adapt_bn``
    each teacher labels with its BatchNorm statistics re-estimated on the unlabelled photos (AdaBN), and
    ``OUT/model`` is the last student adapted the same way (``OUT/unadapted/model`` before): for unlabelled photos
    of another domain than the labelled data (a packshot catalogue's model meeting phone photos). With ``soft``
    each student distils from its teacher on every row, and the photos under ``threshold`` join with the
    teacher's soft labels only (module docstring). ``teachers`` > 1 trains that many first teachers, each with
    its own seed (``OUT/teacher``, ``OUT/teacher2``, ...; each as ``train ... seed=S`` would, capped sources
    drawn with that seed too), and the first round's labels (and, with ``soft``, soft labels) are their
    ensemble's: the mean of their probabilities. ``teacher_models`` (saved model directories with the run's
    taxonomy) label instead of trained teachers. Returns a summary."""
    from fashiontag.data.folders import resolve_taxonomy
    from fashiontag.infer import collect_inputs
    from fashiontag.models import adapt_batchnorm, load_network
    from fashiontag.train import fit, load_train_data

    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"pseudo threshold must be in (0, 1], got {threshold}")
    if rounds < 1:
        raise ValueError(f"pseudo rounds must be at least 1, got {rounds}")
    if teachers < 1:
        raise ValueError(f"pseudo teachers must be at least 1, got {teachers}")
    if teacher_models and teachers > 1:
        from fashiontag.config import ConfigError

        raise ConfigError(
            "--pseudo-teachers trains that many teachers, --pseudo-teacher labels with saved models: "
            "use one of them (an ensemble of saved models: repeat --pseudo-teacher)"
        )
    if soft:
        _check_soft(config, adapt_bn)
    out = Path(config.out)
    paths = collect_inputs([str(unlabelled)])
    if not any(Path(path).is_file() for path in paths):  # before the teacher trains, not after
        raise DataError(f"{unlabelled}: no images to pseudo-label (folders, globs or .txt/.csv lists of files)")
    if adapt_bn:  # before the teacher trains: a network it cannot adapt, too few photos (as far as a count tells)
        _check_network_adaptable(config)
        _check_enough_photos(unlabelled, len(paths))
    taxonomy = resolve_taxonomy(config.data.taxonomy, config.data.reader, config.data.root, config.data.source)
    data = load_train_data(config, taxonomy)
    if teacher_models:
        teacher_dirs = [str(d) for d in teacher_models]
        members = [_saved_teacher(d, data.taxonomy) for d in teacher_dirs]
    else:
        teacher_dirs = [fit(updated(config, out=str(out / "teacher")), data)]
        for i in range(1, teachers):  # as `train ... seed=S` would: its own draw of capped sources, init and views
            seeded = updated(config, seed=config.seed + i)
            teacher_dirs.append(
                fit(updated(seeded, out=str(out / f"teacher{i + 1}")), load_train_data(seeded, taxonomy))
            )
        members = [load_network(d) for d in teacher_dirs]
    first_teachers = list(teacher_dirs)
    own = (int(data.images.shape[1]), DataConfig.fill)  # the student's rows: letterboxed as its cache is
    decoded, paths, failures = decode_views(paths, [own, *((m.preprocess.size, m.preprocess.fill) for m in members)])
    if not paths:
        raise DataError(f"{unlabelled}: no readable images to pseudo-label (folders, globs or .txt/.csv lists)")
    if adapt_bn:
        _check_enough_photos(unlabelled, len(paths))
    used = []
    for r in range(1, rounds + 1):
        if adapt_bn:
            for member in members:
                adapt_batchnorm(member, _view(member, decoded))
        labels, confidence, keep = confident_leaves(members, decoded, threshold)
        _write_table(out / "pseudo_labels.csv", paths, labels, confidence, keep)  # the last round's labels stay
        used.append(int(keep.sum()))
        rows = np.arange(len(paths)) if soft else np.flatnonzero(keep)  # soft: the unsure ones join unlabelled
        leaves = [labels[i] if keep[i] else None for i in rows]
        combined = with_pseudo_labels(data, decoded[own][rows], [paths[i] for i in rows], leaves)
        student = config if r == rounds else updated(config, out=str(out / f"round{r}"))
        spec = ",".join(str(d) for d in teacher_dirs)  # several: distillation's ensemble teacher
        teacher_dirs = [fit(updated(student, teacher=spec) if soft else student, combined)]
        if r < rounds:
            members = [load_network(teacher_dirs[0])]
    model_dir = Path(teacher_dirs[0])
    unadapted = _adapt_student(model_dir, decoded[own], len(failures)) if adapt_bn else None
    return {
        "teacher": str(first_teachers[0]),
        "teachers": [str(d) for d in first_teachers],
        "model": str(model_dir),
        "unlabelled": len(paths),
        "used": used[-1],
        "used_per_round": used,
        "threshold": threshold,
        "soft_only": len(paths) - used[-1] if soft else 0,  # photos that joined with the teacher's soft labels only
        "table": str(out / "pseudo_labels.csv"),
        "unadapted": str(unadapted) if unadapted else None,  # with adapt_bn: the student before adaptation
    }


def decode_views(paths: list[str], views: list[tuple[int, int]]) -> tuple[Decoded, list[str], list[tuple[str, str]]]:
    """The readable ``paths`` letterboxed at each distinct ``(size, fill)`` (first decode finds the unreadable
    ones), those paths, and (path, reason) for the others."""
    first, *rest = dict.fromkeys(views)
    images, good, failures = decode_paths(paths, *first)
    decoded = {first: images}
    for view in rest:
        decoded[view] = decode_paths(good, *view)[0]
    return decoded, good, failures


def _saved_teacher(path: str, taxonomy: Any) -> Any:
    """A saved model that may label this run's photos: loaded from safetensors, its deepest level's labels the
    run's (in the same order, as the mean of an ensemble's probabilities needs).

    Raises:
        ConfigError: a missing or tampered model directory, or one trained on another taxonomy (named).
    """
    from fashiontag.artifact import ModelFileError
    from fashiontag.config import ConfigError
    from fashiontag.models import load_network

    try:
        net = load_network(path)
    except ModelFileError as exc:
        raise ConfigError(f"--pseudo-teacher {path}: {exc}") from None
    level = taxonomy.levels[-1]
    theirs = list(net.taxonomy.head_labels(level)) if level in net.taxonomy.levels else None
    if theirs != list(taxonomy.head_labels(level)):
        found = f"labels {theirs}" if theirs is not None else f"no level {level!r} (levels {net.taxonomy.levels})"
        raise ConfigError(
            f"--pseudo-teacher {path} has {found}, the run's {level!r} has "
            f"{list(taxonomy.head_labels(level))}; label with a model trained on this taxonomy"
        )
    return net


def _check_soft(config: Any, adapt_bn: bool) -> None:
    """Before the teacher trains: what soft pseudo-labels cannot be combined with."""
    from fashiontag.config import ConfigError

    if config.optim.teacher:
        raise ConfigError(
            f"--pseudo-soft distils from the pseudo-labelling teacher; leave teacher="
            f"{config.optim.teacher} out, or leave --pseudo-soft out to distil from that model"
        )
    if config.optim.mix_activations:
        raise ConfigError(
            "--pseudo-soft with mix_activations: the student distils from cached soft labels of unmixed views; "
            "leave one of them out"
        )
    if adapt_bn:
        raise ConfigError(
            "--pseudo-soft with --adapt-bn: the student would distil from the saved teacher, whose "
            "BatchNorm statistics are not the adapted ones that labelled the photos; use one of them"
        )
    if config.model.strategy == "cascade":
        raise ConfigError(
            "--pseudo-soft: a teacher cannot distil into strategy=cascade (its parts train "
            "separately); use flat, multihead or combined"
        )


def _check_network_adaptable(config: Any) -> None:
    from fashiontag.config import ConfigError
    from fashiontag.models import check_adaptable, create_backbone

    if config.model.strategy == "cascade":
        raise ConfigError(
            "--adapt-bn: a cascade cannot be adapted (each specialist sees only the photos routed to "
            "it); use strategy flat, multihead or combined"
        )
    try:
        check_adaptable(create_backbone(config.model.backbone, pretrained=False)[0])  # untrained: its layers do
    except ValueError as exc:
        raise ConfigError(f"--adapt-bn: {exc}") from None


def _check_enough_photos(unlabelled: str | Path, count: int) -> None:
    from fashiontag.models import MIN_BATCHNORM_IMAGES

    if count < MIN_BATCHNORM_IMAGES:
        raise DataError(
            f"{unlabelled}: {count} readable photos are too few for --adapt-bn (BatchNorm statistics "
            f"need at least {MIN_BATCHNORM_IMAGES}); give more photos or leave --adapt-bn out"
        )


def _adapt_student(model_dir: Path, images: np.ndarray, unreadable: int) -> Path:
    """Move the student to ``OUT/unadapted/model`` and write it adapted to the unlabelled photos at ``model_dir``;
    returns where the unadapted student now is."""
    import shutil

    from fashiontag.artifact import read_sidecar
    from fashiontag.models import adapt_batchnorm, load_network
    from fashiontag.workflows.adapt import save_adapted

    unadapted, staging = model_dir.parent / "unadapted" / model_dir.name, model_dir.parent / ".model.adapting"
    sidecar = read_sidecar(model_dir)
    net = load_network(model_dir, sidecar)
    layers = adapt_batchnorm(net, images)
    shutil.rmtree(staging, ignore_errors=True)  # an interrupted attempt's
    save_adapted(net, sidecar, unadapted, staging, len(images), unreadable, layers)
    shutil.rmtree(unadapted, ignore_errors=True)  # a previous run's
    unadapted.parent.mkdir(parents=True, exist_ok=True)
    model_dir.replace(unadapted)  # two renames: OUT/model is missing only between them
    staging.replace(model_dir)
    return unadapted
