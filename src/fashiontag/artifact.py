"""The model directory format: weight files plus a JSON sidecar that makes them self-describing.

A model directory holds ``fashiontag.json`` and the files it lists with their sha256
(``model.safetensors``, ``model.onnx``, ...). Loading checks the format version and every hash, so a
tampered or half-copied model is refused before anything is read. Nothing here unpickles and
nothing here imports torch: the service reads models through this module.

Sidecar keys (all JSON):
  format_version, fashiontag_version, strategy, backbone {name, num_features, ...},
  taxonomy (Taxonomy.to_dict()), heads {head: [labels in output order]},
  preprocess {size, fill, input_size, mean, std}, thresholds {head: float}, temperature {head: float},
  files {name: sha256}, parts {name: subdir} (cascade), training, split, metrics, versions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fashiontag._io import sha256_file, write_json

SIDECAR_NAME = "fashiontag.json"
FORMAT_VERSION = 1


class ModelFileError(ValueError):
    """A model directory that is missing, incomplete, tampered with or of an unknown format."""


@dataclass(frozen=True)
class Preprocess:
    """Eval preprocessing: letterbox to ``size`` (uint8, outside the network), then the network
    itself resizes to ``input_size`` and normalises with ``mean``/``std``."""

    size: int
    input_size: int
    fill: int = 255
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)

    def to_dict(self) -> dict[str, Any]:
        return {"size": self.size, "input_size": self.input_size, "fill": self.fill,
                "mean": list(self.mean), "std": list(self.std)}


def resolve_preprocess(sidecar: dict[str, Any]) -> Preprocess:
    """The one place eval preprocessing is derived from a model's sidecar (train, export, serve)."""
    spec = sidecar["preprocess"]
    return Preprocess(int(spec["size"]), int(spec["input_size"]), int(spec.get("fill", 255)),
                      tuple(spec["mean"]), tuple(spec["std"]))  # type: ignore[arg-type]


def write_sidecar(model_dir: str | Path, sidecar: dict[str, Any]) -> dict[str, Any]:
    """Hash every file named in ``sidecar['files']`` and write the sidecar atomically, last.

    Writing the sidecar last means a crash mid-save leaves no sidecar that vouches for missing files.
    """
    model_dir = Path(model_dir)
    out = dict(sidecar)
    out["format_version"] = FORMAT_VERSION
    files = {}
    for name in out.get("files", {}):
        path = model_dir / name
        if not path.is_file():
            raise ModelFileError(f"{path}: listed in the sidecar but missing")
        files[name] = sha256_file(path)
    out["files"] = files
    write_json(model_dir / SIDECAR_NAME, out)
    return out


def read_sidecar(model_dir: str | Path, verify: bool = True) -> dict[str, Any]:
    """Read and check a model directory's sidecar; raises :class:`ModelFileError` with the cause."""
    model_dir = Path(model_dir)
    path = model_dir / SIDECAR_NAME if model_dir.is_dir() else model_dir
    if not path.exists():
        raise ModelFileError(f"{model_dir}: not a fashiontag model (no {SIDECAR_NAME})")
    try:
        sidecar = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{path}: sidecar is not valid JSON ({exc})") from None
    if not isinstance(sidecar, dict):
        raise ModelFileError(f"{path}: sidecar must be a JSON object")
    version = sidecar.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFileError(f"{path}: format_version {version!r}, this fashiontag reads {FORMAT_VERSION}")
    for key in ("taxonomy", "heads", "preprocess", "files", "strategy"):
        if key not in sidecar:
            raise ModelFileError(f"{path}: sidecar lacks {key!r}")
    if verify:
        for name, digest in sidecar["files"].items():
            file = path.parent / name
            if not file.is_file():
                raise ModelFileError(f"{file}: missing (the model directory is incomplete)")
            if sha256_file(file) != digest:
                raise ModelFileError(f"{file}: sha256 does not match the sidecar (modified or corrupt)")
        for part in sidecar.get("parts", {}).values():
            read_sidecar(path.parent / part, verify=True)
    return sidecar


def add_files(model_dir: str | Path, names: list[str], **updates: Any) -> dict[str, Any]:
    """Register new files (e.g. ``model.onnx``) and other updates in an existing sidecar."""
    sidecar = read_sidecar(model_dir, verify=True)
    sidecar.update(updates)
    sidecar["files"] = {**sidecar["files"], **{n: "" for n in names}}
    return write_sidecar(model_dir, sidecar)
