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

The sidecar is checked against a schema (:mod:`fashiontag._sidecar_schema`) whenever it is read or written, and
its model-defining fields are stamped into the weight files (:mod:`fashiontag._stamp`): ``model.safetensors``
must be listed and hashed, and its metadata must carry the digest of the sidecar's current model fields, so
editing ``fashiontag.json`` by hand (thresholds, ``files: {}``, ...) makes the model refuse to load.
:func:`write_sidecar` is the one writer; it restamps the weights, so fashiontag's own changes
(``save_calibration``, ``add_files``) stay valid. Models saved before the stamp are refused with the command
that re-saves them (:func:`restamp_model`): loading them silently would leave hand edits undetected.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fashiontag import _stamp
from fashiontag._io import sha256_file, write_json
from fashiontag._sidecar_schema import schema_problems

SIDECAR_NAME = "fashiontag.json"
FORMAT_VERSION = 1
WEIGHTS_NAME = "model.safetensors"
ONNX_NAME = "model.onnx"
ONNX_INT8_NAME = "model.int8.onnx"
ONNX_NAMES = (ONNX_NAME, ONNX_INT8_NAME)


def training_cache_dir(run_dir: str | Path, image_size: int) -> Path:
    """Where ``train`` keeps a run's decoded images (``<run>/cache_<size>``); evaluation and crossval reuse it."""
    return Path(run_dir) / f"cache_{int(image_size)}"


class ModelFileError(ValueError):
    """A model directory that is missing, incomplete, tampered with or of an unknown format."""


@dataclass(frozen=True)
class Preprocess:
    """Eval preprocessing: letterbox to ``size`` (uint8, outside the network), then the network
    itself resizes to ``input_size`` and normalises with ``mean``/``std``; with ``flip`` it also runs the mirror
    image and averages the two probabilities (test-time flip inside the network, so every backend has it)."""

    size: int
    input_size: int
    fill: int = 255
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    flip: bool = False

    def to_dict(self) -> dict[str, Any]:
        out = {
            "size": self.size,
            "input_size": self.input_size,
            "fill": self.fill,
            "mean": list(self.mean),
            "std": list(self.std),
        }
        return {**out, "flip": True} if self.flip else out  # absent when off: older sidecars keep their digest


def training_settings(sidecar: dict[str, Any]) -> dict[str, Any]:
    """The training settings a sidecar records, as one flat mapping of TrainConfig key -> value (``root``: the
    dataset), for readers that want a few of them (model card, export's calibration data).

    ``train`` records TrainConfig in its sections (``data``/``model``/``optim``/``trainer``, plus ``plan`` with a
    time limit); model directories written before the sections record it flat, with the dataset under ``data``.
    Both read the same here. (Rebuilding a whole TrainConfig from either: ``config.from_dict(TrainConfig, ...)``.)
    """
    flat: dict[str, Any] = {}
    for key, value in (sidecar.get("training") or {}).items():
        if key in ("data", "model", "optim", "trainer") and isinstance(value, dict):
            flat.update(value)
        else:
            flat["root" if key == "data" else key] = value
    return flat


def resolve_preprocess(sidecar: dict[str, Any]) -> Preprocess:
    """The one place eval preprocessing is derived from a model's sidecar (train, export, serve)."""
    spec = sidecar["preprocess"]
    return Preprocess(
        int(spec["size"]),
        int(spec["input_size"]),
        int(spec.get("fill", 255)),
        tuple(spec["mean"]),
        tuple(spec["std"]),
        bool(spec.get("flip", False)),
    )  # type: ignore[arg-type]


def write_sidecar(model_dir: str | Path, sidecar: dict[str, Any]) -> dict[str, Any]:
    """The one sidecar writer: validate, stamp the model fields into the weights, hash every file listed
    in ``sidecar['files']``, and write the sidecar atomically, last.

    Writing the sidecar last means a crash mid-save leaves no sidecar that vouches for missing files.
    """
    model_dir = Path(model_dir)
    out = stored_form(sidecar)
    placeholder = {**out, "files": {name: "0" * 64 for name in out.get("files", {})}}
    problems = schema_problems(json.dumps(placeholder))
    if problems:  # before any file is restamped, so a refused write changes nothing
        raise ModelFileError(f"{model_dir}: refusing to write an invalid sidecar: {'; '.join(problems[:5])}")
    _stamp_files(model_dir, out)
    files = {}
    for name in out.get("files", {}):
        path = model_dir / name
        if not path.is_file():
            raise ModelFileError(f"{path}: listed in the sidecar but missing")
        files[name] = sha256_file(path)
    out["files"] = files
    write_json(model_dir / SIDECAR_NAME, out)
    return out


