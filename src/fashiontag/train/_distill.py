"""Knowledge distillation (Hinton et al. 2015): a stronger saved model's softened logits as extra targets.

``optim.teacher`` names a saved fashiontag model (a larger input size, another backbone such as lite2) with the
student's taxonomy heads and strategy, or several, comma-separated: an ensemble, whose soft labels are the mean
of its members' probabilities (members trained apart make fewer of the same mistakes; Hinton et al. distilled
ensembles). Per strategy logit head:

    loss = (1 - alpha) * task loss + alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T))

(``distill_alpha``, ``distill_temperature``; the T^2 keeps the soft term's gradients on the task loss's scale
whatever T is). The teacher labels each training image and view once where the mode caches its inputs: trunk
mode in the activation pass, stored beside the activations (``teacher_<v>.npy``, fp16); probe mode once per
image. Full mode augments on the fly, so the teacher labels each augmented batch. The soft term applies to
every row, also to heads a source cannot label (masked from the task loss): that is where soft labels add
most. Validation and the kept checkpoint stay on the true labels.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from fashiontag.config import ConfigError
from fashiontag.models import normalise_input, resize_images
from fashiontag.train._config import TrainConfig


class TeacherLogits(nn.Module):
    """Float ``[0,1]`` NCHW (the student's view of a batch, at any size) -> the teacher's logits per strategy
    head, concatenated in ``logit_heads`` order. Each member resizes to its own input size and normalises with
    its own mean/std, so it sees the same (augmented) pixels the student sees. One member: its raw logits;
    several: per head the log of their mean probability (softmax of it = the ensemble's mean). Exportable to
    ONNX."""

    def __init__(self, nets: nn.Module | list[nn.Module]) -> None:
        super().__init__()
        members = [nets] if isinstance(nets, nn.Module) else list(nets)
        self.nets = nn.ModuleList(net.eval().requires_grad_(False) for net in members)
        self.input_size = max(int(net.preprocess.input_size) for net in members)  # decode at the largest

    def _member_logits(self, net: nn.Module, x: Tensor) -> dict[str, Tensor]:
        size = net.preprocess.input_size
        if tuple(x.shape[-2:]) != (size, size):
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=False)
        return net.forward_logits(normalise_input(x.to(net.mean.dtype), net.mean, net.std))

    def forward(self, x: Tensor) -> Tensor:
        outputs = [self._member_logits(net, x) for net in self.nets]
        heads = self.nets[0].logit_heads
        if len(outputs) == 1:
            return torch.cat([outputs[0][h].float() for h in heads], dim=1)
        mean_log_probs = [
            torch.logsumexp(torch.stack([F.log_softmax(out[h].float(), dim=1) for out in outputs]), dim=0)
            - math.log(len(outputs))
            for h in heads
        ]
        return torch.cat(mean_log_probs, dim=1)


def kd_loss(student: Tensor, teacher: Tensor, temperature: float) -> Tensor:
    """``T^2 * KL(softmax(teacher / T) || softmax(student / T))``, averaged over the rows of one head."""
    t = float(temperature)
    log_student = F.log_softmax(student.float() / t, dim=-1)
    log_teacher = F.log_softmax(teacher.float() / t, dim=-1)
    return F.kl_div(log_student, log_teacher, log_target=True, reduction="batchmean") * (t * t)


@dataclass
class Distillation:
    """A loaded, frozen teacher and how its logits enter the loss."""

    teacher: TeacherLogits
    record: dict[str, Any]  # path, sha256 of its sidecar, weight hashes (as init_from records its source)
    heads: list[str]  # strategy logit heads, the order of the concatenated logits
    sizes: list[int]  # classes per logit head
    alpha: float
    temperature: float

    @property
    def key(self) -> str:
        """What the cached soft labels depend on (with the view images): the teacher's sidecar hash."""
        return self.record["sha256"]

    @property
    def width(self) -> int:
        return sum(self.sizes)

    @torch.no_grad()
    def logits(self, x: Tensor) -> Tensor:
        """The teacher's concatenated logits for a float ``[0,1]`` NCHW batch (moved to the batch's device)."""
        first = next(self.teacher.parameters(), None)
        if first is not None and first.device != x.device:
            self.teacher.to(x.device)
        return self.teacher(x)

    def soft_loss(self, student: dict[str, Tensor], teacher: Tensor) -> Tensor:
        """Sum over logit heads of :func:`kd_loss` (``teacher``: concatenated logits, fp16 from a cache or not)."""
        parts = teacher.to(student[self.heads[0]].device).float().split(self.sizes, dim=1)
        return sum(kd_loss(student[h], t, self.temperature) for h, t in zip(self.heads, parts, strict=True))

    def loss(self, task: Tensor, student: dict[str, Tensor], teacher: Tensor) -> Tensor:
        """``(1 - alpha) * task + alpha * soft``: ``task`` is the masked task loss summed over the same heads."""
        return (1 - self.alpha) * task + self.alpha * self.soft_loss(student, teacher)

    def sidecar(self) -> dict[str, Any]:
        """The student sidecar's ``teacher`` entry (an ensemble: its ``members``, each recorded as one teacher)."""
        described = [
            {**record, "backbone": net.backbone_name, "input_size": net.preprocess.input_size}
            for record, net in zip(self.record.get("members", [self.record]), self.teacher.nets, strict=True)
        ]
        base = described[0] if len(described) == 1 else {**self.record, "members": described}
        return {**base, "alpha": self.alpha, "temperature": self.temperature}


def teacher_paths(value: str) -> list[str]:
    """``optim.teacher``'s model directories: one, or several comma-separated (an ensemble).

    Raises:
        ConfigError: an empty entry (``a,,b``, a trailing comma) or the same directory twice.
    """
    paths = [part.strip() for part in value.split(",")]
    if not all(paths):
        raise ConfigError(f"teacher={value!r}: an empty entry; give model directories separated by commas")
    if len({str(Path(p).resolve()) for p in paths}) != len(paths):
        raise ConfigError(f"teacher={value!r} names a model twice; an ensemble's members must differ")
    return paths


def _head_labels(net: nn.Module) -> dict[str, list]:
    return {h: list(net.taxonomy.head_labels(h)) for h in net.heads}


def _logit_sizes(net: nn.Module) -> list[int]:
    with torch.no_grad():
        out = net.head(torch.zeros(1, net.num_features))
    return [int(out[h].shape[1]) for h in net.logit_heads]


def _check_heads(path: str, teacher: nn.Module, student: nn.Module) -> None:
    ours, theirs = _head_labels(student), _head_labels(teacher)
    differing = []
    for head in sorted(set(ours) | set(theirs)):
        if head not in theirs:
            differing.append(f"{head} (student only)")
        elif head not in ours:
            differing.append(f"{head} (teacher only)")
        elif ours[head] != theirs[head]:
            differing.append(f"{head} (other labels or label order)")
    if differing:
        raise ConfigError(
            f"teacher={path} has other taxonomy heads than the student: {', '.join(differing)}; "
            "distillation needs the same heads and labels (train the teacher on this taxonomy)"
        )
    same = (
        teacher.strategy == student.strategy
        and teacher.strategy_options == student.strategy_options
        and teacher.logit_heads == student.logit_heads
        and teacher.taxonomy.leaves == student.taxonomy.leaves
        and _logit_sizes(teacher) == _logit_sizes(student)
    )
    if not same:
        raise ConfigError(
            f"teacher={path} has strategy {teacher.strategy!r} {teacher.strategy_options or ''} "
            f"(logit heads {teacher.logit_heads}) but the student {student.strategy!r} "
            f"{student.strategy_options or ''} (logit heads {student.logit_heads}); distillation "
            f"matches logits head by head: set strategy={teacher.strategy} or use another teacher"
        )


def load_distillation(config: TrainConfig, net: nn.Module) -> Distillation | None:
    """The run's teacher (None without ``optim.teacher``): checked, loaded from safetensors, frozen, eval mode.

    Raises:
        ConfigError: alpha outside [0, 1], temperature <= 0, a missing or tampered teacher, a cascade (student
            or teacher), or a teacher whose heads or strategy differ from the student's (named).
    """
    from fashiontag.artifact import ModelFileError
    from fashiontag.train._adapt import load_checked

    optim = config.optim
    if not optim.teacher:
        return None
    if not 0.0 <= optim.distill_alpha <= 1.0:
        raise ConfigError(f"distill_alpha must be in [0, 1], got {optim.distill_alpha}")
    if optim.distill_temperature <= 0:
        raise ConfigError(f"distill_temperature must be > 0, got {optim.distill_temperature}")
    if net.parts():
        raise ConfigError(
            "a teacher cannot distil into strategy=cascade (its parts train separately); use flat, "
            "multihead or combined"
        )
    nets, records = [], []
    for path in teacher_paths(optim.teacher):
        try:
            teacher, record = load_checked(path)
        except ModelFileError as exc:
            raise ConfigError(f"teacher={path}: {exc}") from None
        if teacher.parts():
            raise ConfigError(f"teacher={path} is a cascade; distillation needs a single-network teacher")
        _check_heads(path, teacher, net)
        nets.append(teacher)
        records.append(record)
    return Distillation(
        TeacherLogits(nets),
        records[0] if len(records) == 1 else _ensemble_record(records),
        list(net.logit_heads),
        _logit_sizes(net),
        float(optim.distill_alpha),
        float(optim.distill_temperature),
    )


def _ensemble_record(records: list[dict[str, Any]]) -> dict[str, Any]:
    """An ensemble's record: its members', and one hash over theirs (what its cached soft labels depend on)."""
    joined = "\n".join(r["sha256"] for r in records).encode()
    return {
        "path": ",".join(r["path"] for r in records),
        "sha256": hashlib.sha256(joined).hexdigest(),
        "members": records,
    }


@torch.no_grad()
def teacher_image_logits(distill: Distillation, images: np.ndarray, input_size: int, batch_size: int = 128) -> Tensor:
    """The teacher's logits for uint8 ``[N,S,S,3]`` images, seen as the student sees them (resized to the
    student's ``input_size``, then to the teacher's own): probe mode's soft labels, once per image."""
    out = []
    for start in range(0, len(images), batch_size):
        batch = torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size]))
        out.append(distill.logits(resize_images(batch, batch.shape[1], input_size)).float().cpu())
    return torch.cat(out) if out else torch.zeros(0, distill.width)
