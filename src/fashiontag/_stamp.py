"""A digest of the sidecar's model-defining fields, kept inside the weight files it describes.

``fashiontag.json`` lists every file's sha256, but the sidecar itself is plain text: someone could set every
threshold to 0, or empty ``files`` to skip verification, and the model would still load. So the digest of the
fields that define the model's answers (taxonomy, heads, preprocess, thresholds, temperature, strategy,
backbone, ...) is also written into ``model.safetensors`` (its ``__metadata__``) and into each ONNX graph
(``metadata_props``). Those bytes are covered by the files' sha256, so editing the sidecar alone is refused at
load. Only :func:`fashiontag.artifact.write_sidecar` restamps the files, so changes made through fashiontag
(``save_calibration``) stay valid. This is tamper *evidence* against edits and mistakes, not a signature: whoever
can rewrite the weights too can restamp them.

Torch-free; ``onnx`` is imported only to stamp an ONNX file (the runtime check reads onnxruntime's metadata).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from fashiontag._io import atomic_open

#: Sidecar keys whose values change what the model answers.
MODEL_FIELDS = (
    "strategy",
    "strategy_options",
    "backbone",
    "taxonomy",
    "heads",
    "logit_heads",
    "preprocess",
    "thresholds",
    "temperature",
    "parts",
    "review_policy",
)
#: Fields applied after the network (by the decoder), so an exported graph stays valid when only they change.
RUNTIME_FIELDS = ("thresholds", "review_policy")
#: Fields the network itself defines (``save_model`` writes them from it; the rest of a sidecar is carried over).
NETWORK_FIELDS = tuple(field for field in MODEL_FIELDS if field not in RUNTIME_FIELDS)
DIGEST_KEY = "fashiontag_digest"
FIELDS_KEY = "fashiontag_fields"
CASCADE_KEY = "fashiontag_cascade_digest"
_MAX_HEADER = 100 * 1024 * 1024  # the safetensors library's own limit


class StampError(ValueError):
    """A weight file whose header cannot be read (not safetensors / ONNX, or truncated)."""


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def field_digests(sidecar: dict[str, Any]) -> dict[str, str]:
    """sha256 of each model field; a missing field and an empty one (``{}``) mean the same and hash the same."""
    return {key: hashlib.sha256(_canonical(sidecar.get(key) or None).encode()).hexdigest() for key in MODEL_FIELDS}


def model_digest(sidecar: dict[str, Any]) -> str:
    """One sha256 over all model fields of ``sidecar``."""
    return hashlib.sha256(_canonical(field_digests(sidecar)).encode()).hexdigest()


def stamp_for(sidecar: dict[str, Any]) -> dict[str, str]:
    """The metadata entries that vouch for ``sidecar``'s model fields."""
    return {DIGEST_KEY: model_digest(sidecar), FIELDS_KEY: _canonical(field_digests(sidecar))}


def changed_fields(stamp: dict[str, str], sidecar: dict[str, Any]) -> list[str]:
    """Model fields whose value differs from the stamped one (all of them if the stamp is unreadable)."""
    try:
        stamped = json.loads(stamp.get(FIELDS_KEY, ""))
    except ValueError:
        return list(MODEL_FIELDS)
    current = field_digests(sidecar)
    return [key for key in MODEL_FIELDS if stamped.get(key) != current[key]]


def _read_header(handle: Any, path: Path) -> tuple[dict[str, Any], int]:
    head = handle.read(8)
    size = Path(path).stat().st_size
    length = int.from_bytes(head, "little") if len(head) == 8 else -1
    if length < 2 or length > min(size - 8, _MAX_HEADER):
        raise StampError(f"{path}: not a safetensors file (bad header length)")
    try:
        header = json.loads(handle.read(length))
    except (ValueError, UnicodeDecodeError):
        raise StampError(f"{path}: not a safetensors file (header is not JSON)") from None
    if not isinstance(header, dict) or not isinstance(header.get("__metadata__", {}), dict):
        raise StampError(f"{path}: not a safetensors file (header is not an object)")
    return header, 8 + length


def safetensors_metadata(path: str | Path) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors file, read from its header only (no tensors loaded)."""
    with open(path, "rb") as handle:
        header, _ = _read_header(handle, Path(path))
    return dict(header.get("__metadata__") or {})


def stamp_safetensors(path: str | Path, updates: dict[str, str]) -> bool:
    """Merge ``updates`` into the file's metadata, rewriting only the header; False when nothing changed.

    Tensor offsets are relative to the end of the header, so the data bytes are copied unchanged.
    """
    path = Path(path)
    with open(path, "rb") as source:
        header, data_start = _read_header(source, path)
        metadata = dict(header.get("__metadata__") or {})
        if all(metadata.get(k) == v for k, v in updates.items()):
            return False
        header["__metadata__"] = {**metadata, **updates}
        raw = json.dumps(header, separators=(",", ":")).encode()
        raw += b" " * (-len(raw) % 8)  # safetensors aligns the data start to 8 bytes
        source.seek(data_start)
        with atomic_open(path, "wb") as target:
            target.write(len(raw).to_bytes(8, "little"))
            target.write(raw)
            shutil.copyfileobj(source, target, 1 << 20)
    return True


def onnx_metadata(path: str | Path) -> dict[str, str]:
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError/ValueError/... for a damaged file
        raise StampError(f"{path}: not an ONNX file ({type(exc).__name__})") from None
    return {prop.key: prop.value for prop in model.metadata_props}


def stamp_onnx(path: str | Path, updates: dict[str, str]) -> bool:
    """Merge ``updates`` into the graph's ``metadata_props`` (atomic rewrite); False when nothing changed."""
    import onnx

    path = Path(path)
    model = onnx.load(str(path), load_external_data=False)
    current = {prop.key: prop.value for prop in model.metadata_props}
    if all(current.get(k) == v for k, v in updates.items()):
        return False
    merged = {**current, **updates}
    del model.metadata_props[:]
    for key, value in merged.items():
        model.metadata_props.add(key=key, value=value)
    with atomic_open(path, "wb") as handle:
        handle.write(model.SerializeToString())
    return True


def restamp_onnx(path: str | Path, sidecar: dict[str, Any]) -> bool:
    """Restamp an exported graph when only runtime fields (thresholds) changed since its export.

    A graph exported before other fields changed (e.g. a new temperature, which the graph bakes in) keeps its
    old stamp, so loading it is refused with a hint to re-export instead of answering with stale settings.
    """
    try:
        stamp = onnx_metadata(path)
    except StampError:
        return False  # not a graph at all: the ONNX backend refuses it at load with onnxruntime's reason
    if DIGEST_KEY not in stamp:
        return False
    if any(field not in RUNTIME_FIELDS for field in changed_fields(stamp, sidecar)):
        return False
    return stamp_onnx(path, stamp_for(sidecar))
