"""Training: TrainConfig, fit (Lightning fine-tune or probe), adapt, tune; loss and augmentation registries.

The public names load on first use (PEP 562), so reading ``TrainConfig`` (``--help``, the CLI's parsing) does not
import torch.

Example:
    >>> from fashiontag.config import build_config
    >>> from fashiontag.train import TrainConfig, fit
    >>> fit(build_config(TrainConfig, data="../shared/data/fpi_small", probe=True, out="runs/probe"))  # doctest: +SKIP
"""  # noqa: E501

from __future__ import annotations

from fashiontag._lazy import lazy_exports

_EXPORTS = {
    "adapt_network": "_adapt", "create_augment": "_augment", "list_augments": "_augment",
    "TrainConfig": "_config", "TrainDataConfig": "_config", "ModelConfig": "_config", "OptimConfig": "_config",
    "TrainerConfig": "_config",
    "TrainData": "_data", "from_arrays": "_data", "load_train_data": "_data", "with_image_size": "_data",
    "build_net": "_fit", "fit": "_fit", "train_network": "_fit",
    "create_loss": "_losses", "focal_loss": "_losses", "list_losses": "_losses",
    "FeatureMemo": "_probe",
}  # fmt: skip

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
