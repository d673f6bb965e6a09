"""TrainConfig: every training knob in one frozen dataclass (defaults -> YAML -> key=value)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class TrainConfig:
    """Training run settings.

    Example:
        >>> from fashiontag.config import build_config
        >>> build_config(TrainConfig, overrides=["lr=0.01", "epochs=2"]).lr
        0.01
    """

    data: str = ""  # dataset root (or manifest file)
    taxonomy: str = "auto"  # built-in name or YAML path; auto: fpi for FPI, else inferred from class folders
    reader: str = "auto"  # fashiontag.data.readers name; auto: fpi if styles.csv exists, else folder
    source: str = ""  # taxonomy.sources key used by map_items (default: from the reader)
    split: str | None = None  # CSV with item_id,split (train/val/test); default: hash of dup_group
    out: str = "runs/default"
    name: str | None = None  # model name (sidecar, report title, service page badge); default: OUT's folder name
    backbone: str = "tf_efficientnet_lite0"
    strategy: str = "flat"
    strategy_attribute: str | None = None  # combined: joint attribute (default: the first)
    pretrained: bool | str = True
    init_from: str | None = None  # adapt: an existing fashiontag model directory
    image_size: int = 64  # letterbox size of the decoded images
    input_size: int | None = None  # network input (default: backbone's own)
    epochs: int = 5
    batch_size: int = 32
    optimizer: Literal["adamw", "sgd"] = "adamw"
    lr: float = 1e-3
    backbone_lr_scale: float = 0.1  # backbone lr = lr * scale once unfrozen
    weight_decay: float = 1e-4
    schedule: Literal["cosine", "step", "plateau"] = "cosine"
    warmup_epochs: float = 0.0
    label_smoothing: float = 0.0
    loss: str = "ce"
    focal_gamma: float = 2.0
    balanced_sampling: bool = False
    augment: str = "light"
    head_epochs: int = 1  # epochs with a frozen backbone before the full fine-tune
    early_stopping_patience: int = 3
    precision: str = "auto"  # auto: bf16-mixed on GPU, 32 on CPU
    accelerator: str = "auto"
    devices: int = 1
    ddp: bool = False
    num_workers: int = 0
    seed: int = 0
    probe: bool = False  # shorthand for mode=probe
    mode: Literal["auto", "full", "trunk", "probe"] = "auto"  # auto: full, or the time_limit planner's pick
    trunk_cut: int = -3  # trunk mode: first trained backbone stage (negative: from the end); earlier ones cached
    trunk_views: int = 2  # trunk mode: cached views per image (the image, its mirror, then augment-preset views)
    time_limit: str | None = None  # e.g. "10m": pick the recipe that fits, stop there with the best checkpoint
    probe_steps: int = 2000  # mini-batches of 512 on the frozen features
    limit_train_batches: float | int = 1.0
    limit_val_batches: float | int = 1.0
    max_items: int | None = None  # cap on items (quick runs, benchmarks)
    progress_bar: bool = True
    min_class_count: int = 5  # classes inferred from folders with fewer images stop the run (0: no check)
    sources: tuple[dict[str, Any], ...] = ()  # more datasets in one model: {data, reader, source, weight, name}
    source_weight: float = 1.0  # per-image sampling weight of `data` when `sources` are given (train/_sources.py)
    num_nodes: int = 1  # machines in a torchrun/SLURM launch (each runs `devices` processes); docs/scale.md
    lazy_cache: bool = False  # read the decoded cache row by row from its memmap (each DDP rank: only its rows)

    @property
    def train_mode(self) -> str:
        """The mode that runs: ``probe=True`` wins, ``auto`` without a time limit is ``full``."""
        if self.probe:
            return "probe"
        return "full" if self.mode == "auto" else self.mode