def stored_form(sidecar: dict[str, Any]) -> dict[str, Any]:
    """``sidecar`` as it reads back from disk (tuples as lists, numpy scalars as text), with the format version."""
    return json.loads(json.dumps({**sidecar, "format_version": FORMAT_VERSION}, default=str))


def weights_stamp(sidecar: dict[str, Any], cascade: dict[str, Any] | None = None) -> dict[str, str]:
    """Safetensors metadata that vouches for ``sidecar`` (and, for a cascade part, for its ``cascade``).

    Lets ``save_model`` write the stamp with the weights, so :func:`write_sidecar` need not rewrite them.
    """
    stamp = _stamp.stamp_for(stored_form(sidecar))
    if cascade is not None:
        stamp[_stamp.CASCADE_KEY] = _stamp.model_digest(stored_form(cascade))
    return stamp


def _stamp_files(model_dir: Path, sidecar: dict[str, Any]) -> None:
    """Make the weights vouch for ``sidecar``; a cascade's root digest goes into every part's weights."""
    try:
        if sidecar.get("parts"):  # a model of parts (cascade): its digest goes into every part
            digest = _stamp.model_digest(sidecar)
            for sub in (sidecar.get("parts") or {}).values():
                weights = model_dir / sub / WEIGHTS_NAME
                if weights.is_file() and _stamp.stamp_safetensors(weights, {_stamp.CASCADE_KEY: digest}):
                    write_sidecar(model_dir / sub, _read(model_dir / sub, verify=False))  # its hash changed
            return
        for name in sidecar.get("files", {}):
            path = model_dir / name
            if name == WEIGHTS_NAME and path.is_file():
                _stamp.stamp_safetensors(path, _stamp.stamp_for(sidecar))
            elif name.endswith(".onnx") and path.is_file():
                _stamp.restamp_onnx(path, sidecar)
    except _stamp.StampError as exc:
        raise ModelFileError(str(exc)) from None


def stamp_onnx_file(path: str | Path, sidecar: dict[str, Any]) -> None:
    """Stamp a freshly exported graph with ``sidecar``'s model fields (checked by the ONNX backend at load)."""
    _stamp.stamp_onnx(path, _stamp.stamp_for(stored_form(sidecar)))


def check_onnx_stamp(path: str | Path, metadata: dict[str, str], sidecar: dict[str, Any]) -> None:
    """Refuse an ONNX graph whose stamped model fields differ from the sidecar's (stale or swapped export).

    ``metadata`` is the graph's ``metadata_props`` (onnxruntime: ``session.get_modelmeta().custom_metadata_map``).
    """
    path = Path(path)
    export = f"re-run `fashiontag export {path.parent}`"
    if _stamp.DIGEST_KEY not in metadata:
        raise ModelFileError(
            f"{path}: carries no digest of the sidecar's model fields (exported by an older "
            f"fashiontag, or not by fashiontag); {export}"
        )
    if metadata[_stamp.DIGEST_KEY] != _stamp.model_digest(sidecar):
        fields = ", ".join(_stamp.changed_fields(metadata, sidecar)) or "model fields"
        raise ModelFileError(
            f"{path}: was exported for other {fields} than {SIDECAR_NAME} has now "
            f"(calibrated after export, or a file swapped); {export}"
        )


def check_weights_stamp(model_dir: str | Path, sidecar: dict[str, Any]) -> None:
    """Refuse ``model.safetensors`` whose stamp does not match the sidecar's model fields (sidecar edited)."""
    model_dir = Path(model_dir)
    weights = model_dir / WEIGHTS_NAME
    try:
        metadata = _stamp.safetensors_metadata(weights)
    except _stamp.StampError as exc:
        raise ModelFileError(str(exc)) from None
    except OSError as exc:
        raise ModelFileError(f"{weights}: cannot read it ({exc.strerror})") from None
    if _stamp.DIGEST_KEY not in metadata:
        raise ModelFileError(
            f"{weights}: carries no digest of the sidecar's model fields (saved by an older fashiontag), so hand "
            f"edits to {SIDECAR_NAME} could not be detected. Check {SIDECAR_NAME}, then re-save the model with "
            f"`python -c \"from fashiontag.artifact import restamp_model; restamp_model('{model_dir}')\"` "
            "and re-run `fashiontag export` for ONNX"
        )
    if metadata[_stamp.DIGEST_KEY] != _stamp.model_digest(sidecar):
        fields = ", ".join(_stamp.changed_fields(metadata, sidecar)) or "model fields"
        raise ModelFileError(
            f"{model_dir / SIDECAR_NAME}: {fields} differ from what {WEIGHTS_NAME} was saved with "
            "(edited by hand?); restore the file, and change thresholds or temperatures only "
            "through fashiontag (evaluate save_calibration=true)"
        )


