"""Cached-trunk fine-tuning: the frozen early stages run once per image and view, the last stages train.

On a 2-core CPU most of a fine-tuning step is spent in the early, high-resolution stages whose ImageNet
filters barely change on product photos. Running them once per image (and once per each of K augmented
views), keeping their activations as fp16 memmaps, and training only the last stage(s) plus the heads from
that cache gives most of a full fine-tune's gain at a fraction of its cost. The trunk runs in onnxruntime
when it exports (1.5-3x faster than eager torch on CPU), else in torch.

Views: 0 is the image itself, 1 its mirror image, 2.. the run's augmentation preset with a fixed seed per
view, so a resumed or repeated run reads the same activations. Validation uses view 0 only.

With a teacher (``optim.teacher``, :mod:`fashiontag.train._distill`) the same pass runs it on the same view
images and keeps its logits beside the activations (``teacher_<v>.npy``, fp16, train rows only); the teacher's
sidecar hash is part of the cache key, so another teacher never reuses these soft labels.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from fashiontag._io import write_json
from fashiontag.models import normalise_input, resize_images, split_backbone

_FORMAT = 1


class _Trunk(nn.Module):
    """Float [0,1] NCHW at the network's input size -> normalised -> frozen stages (what ONNX exports)."""

    def __init__(self, frozen: nn.Module, mean: Tensor, std: Tensor) -> None:
        super().__init__()
        self.frozen = frozen
        self.register_buffer("mean", mean.detach().clone())
        self.register_buffer("std", std.detach().clone())

    def forward(self, x: Tensor) -> Tensor:
        return self.frozen(normalise_input(x, self.mean, self.std))


#: images per trunk call of the first pass: on 224 px phone photos batches of 32 ran 30-55% faster than 128 (the
#: input alone is 77 MB at 128), at 112 px as fast (bench/bench_first_pass.py); the planner times the same batches
EXTRACT_BATCH = 32


def make_view(x: Tensor, view: int, augment: nn.Module, seed: int) -> Tensor:
    """View ``view`` of a float [0,1] batch: 0 itself, 1 mirrored, >= 2 the augmentation preset (seeded)."""
    if view == 0:
        return x
    if view == 1:
        return x.flip(-1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        out, mix = augment(x)
    if mix is not None:
        raise ValueError(
            "cached-trunk views need a preset that does not mix images (mixup/cutmix mix labels too); "
            "use augment=light, strong, randaugment or trivialaugment"
        )
    return out


class _Runner:
    """Runs the trunk on float batches: onnxruntime when the trunk exports, else eager torch."""

    def __init__(self, trunk: nn.Module, input_size: int, folder: Path, name: str = "trunk") -> None:
        self.trunk, self.session = trunk.eval(), None
        try:
            import onnxruntime as ort

            from fashiontag._threads import onnxruntime_threads

            path = folder / f"{name}.onnx"
            example = torch.zeros(1, 3, input_size, input_size)
            with warnings.catch_warnings():  # exported for one input size: a size check traced as a constant is right
                warnings.simplefilter("ignore", torch.jit.TracerWarning)
                torch.onnx.export(
                    trunk,
                    (example,),
                    str(path),
                    input_names=["x"],
                    output_names=["y"],
                    dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}},
                    opset_version=17,
                    dynamo=False,
                )
            options = ort.SessionOptions()
            options.intra_op_num_threads = onnxruntime_threads()
            # torch resizes and mirrors each batch between two runs: onnxruntime's threads spinning after a run
            # slowed that resize 4x (FPI, 80 -> 112 px); resize + trunk ran 12-30% faster without
            # (bench/bench_first_pass.py)
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # noqa: BLE001 - any export/runtime failure: eager torch still works
            print(f"   {name}: onnxruntime unavailable ({type(error).__name__}: {error}); using torch")

    @property
    def engine(self) -> str:
        return "onnxruntime" if self.session is not None else "torch"

    @torch.no_grad()
    def __call__(self, x: Tensor) -> np.ndarray:
        if self.session is not None:
            return self.session.run(None, {"x": x.numpy()})[0]
        return self.trunk(x).numpy()


