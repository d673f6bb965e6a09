"""Temperature scaling per head, and saving calibration (temperatures, thresholds) into a model's sidecar.

Networks emit probabilities, so log-probabilities serve as logits: ``softmax(log p / T)``. ``T`` is found by
minimising the validation NLL over ``log T`` (a 1-D bounded search, so ``T`` stays positive).

A cascade is calibrated part by part on its logits: the router on every image, each specialist on the images
whose true group is its own (it models ``p(node | group)``). Scaling the parts' logits keeps the cascade's
structure (a child never above its parent, nothing under the groups not routed to), which one temperature per
combined output head would not. Keys are ``"<part>:<logit head>"`` (:meth:`CascadeNet.forward_logits`), and
each part's temperatures are saved in that part's own sidecar, where ``load_network`` and export read them.

Example:
    >>> temperature = fit_temperature(val_probs, val_targets)  # doctest: +SKIP
    >>> save_calibration(model_dir, temperature={"articleType": temperature})  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar

from fashiontag.artifact import read_sidecar, write_sidecar
from fashiontag.data.taxonomy import Taxonomy
from fashiontag.evaluate.metrics import negative_log_likelihood, valid_rows
from fashiontag.registry import UnknownNameError, unknown_name_message
from fashiontag.review import SIDECAR_KEY as REVIEW_KEY

_EPS = 1e-12


def probs_to_logits(probs: np.ndarray) -> np.ndarray:
    return np.log(np.clip(np.asarray(probs, dtype=np.float64), _EPS, 1.0))


def apply_temperature(probs: np.ndarray, temperature: float, from_logits: bool = False) -> np.ndarray:
    """``softmax(logits / T)``; probabilities are turned into log-probabilities first."""
    logits = np.asarray(probs, dtype=np.float64) if from_logits else probs_to_logits(probs)
    scaled = logits / float(temperature)
    scaled -= scaled.max(1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(1, keepdims=True)


def fit_temperature(
    probs: np.ndarray, targets: np.ndarray, from_logits: bool = False, bounds: tuple[float, float] = (-4.0, 4.0)
) -> float:
    """Temperature minimising NLL of ``targets`` under ``softmax(logits / T)``, searched over log T."""
    values, targets_v = valid_rows(probs, targets)
    if not len(targets_v):
        return 1.0
    logits = values if from_logits else probs_to_logits(values)

    def nll(log_t: float) -> float:
        return negative_log_likelihood(apply_temperature(logits, float(np.exp(log_t)), from_logits=True), targets_v)

    result = minimize_scalar(nll, bounds=bounds, method="bounded", options={"xatol": 1e-4})
    return float(np.exp(result.x))


def fit_temperatures(probs: dict[str, np.ndarray], targets: dict[str, np.ndarray]) -> dict[str, float]:
    """One temperature per head."""
    return {head: fit_temperature(probs[head], targets[head]) for head in probs if head in targets}


def save_calibration(
    model_dir: str | Path,
    thresholds: dict[str, float] | None = None,
    temperature: dict[str, float] | None = None,
    review_policy: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Merge thresholds / temperatures into the sidecar (hashes re-verified and re-written).

    For a cascade, ``temperature`` keys are ``"<part>:<logit head>"`` and go into each part's sidecar;
    thresholds stay in the cascade's own sidecar (the Labeller reads them there). ``review_policy`` (review
    heads, targets, delta, each head's fit) replaces the sidecar's ``review_policy`` (:mod:`fashiontag.review`).

    Example:
        >>> save_calibration("runs/cascade", {"group": 0.6}, {"router:leaf": 1.4})  # doctest: +SKIP
    """
    sidecar = read_sidecar(model_dir, verify=True)
    if thresholds is not None:
        sidecar["thresholds"] = {**sidecar.get("thresholds", {}), **{k: float(v) for k, v in thresholds.items()}}
    if review_policy is not None:
        sidecar[REVIEW_KEY] = review_policy
    parts = sidecar.get("parts") or {}
    if temperature is not None and parts:
        for name, own in split_part_temperature(temperature, list(parts)).items():
            save_calibration(Path(model_dir) / parts[name], temperature=own)
    elif temperature is not None:
        sidecar["temperature"] = {**sidecar.get("temperature", {}), **{k: float(v) for k, v in temperature.items()}}
    saved = write_sidecar(model_dir, sidecar)
    if (Path(model_dir) / "README.md").is_file():  # the model card shows the thresholds: keep it current
        from fashiontag.models import write_model_card

        write_model_card(model_dir, saved)
    return saved


