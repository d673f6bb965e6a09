"""TrainConfig: every training knob, in four sections (defaults -> YAML -> key=value).

``data`` (what to read), ``model`` (what network), ``optim`` (how the weights move) and ``trainer`` (how long,
on what hardware, in which mode), plus ``out``, ``name`` and ``seed``. Keys are written nested in YAML
(``optim: {lr: 2e-3}``), dotted (``optim.lr=2e-3``) or flat (``lr=2e-3``): every key name is unique across the
sections, so a flat key always resolves (:mod:`fashiontag.config`). ``data=PATH`` is ``data.root=PATH``.
Change a built config with :func:`fashiontag.config.updated` (``updated(cfg, lr=1e-3)``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from fashiontag.data.config import DatasetConfig


@dataclass(frozen=True)
class TrainDataConfig(DatasetConfig):
    """What training reads: the dataset (``root``, ``reader``, ``taxonomy``, ``source``, ``min_class_count``:
    the data stage's :class:`~fashiontag.data.config.DatasetConfig`, same names and defaults), then how it is
    split, decoded and sampled.

    ``image_size`` is the letterbox size of training's own decoded cache ``OUT/cache_<image_size>``; it is not
    ``DataConfig.size`` (80: the full height of an FPI photo, for ``data prepare``'s standalone cache). Left open,
    it is 64 for thumbnails (a default run on packshots stays quick; the network resizes to its ``model.input_size``
    anyway) and 224 for photos (median longer side above 128 px), from a sample of the images.
    """

    SHORTHAND: ClassVar[str] = "root"  # data=PATH is data.root=PATH

    split: str | None = None  # CSV with item_id,split (train/val/test); default: hash of dup_group
    image_size: int | None = None  # letterbox size of the decoded images (None: 64 for thumbnails, 224 for photos)
    max_items: int | None = None  # cap on items (quick runs, benchmarks)
    max_per_class: int | None = None  # cap on items per class (leaf), drawn before max_items: a class-balanced sample
    sources: tuple[dict[str, Any], ...] = ()  # more datasets in one model: {data, reader, source, weight, name, ...}
    source_weight: float = 1.0  # per-image sampling weight of `root` when `sources` are given (train/_sources.py)
    lazy_cache: bool = False  # read the decoded cache row by row from its memmap (each DDP rank: only its rows)


@dataclass(frozen=True)
class ModelConfig:
    """The network: backbone, head strategy, starting weights, input size and test-time flip."""

    backbone: str = "tf_efficientnet_lite0"
    strategy: str = "flat"
    strategy_attribute: str | None = None  # combined: joint attribute (default: the first)
    pretrained: bool | str = True
    init_from: str | None = None  # adapt: an existing fashiontag model directory
    input_size: int | None = None  # network input (default: backbone's own)
    # label with the mean of each image's and its mirror image's probabilities, inside the network (every backend);
    # 2x the labelling cost, up to +1.2 pt on FPI heads (BENCHMARKS.md, CPU study)
    test_flip: bool = False


@dataclass(frozen=True)
class OptimConfig:
    """How the weights move: optimiser, learning-rate schedule, loss, sampling, augmentation, distillation."""

    optimizer: Literal["adamw", "sgd"] = "adamw"
    lr: float = 1e-3
    backbone_lr_scale: float = 0.1  # backbone lr = lr * scale once unfrozen
    weight_decay: float = 1e-4
    schedule: Literal["cosine", "step", "plateau"] = "cosine"
    warmup_epochs: float = 0.0
    label_smoothing: float = 0.0
    loss: str = "ce"
    # {logit head: factor} on its loss, e.g. loss_weights.baseColour=2 (flat: `leaf` + the attributes); others 1
    loss_weights: dict[str, float] | None = None
    focal_gamma: float = 2.0
    balanced_sampling: bool = False
    augment: str = "light"
    # cached-trunk mode: mixup's Beta(alpha, alpha) on the cached activations at the cut (manifold mixup: the
    # views are cached, so mixing happens after them); 0 = off. Not with a distillation teacher.
    mix_activations: float = 0.0
    # knowledge distillation (train/_distill.py): a saved fashiontag model whose softened logits are extra targets
    teacher: str | None = None  # its model directory (same taxonomy heads and strategy as the student), or None
    distill_alpha: float = 0.5  # loss = (1 - alpha) * task loss + alpha * T^2 * KL(teacher || student), per head
    distill_temperature: float = 2.0  # T: softens both distributions
    ema_decay: float | None = None  # e.g. 0.995: validate, keep and save an EMA of the weights (train/_ema.py)


@dataclass(frozen=True)
class TrainerConfig:
    """How long and where: epochs, batches, mode, precision, devices, time budget."""

    epochs: int = 5
    batch_size: int = 32
    head_epochs: int = 1  # epochs with a frozen backbone before the full fine-tune
    # epochs without a better `monitor` before stopping; None = 3, or off under time_limit (the planner sized
    # the cosine schedule to the budget: stopping early skips its low-learning-rate end)
    early_stopping_patience: int | None = None
    monitor: Literal["val_accuracy", "val_macro_f1"] = "val_accuracy"  # picks the kept checkpoint; see docs/train.md
    # several sources: whose val rows `monitor` is measured on - `main` (the --data one, what the model is for),
    # a source's name, or `all`; the other val rows are still scored per source in the sidecar
    monitor_source: str = "main"
    mode: Literal["auto", "full", "trunk", "probe"] = "auto"  # auto: full, or the time_limit planner's pick
    probe: bool = False  # shorthand for mode=probe
    trunk_cut: int = -3  # trunk mode: first trained backbone stage (negative: from the end); earlier ones cached
    trunk_views: int = 2  # trunk mode: cached views per image (the image, its mirror, then augment-preset views)
    probe_steps: int = 2000  # mini-batches of 512 on the frozen features
    time_limit: str | None = None  # e.g. "10m": pick the recipe that fits, stop there with the best checkpoint
    precision: str = "auto"  # auto: bf16-mixed on GPU, 32 on CPU
    accelerator: str = "auto"
    devices: int = 1
    num_nodes: int = 1  # machines in a torchrun/SLURM launch (each runs `devices` processes); docs/scale.md
    ddp: bool = False
    num_workers: int = 0
    limit_train_batches: float | int = 1.0
    limit_val_batches: float | int = 1.0
    progress_bar: bool = True
    # after training: fit temperatures and Learn-then-Test review thresholds (evaluate's defaults) on the val
    # split and save them in the model, so that needs_review means something from its first prediction
    calibrate: bool = True

    @property
    def train_mode(self) -> str:
        """The mode that runs: ``probe=True`` wins, ``auto`` without a time limit is ``full``."""
        if self.probe:
            return "probe"
        return "full" if self.mode == "auto" else self.mode


@dataclass(frozen=True)
class TrainConfig:
    """Training run settings.

    Example:
        >>> from fashiontag.config import build_config, updated
        >>> cfg = build_config(TrainConfig, overrides=["lr=0.01", "trainer.epochs=2", "data=photos"])
        >>> cfg.optim.lr, cfg.trainer.epochs, cfg.data.root
        (0.01, 2, 'photos')
        >>> updated(cfg, epochs=3).trainer.epochs
        3
    """

    data: TrainDataConfig = field(default_factory=TrainDataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    out: str = "runs/default"
    name: str | None = None  # model name (sidecar, report title, service page badge); default: OUT's folder name
    seed: int = 0