@dataclass
class ActivationStore:
    """fp16 activations: ``views[v]`` is ``[len(rows_v), C, H, W]``; view 0 covers train + val rows (in that
    order), the other views the train rows only. ``teacher[v]`` (with a teacher): its logits ``[n_train, K]`` for
    the train rows of view ``v``."""

    folder: Path
    views: list[np.memmap]
    n_train: int
    engine: str
    teacher: list[np.memmap] | None = None

    def batch(self, view: int, positions: np.ndarray, arrays: list[np.memmap] | None = None) -> np.ndarray:
        """Rows ``positions`` of view ``view`` (of ``arrays``, default the activations), read in file order."""
        source = (self.views if arrays is None else arrays)[view]
        order = np.argsort(positions, kind="stable")
        out = np.empty((len(positions), *source.shape[1:]), dtype=np.float16)
        out[order] = source[positions[order]]
        return out


def weights_digest(module: nn.Module) -> str:
    """sha1 over a module's state dict: the key part that changes when the weights do (init_from, training)."""
    digest = hashlib.sha1()
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def cache_key(
    net: nn.Module,
    cut: int,
    images: np.ndarray,
    train_rows: np.ndarray,
    val_rows: np.ndarray,
    augment: str,
    seed: int,
    teacher: str | None = None,
    batch_size: int = 128,
) -> str:
    """What the activations depend on: backbone weights, cut, preprocessing, the images, rows, views' recipe
    (augmented views draw per batch, so the batch size), and the teacher (its sidecar's sha256) whose logits are
    stored with them."""
    digest = hashlib.sha1()
    parts = [
        net.backbone_name,
        weights_digest(net.backbone),
        cut,
        json.dumps(net.preprocess.to_dict()),
        images.shape,
        augment,
        seed,
        _FORMAT,
    ]
    extra = [f"teacher:{teacher}"] if teacher else []
    extra += [f"batch:{batch_size}"] if batch_size != 128 else []  # batches of 128: the keys runs had before
    for part in parts + extra:
        digest.update(repr(part).encode())
    for rows in (train_rows, val_rows):
        digest.update(np.ascontiguousarray(rows).tobytes())
        digest.update(np.ascontiguousarray(images[rows[:: max(1, len(rows) // 512)]]).tobytes())
    return digest.hexdigest()[:16]


def _open(path: Path, shape: tuple[int, ...]) -> np.memmap:
    return np.lib.format.open_memmap(path.with_suffix(".tmp"), mode="w+", dtype=np.float16, shape=shape)


def _finish(out: np.memmap, path: Path) -> np.memmap:
    """Flush a memmap opened by :func:`_open` and rename it into place (complete files only)."""
    out.flush()
    del out
    os.replace(path.with_suffix(".tmp"), path)
    return np.load(path, mmap_mode="r")


def _extract_view(
    runner: _Runner,
    images: np.ndarray,
    rows: np.ndarray,
    view: int,
    augment: nn.Module,
    net: Any,
    seed: int,
    path: Path,
    batch_size: int,
    progress: bool,
    teacher: tuple[_Runner, int, Path] | None = None,
) -> tuple[np.memmap, np.memmap | None]:
    """One view's activations and, with ``teacher = (runner, n, path)``, the teacher's logits of its first ``n``
    rows, from the same view images. The teacher's file is renamed into place first, so a finished view file
    means its soft labels are complete too."""
    from tqdm.auto import tqdm

    pre = net.preprocess
    sample = resize_images(torch.from_numpy(images[rows[:1]]), pre.size, pre.input_size)
    out = _open(path, (len(rows), *runner(sample).shape[1:]))
    soft = _open(teacher[2], (teacher[1], teacher[0](sample).shape[1])) if teacher else None
    bar = tqdm(total=len(rows), desc=f"trunk view {view}", unit="img", disable=not progress, mininterval=2)
    for start in range(0, len(rows), batch_size):
        chunk = torch.from_numpy(np.ascontiguousarray(images[rows[start : start + batch_size]]))
        x = make_view(
            resize_images(chunk, pre.size, pre.input_size), view, augment, seed * 1_000_003 + view * 7919 + start
        ).contiguous()
        out[start : start + len(chunk)] = runner(x)
        if soft is not None and start < teacher[1]:  # the teacher labels train rows only (they come first)
            soft[start : start + len(chunk)] = teacher[0](x[: teacher[1] - start])
        bar.update(len(chunk))
    bar.close()
    labels = _finish(soft, teacher[2]) if soft is not None else None
    return _finish(out, path), labels


def build_activations(
    net: nn.Module,
    images: np.ndarray,
    train_rows: np.ndarray,
    val_rows: np.ndarray,
    cut: int,
    views: int,
    augment_name: str,
    seed: int,
    root: Path,
    progress: bool = True,
    batch_size: int = EXTRACT_BATCH,
    distill: Any = None,
) -> ActivationStore:
    """Activations of the frozen trunk for every view, reusing views already on disk under ``root/<key>``;
    with ``distill`` (a :class:`~fashiontag.train._distill.Distillation`) also its teacher's logits of the
    train rows of every view, from the same view images.

    Each view file is written under a temporary name and renamed when complete, so an interrupted run
    redoes only the unfinished view.
    """
    from fashiontag.train._augment import create_augment

    if views <= 2 and augment_name not in ("light", "none"):  # "light", the default, is not worth a line
        print(
            f"   trunk: augment={augment_name} is not used: views 0 and 1 are each image and its mirror, the "
            f"preset makes views 2 and up (trunk_views={views}; set trunk_views=3 or more)",
            flush=True,
        )
    frozen, _ = split_backbone(net.backbone, cut)
    teacher = distill.key if distill else None
    key = cache_key(net, cut, images, train_rows, val_rows, augment_name, seed, teacher, batch_size)
    folder = root / key
    folder.mkdir(parents=True, exist_ok=True)
    input_size = net.preprocess.input_size
    runner = _Runner(_Trunk(frozen, net.mean, net.std), input_size, folder)
    teacher = _Runner(distill.teacher, input_size, folder, "teacher") if distill else None
    augment = create_augment(augment_name)
    stores, labels, started = [], [], time.perf_counter()
    for view in range(views):
        path, soft_path = folder / f"view_{view}.npy", folder / f"teacher_{view}.npy"
        rows = np.concatenate([train_rows, val_rows]) if view == 0 else train_rows
        if path.exists() and (teacher is None or soft_path.exists()):
            stores.append(np.load(path, mmap_mode="r"))
            labels.append(np.load(soft_path, mmap_mode="r") if teacher else None)
            continue
        job = (teacher, len(train_rows), soft_path) if teacher else None
        store, soft = _extract_view(runner, images, rows, view, augment, net, seed, path, batch_size, progress, job)
        stores.append(store)
        labels.append(soft)
    meta = {
        "format": _FORMAT,
        "backbone": net.backbone_name,
        "cut": cut,
        "views": views,
        "augment": augment_name,
        "train_rows": len(train_rows),
        "val_rows": len(val_rows),
        "shape": list(stores[0].shape[1:]),
        "dtype": "float16",
        "engine": runner.engine,
        "seconds": round(time.perf_counter() - started, 1),
    }
    if distill:
        meta["teacher"] = {
            "path": distill.record["path"],
            "sha256": distill.key,
            "logit_heads": distill.heads,
            "sizes": distill.sizes,
            "engine": teacher.engine,
        }
    write_json(folder / "meta.json", meta)
    return ActivationStore(folder, stores, len(train_rows), runner.engine, labels if distill else None)
