"""Adapt: start a run from an existing fashiontag model (``init_from``) instead of fresh weights.

The backbone always comes from the source model; the heads too when they mean the same thing (same taxonomy
fingerprint, strategy and strategy options), otherwise they start fresh in the new taxonomy's label order.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from fashiontag._io import sha256_file
from fashiontag.artifact import SIDECAR_NAME, Preprocess, read_sidecar
from fashiontag.config import ConfigError
from fashiontag.data.taxonomy import Taxonomy
from fashiontag.models import create_network, load_network
from fashiontag.train._config import TrainConfig


def _backbone_holder(net: torch.nn.Module) -> torch.nn.Module:
    """The TaggerNet whose backbone a network transfers: itself, or a cascade's router."""
    return net.primary


def _parts(net: torch.nn.Module) -> list[torch.nn.Module]:
    return list(net.parts().values()) or [net]


def heads_match(base: torch.nn.Module, net: torch.nn.Module) -> bool:
    """True when ``net``'s heads can take ``base``'s weights as they are: same taxonomy, strategy and options."""
    old, new = base.sidecar_fields(), net.sidecar_fields()
    if base.taxonomy.fingerprint() != net.taxonomy.fingerprint():
        return False
    if (old["strategy"], old["strategy_options"]) != (new["strategy"], new["strategy_options"]):
        return False
    old_shapes = {k: v.shape for k, v in base.state_dict().items()}
    return old_shapes == {k: v.shape for k, v in net.state_dict().items()}


def adapt_network(
    base: torch.nn.Module, taxonomy: Taxonomy, strategy: str, preprocess: Preprocess | None = None, **options: Any
) -> torch.nn.Module:
    """New network over ``taxonomy`` reusing ``base``'s backbone, and its heads when :func:`heads_match`.

    ``base`` and the result may be a TaggerNet or a CascadeNet (every cascade part gets the backbone).
    ``net.adapt_info`` says what was reused.

    Example:
        >>> net = adapt_network(load_network("runs/fpi/model"), load_taxonomy("shop.yaml"), "flat")  # doctest: +SKIP
    """
    source = _backbone_holder(base)
    preprocess = preprocess or base.preprocess
    net = create_network(taxonomy, source.backbone_name, strategy, preprocess, False, **options)
    reused = heads_match(base, net)
    if reused:
        net.load_state_dict(base.state_dict())
    else:
        for part in _parts(net):
            part.backbone.load_state_dict(source.backbone.state_dict())
    for part in _parts(net):
        part.pretrained_source = f"adapted:{source.backbone_name}"
    net.adapt_info = {"backbone": source.backbone_name, "heads_reused": reused}
    return net


def load_checked(model_dir: str | Path) -> tuple[torch.nn.Module, dict[str, Any]]:
    """A saved model, checked (sidecar, sha256 of every file) and loaded, and the record of what was loaded: its
    path, the sidecar's sha256, the weight files' hashes (a cascade: its parts' sidecars too). ``init_from`` and
    distillation's ``teacher`` record it in the new model's sidecar.

    Raises:
        ModelFileError: the directory is missing, incomplete or tampered with.
    """
    model_dir = Path(model_dir)
    sidecar = read_sidecar(model_dir, verify=True)
    # hashed now, not at save time: the source may be retrained in place while this run trains
    record = {
        "path": str(model_dir.resolve()),
        "sha256": sha256_file(model_dir / SIDECAR_NAME),
        "files": dict(sidecar["files"]),
    }
    if sidecar.get("parts"):  # a cascade's weight hashes live in its parts' sidecars
        record["parts"] = {n: sha256_file(model_dir / sub / SIDECAR_NAME) for n, sub in sidecar["parts"].items()}
    return load_network(model_dir, sidecar), record


def load_source(config: TrainConfig) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The ``init_from`` model (:func:`load_checked`), matched against ``config.model.backbone``, and its record.

    Raises:
        ModelFileError: the directory is missing, incomplete or tampered with.
        ConfigError: ``config.model.backbone`` names another backbone than the source model's.
    """
    net, record = load_checked(config.model.init_from or "")
    name = _backbone_holder(net).backbone_name
    if config.model.backbone != name:
        raise ConfigError(
            f"init_from={config.model.init_from} has backbone {name!r} but backbone={config.model.backbone!r} was "
            "requested; "
            f"adapting keeps the source backbone, so set backbone={name} (on the command line: leave --backbone out)"
        )
    return net, record


def adapt_from_config(config: TrainConfig, taxonomy: Taxonomy, **options: Any) -> torch.nn.Module:
    """:func:`adapt_network` for a run: the new data's letterbox size, the source's input size unless overridden.

    ``net.adapt_info`` also holds the source record that ``fit`` writes to the sidecar's ``init_from``.
    """
    base, record = load_source(config)
    size = dataclasses.replace(
        base.preprocess,
        size=config.data.image_size,
        input_size=config.model.input_size or base.preprocess.input_size,
        flip=config.model.test_flip,
    )
    net = adapt_network(base, taxonomy, config.model.strategy, size, **options)
    net.adapt_info = {**record, **net.adapt_info}
    return net