def _check_stamps(model_dir: Path, sidecar: dict[str, Any]) -> None:
    parts = sidecar.get("parts") or {}
    if not sidecar.get("parts"):
        check_weights_stamp(model_dir, sidecar)
        return
    digest = _stamp.model_digest(sidecar)
    for sub in parts.values():
        try:
            stamped = _stamp.safetensors_metadata(model_dir / sub / WEIGHTS_NAME).get(_stamp.CASCADE_KEY)
        except _stamp.StampError as exc:
            raise ModelFileError(str(exc)) from None
        if stamped is None:
            raise ModelFileError(
                f"{model_dir / sub / WEIGHTS_NAME}: carries no digest of the cascade's model fields (saved by an "
                f'older fashiontag); check {SIDECAR_NAME}, then re-save the cascade with `python -c "from '
                f"fashiontag.artifact import restamp_model; restamp_model('{model_dir}')\"`"
            )
        if stamped != digest:
            raise ModelFileError(
                f"{model_dir / SIDECAR_NAME}: the cascade's model fields differ from what its "
                "parts were saved with (edited by hand?); restore the file"
            )


def _read(model_dir: str | Path, verify: bool, stamps: bool = True) -> dict[str, Any]:
    model_dir = Path(model_dir)
    path = model_dir / SIDECAR_NAME if model_dir.is_dir() else model_dir
    if not path.exists():
        raise ModelFileError(f"{model_dir}: not a fashiontag model (no {SIDECAR_NAME})")
    try:
        text = path.read_text(encoding="utf-8")
        sidecar = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"{path}: sidecar is not valid JSON ({exc})") from None
    if not isinstance(sidecar, dict):
        raise ModelFileError(f"{path}: sidecar must be a JSON object")
    version = sidecar.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFileError(f"{path}: format_version {version!r}, this fashiontag reads {FORMAT_VERSION}")
    problems = schema_problems(text)
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise ModelFileError(f"{path}: invalid sidecar: {'; '.join(problems[:5])}{more}")
    if verify:
        for name, digest in sidecar["files"].items():
            file = path.parent / name
            if not file.is_file():
                raise ModelFileError(f"{file}: missing (the model directory is incomplete)")
            if sha256_file(file) != digest:
                raise ModelFileError(f"{file}: sha256 does not match the sidecar (modified or corrupt)")
        for part in (sidecar.get("parts") or {}).values():
            _read(path.parent / part, verify=True, stamps=stamps)
        if stamps:
            _check_stamps(path.parent, sidecar)
    return sidecar


def read_sidecar(model_dir: str | Path, verify: bool = True) -> dict[str, Any]:
    """Read and check a model directory's sidecar; raises :class:`ModelFileError` with the cause.

    Always: valid JSON, format version, schema (types and ranges). With ``verify``: every listed file's
    sha256 and the model-field digest stamped in the weights (a cascade: in every part).

    Example:
        >>> read_sidecar("runs/fpi/model")["thresholds"]  # doctest: +SKIP
        {'masterCategory': 0.41, 'articleType': 0.35}
    """
    return _read(model_dir, verify)


def add_files(model_dir: str | Path, names: list[str], **updates: Any) -> dict[str, Any]:
    """Register new files (e.g. ``model.onnx``) and other updates in an existing sidecar."""
    sidecar = read_sidecar(model_dir, verify=True)
    sidecar.update(updates)
    sidecar["files"] = {**sidecar["files"], **{n: "" for n in names}}
    return write_sidecar(model_dir, sidecar)


def restamp_model(model_dir: str | Path) -> dict[str, Any]:
    """Stamp a model saved by an older fashiontag with its sidecar's current fields (files still hash-checked).

    Run it only on a sidecar you trust: it makes the current ``fashiontag.json`` the reference. Exported ONNX
    files are not restamped; re-run ``fashiontag export``.

    Example:
        >>> restamp_model("runs/old/model")  # doctest: +SKIP
    """
    model_dir = Path(model_dir)
    sidecar = _read(model_dir, verify=True, stamps=False)
    for sub in (sidecar.get("parts") or {}).values():
        restamp_model(model_dir / sub)
    return write_sidecar(model_dir, sidecar)
