"""Training: TrainConfig, fit (Lightning fine-tune or probe), adapt, tune; loss and augmentation registries.

Example:
    >>> from fashiontag.train import TrainConfig, fit
    >>> fit(TrainConfig(data="../shared/data/fpi_small", probe=True, out="runs/probe"))  # doctest: +SKIP
"""

from fashiontag.train._adapt import adapt_network
from fashiontag.train._augment import create_augment, list_augments
from fashiontag.train._config import TrainConfig
from fashiontag.train._data import TrainData, from_arrays, load_train_data
from fashiontag.train._fit import build_net, fit, train_network
from fashiontag.train._losses import create_loss, focal_loss, list_losses
from fashiontag.train._probe import FeatureMemo

__all__ = [
    "TrainConfig", "TrainData", "adapt_network", "build_net", "create_augment", "create_loss", "fit",
    "FeatureMemo", "focal_loss", "from_arrays", "list_augments", "list_losses", "load_train_data", "train_network",
]