def split_part_temperature(temperature: dict[str, float], parts: list[str]) -> dict[str, dict[str, float]]:
    """``{"<part>:<head>": T}`` -> ``{part: {head: T}}``; a key naming no part raises, listing the parts."""
    out: dict[str, dict[str, float]] = {}
    for key, value in temperature.items():
        name = next((p for p in parts if key.startswith(f"{p}:")), None)
        if name is None:
            raise UnknownNameError(unknown_name_message("cascade part in temperature key", key, parts))
        out.setdefault(name, {})[key[len(name) + 1 :]] = float(value)
    return out


def part_targets(taxonomy: Taxonomy, part: Taxonomy, targets: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Re-index full-taxonomy targets into a cascade part's label order (``-1`` outside the part)."""
    out = {}
    for head in part.heads:
        if head in targets:
            lookup = {label: i for i, label in enumerate(part.head_labels(head))}
            columns = np.array([lookup.get(label, -1) for label in taxonomy.head_labels(head)] + [-1])
            out[head] = columns[np.asarray(targets[head])]  # -1 indexes the trailing -1
    return out


def fit_network_temperature(
    network: Any,
    images: np.ndarray,
    targets: dict[str, np.ndarray],
    rounds: int = 2,
    batch_size: int = 64,
    logits: dict[str, Any] | None = None,
) -> dict[str, float]:
    """Per *logit head* temperatures of a network (its sidecar's ``temperature`` keys).

    Minimises the summed NLL of every taxonomy head's probabilities (what the network outputs) by
    coordinate search over each logit head's log-temperature; works for any strategy because it goes
    through ``network.head.probabilities``. Sets the found temperatures on ``network``. A cascade is fitted
    part by part (:func:`fit_cascade_temperature`). ``logits``: the images' raw logits when already computed.

    Example:
        >>> fit_network_temperature(load_network("runs/m1"), val_images, val_targets)  # doctest: +SKIP
        {'leaf': 1.31, 'colour': 1.07}
    """
    import torch

    from fashiontag.evaluate._predict import network_logits

    if hasattr(network, "parts") and network.parts():  # a cascade: part by part
        return fit_cascade_temperature(network, images, targets, rounds, batch_size)
    if not hasattr(network, "logit_heads") or not hasattr(network, "set_temperature"):
        return {}
    if not any((np.asarray(targets[h]) >= 0).any() for h in network.heads if h in targets):
        return {}  # nothing to fit on: a flat objective would leave T wherever the search stopped

    logits = logits if logits is not None else network_logits(network, images, batch_size)
    heads = list(network.logit_heads)
    log_t = np.zeros(len(heads))

    def total_nll(values: np.ndarray) -> float:
        with torch.inference_mode():
            probs = network.head.probabilities(logits, torch.tensor(np.exp(values), dtype=torch.float32))
        return sum(
            negative_log_likelihood(probs[h].double().numpy(), targets[h])
            for h in targets
            if h in probs and (np.asarray(targets[h]) >= 0).any()
        )

    for _ in range(rounds):
        for i in range(len(heads)):

            def along(x: float, i: int = i) -> float:
                trial = log_t.copy()
                trial[i] = x
                return total_nll(trial)

            log_t[i] = minimize_scalar(along, bounds=(-4.0, 4.0), method="bounded", options={"xatol": 1e-3}).x
    temperature = {h: float(np.exp(v)) for h, v in zip(heads, log_t, strict=False)}
    network.set_temperature(temperature)
    return temperature


def fit_cascade_temperature(
    network: Any, images: np.ndarray, targets: dict[str, np.ndarray], rounds: int = 2, batch_size: int = 64
) -> dict[str, float]:
    """Per part temperatures of a :class:`CascadeNet`, keyed ``"<part>:<logit head>"``; set on its parts.

    The router is fitted on every image; a specialist on the images whose true top-level node is its group,
    against ``p(node | group)``, since the cascade's deeper levels are ``p(group) * p(node | group)``.

    Example:
        >>> fit_cascade_temperature(load_network("runs/cascade"), val_images, val_targets)  # doctest: +SKIP
        {'router:leaf': 1.2, 'router:colour': 0.9, 'Tops:leaf': 1.5, 'Shoes:leaf': 1.1}
    """
    taxonomy = network.taxonomy
    top = taxonomy.levels[0]
    groups = taxonomy.head_labels(top)
    truth = np.asarray(targets.get(top, np.full(len(images), -1)))
    out: dict[str, float] = {}
    for name, part in network.parts().items():
        rows = np.arange(len(images)) if name == "router" else np.flatnonzero(truth == groups.index(name))
        own = part_targets(taxonomy, part.taxonomy, {h: np.asarray(t)[rows] for h, t in targets.items()})
        fitted = fit_network_temperature(part, images[rows], own, rounds, batch_size) if len(rows) else {}
        out.update({f"{name}:{head}": value for head, value in fitted.items()})
    return out
