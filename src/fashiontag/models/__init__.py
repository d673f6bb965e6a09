"""Networks: backbone registry, output strategies, TaggerNet/CascadeNet, save/load of model directories.

Example:
    >>> from fashiontag.models import create_network, save_model, load_network
    >>> net = create_network(taxonomy, "tf_efficientnet_lite0", "flat", pretrained=True)  # doctest: +SKIP
"""

from fashiontag.models._backbones import (
    BackboneSpec,
    backbone_spec,
    create_backbone,
    describe_backbones,
    list_backbones,
    register_backbone,
)
from fashiontag.models._batchnorm import MIN_BATCHNORM_IMAGES, adapt_batchnorm, batchnorm_layers, check_adaptable
from fashiontag.models._card import model_card, write_model_card
from fashiontag.models._cascade import CascadeNet
from fashiontag.models._net import (
    TaggerNet,
    create_network,
    default_preprocess,
    images_to_input,
    normalise_input,
    resize_images,
)
from fashiontag.models._save import WEIGHTS_NAME, load_network, save_model
from fashiontag.models._stages import backbone_stages, list_cuttable_families, split_backbone
from fashiontag.models._strategies import create_strategy, list_strategies, register_strategy
from fashiontag.models._weights import WeightsError, map_state_dict, resolve_pretrained_state

__all__ = [
    "BackboneSpec", "CascadeNet", "MIN_BATCHNORM_IMAGES", "TaggerNet", "WEIGHTS_NAME", "WeightsError",
    "adapt_batchnorm", "backbone_spec", "backbone_stages", "batchnorm_layers", "check_adaptable",
    "create_backbone", "create_network", "create_strategy", "default_preprocess", "describe_backbones",
    "images_to_input", "list_backbones", "list_cuttable_families", "list_strategies", "load_network",
    "map_state_dict", "model_card", "normalise_input", "register_backbone", "register_strategy", "resize_images",
    "resolve_pretrained_state", "save_model", "split_backbone", "write_model_card",
]  # fmt: skip
