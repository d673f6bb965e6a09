"""Save and load model directories: safetensors weights + the sidecar (written last). Never unpickles."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from torch import nn

from fashiontag import __version__ as fashiontag_version
from fashiontag._io import file_mode
from fashiontag.artifact import (
    WEIGHTS_NAME,
    check_weights_stamp,
    read_sidecar,
    resolve_preprocess,
    weights_stamp,
    write_sidecar,
)
from fashiontag.data.taxonomy import Taxonomy
from fashiontag.models._card import write_model_card
from fashiontag.models._strategies import strategy_factory


def _save_weights(net: nn.Module, path: Path, metadata: dict[str, str]) -> None:
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(state, tmp, metadata=metadata)
        os.chmod(tmp, file_mode())  # 0644 like model.onnx: safetensors writes 0600 files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_model(net: nn.Module, model_dir: str | Path, **sidecar_extra: Any) -> dict[str, Any]:
    """Write ``model.safetensors`` (or each cascade part's directory), then ``fashiontag.json``, then the model
    card ``README.md`` (:mod:`fashiontag.models._card`).

    The weights' metadata carries the digest of the sidecar's model fields (see :mod:`fashiontag.artifact`).

    Example:
        >>> sidecar = save_model(net, "runs/demo/model", metrics={"val_macro_f1": 0.9})  # doctest: +SKIP
    """
    sidecar = _save(net, Path(model_dir), None, **sidecar_extra)
    write_model_card(model_dir, sidecar)  # README.md: data, taxonomy, metrics, thresholds, intended use, limits
    return sidecar


def _save(net: nn.Module, model_dir: Path, cascade: dict[str, Any] | None, **sidecar_extra: Any) -> dict[str, Any]:
    model_dir.mkdir(parents=True, exist_ok=True)
    sidecar: dict[str, Any] = {"fashiontag_version": fashiontag_version, **net.sidecar_fields()}
    if net.parts():  # a network of parts (cascade): each part is a model directory of its own
        sidecar["files"] = {}
        sidecar.update(sidecar_extra)
        for name, part in net.parts().items():  # each part's weights carry the cascade's digest too
            _save(part, model_dir / net.part_dirs()[name], sidecar)
    else:
        sidecar["files"] = {WEIGHTS_NAME: ""}
        sidecar.update(sidecar_extra)
        _save_weights(net, model_dir / WEIGHTS_NAME, weights_stamp(sidecar, cascade))
    return write_sidecar(model_dir, sidecar)


def load_network(model_dir: str | Path, sidecar: dict | None = None) -> nn.Module:
    """Rebuild a network from its sidecar (no downloads), load safetensors strictly, return it in eval mode."""
    from safetensors.torch import load_file

    from fashiontag.models._net import TaggerNet

    model_dir = Path(model_dir)
    sidecar = sidecar if sidecar is not None else read_sidecar(model_dir)
    taxonomy = Taxonomy.from_dict(sidecar["taxonomy"])
    options = dict(sidecar.get("strategy_options", {}))
    load_parts = getattr(strategy_factory(sidecar["strategy"]), "load_network", None)
    if load_parts is not None:  # a strategy of several networks (cascade) loads its parts with this function
        return load_parts(model_dir, sidecar, load_network).eval()
    check_weights_stamp(model_dir, sidecar)  # the sidecar's model fields are the ones these weights were saved with
    net = TaggerNet(
        taxonomy, sidecar["backbone"]["name"], sidecar["strategy"], resolve_preprocess(sidecar), False, **options
    )
    net.load_state_dict(load_file(str(model_dir / WEIGHTS_NAME)), strict=True)
    temperature = {k: v for k, v in (sidecar.get("temperature") or {}).items() if k in net.logit_heads}
    net.set_temperature(temperature)
    net.pretrained_source = sidecar["backbone"].get("pretrained")
    return net.eval()
