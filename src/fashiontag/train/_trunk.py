"""Cached-trunk fine-tuning: the frozen early stages run once per image and view, the last stages train.

On a 2-core CPU most of a fine-tuning step is spent in the early, high-resolution stages whose ImageNet
filters barely change on product photos. Running them once per image (and once per each of K augmented
views), keeping their activations as fp16 memmaps, and training only the last stage(s) plus the heads from
that cache gives most of a full fine-tune's gain at a fraction of its cost. The trunk runs in onnxruntime
when it exports (1.5-3x faster than eager torch on CPU), else in torch.

Views: 0 is the image itself, 1 its mirror image, 2.. the run's augmentation preset with a fixed seed per
view, so a resumed or repeated run reads the same activations. Validation uses view 0 only.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
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
        raise ValueError("cached-trunk views need a preset that does not mix images (mixup/cutmix mix labels too); "
                         "use augment=light, strong, randaugment or trivialaugment")
    return out


class _Runner:
    """Runs the trunk on float batches: onnxruntime when the trunk exports, else eager torch."""

    def __init__(self, trunk: _Trunk, input_size: int, folder: Path) -> None:
        self.trunk, self.session = trunk.eval(), None
        try:
            import onnxruntime as ort

            from fashiontag._threads import onnxruntime_threads

            path = folder / "trunk.onnx"
            example = torch.zeros(1, 3, input_size, input_size)
            torch.onnx.export(trunk, (example,), str(path), input_names=["x"], output_names=["y"],
                              dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}}, opset_version=17, dynamo=False)
            options = ort.SessionOptions()
            options.intra_op_num_threads = onnxruntime_threads()
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # noqa: BLE001 - any export/runtime failure: eager torch still works
            print(f"   trunk: onnxruntime unavailable ({type(error).__name__}: {error}); using torch")

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
    order), the other views the train rows only."""

    folder: Path
    views: list[np.memmap]
    n_train: int
    engine: str

    def batch(self, view: int, positions: np.ndarray) -> np.ndarray:
        order = np.argsort(positions, kind="stable")
        out = np.empty((len(positions), *self.views[view].shape[1:]), dtype=np.float16)
        out[order] = self.views[view][positions[order]]
        return out


def weights_digest(module: nn.Module) -> str:
    """sha1 over a module's state dict: the key part that changes when the weights do (init_from, training)."""
    digest = hashlib.sha1()
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def cache_key(net: nn.Module, cut: int, images: np.ndarray, train_rows: np.ndarray, val_rows: np.ndarray,
              augment: str, seed: int) -> str:
    """What the activations depend on: backbone weights, cut, preprocessing, the images, rows, views' recipe."""
    digest = hashlib.sha1()
    for part in (net.backbone_name, weights_digest(net.backbone), cut, json.dumps(net.preprocess.to_dict()),
                 images.shape, augment, seed, _FORMAT):
        digest.update(repr(part).encode())
    for rows in (train_rows, val_rows):
        digest.update(np.ascontiguousarray(rows).tobytes())
        digest.update(np.ascontiguousarray(images[rows[:: max(1, len(rows) // 512)]]).tobytes())
    return digest.hexdigest()[:16]


def _extract_view(runner: _Runner, images: np.ndarray, rows: np.ndarray, view: int, augment: nn.Module, net: Any,
                  seed: int, path: Path, batch_size: int, progress: bool) -> np.memmap:
    from tqdm.auto import tqdm

    pre = net.preprocess
    first = runner(resize_images(torch.from_numpy(images[rows[:1]]), pre.size, pre.input_size))
    tmp = path.with_suffix(".tmp")
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float16, shape=(len(rows), *first.shape[1:]))
    bar = tqdm(total=len(rows), desc=f"trunk view {view}", unit="img", disable=not progress, mininterval=2)
    for start in range(0, len(rows), batch_size):
        chunk = torch.from_numpy(np.ascontiguousarray(images[rows[start : start + batch_size]]))
        x = make_view(resize_images(chunk, pre.size, pre.input_size), view, augment, seed * 1_000_003 + view * 7919
                      + start)
        out[start : start + len(chunk)] = runner(x.contiguous())
        bar.update(len(chunk))
    bar.close()
    out.flush()
    del out
    os.replace(tmp, path)
    return np.load(path, mmap_mode="r")


def build_activations(net: nn.Module, images: np.ndarray, train_rows: np.ndarray, val_rows: np.ndarray, cut: int,
                      views: int, augment_name: str, seed: int, root: Path, progress: bool = True,
                      batch_size: int = 128) -> ActivationStore:
    """Activations of the frozen trunk for every view, reusing views already on disk under ``root/<key>``.

    Each view file is written under a temporary name and renamed when complete, so an interrupted run
    redoes only the unfinished view.
    """
    from fashiontag.train._augment import create_augment

    frozen, _ = split_backbone(net.backbone, cut)
    key = cache_key(net, cut, images, train_rows, val_rows, augment_name, seed)
    folder = root / key
    folder.mkdir(parents=True, exist_ok=True)
    runner = _Runner(_Trunk(frozen, net.mean, net.std), net.preprocess.input_size, folder)
    augment = create_augment(augment_name)
    stores, started = [], time.perf_counter()
    for view in range(views):
        path = folder / f"view_{view}.npy"
        rows = np.concatenate([train_rows, val_rows]) if view == 0 else train_rows
        if path.exists():
            stores.append(np.load(path, mmap_mode="r"))
            continue
        stores.append(_extract_view(runner, images, rows, view, augment, net, seed, path, batch_size, progress))
    write_json(folder / "meta.json", {"format": _FORMAT, "backbone": net.backbone_name, "cut": cut, "views": views,
                                      "augment": augment_name, "train_rows": len(train_rows),
                                      "val_rows": len(val_rows), "shape": list(stores[0].shape[1:]),
                                      "dtype": "float16", "engine": runner.engine,
                                      "seconds": round(time.perf_counter() - started, 1)})
    return ActivationStore(folder, stores, len(train_rows), runner.engine)
