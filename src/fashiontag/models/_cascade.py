"""Cascade strategy: a router over the top level (+ attributes) and one specialist per top-level group.

The parts combine by the rule in :mod:`fashiontag.cascade` (shared with the ONNX runner): each specialist
runs only on the images routed to its group, deeper levels are ``p(group*) * p(node | group*)``. Stored as a
parent directory whose sidecar lists each part's full model directory.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from fashiontag import cascade
from fashiontag.artifact import Preprocess
from fashiontag.data.taxonomy import Taxonomy
from fashiontag.models._net import TaggerNet
from fashiontag.models._strategies import register_strategy


class CascadeNet(nn.Module):
    """Same interface as :class:`TaggerNet` (``forward``, ``forward_logits``, ``sidecar_fields``)."""

    strategy = "cascade"

    def __init__(
        self, taxonomy: Taxonomy, router: TaggerNet, specialists: dict[str, TaggerNet], inner: str = "flat"
    ) -> None:
        super().__init__()
        self.taxonomy = taxonomy
        self.preprocess: Preprocess = router.preprocess
        self.heads = list(taxonomy.heads)
        self.inner = inner
        self.router = router
        self.groups = list(specialists)
        self.specialists = nn.ModuleList(specialists.values())
        self._columns = {g: cascade.part_columns(taxonomy, spec.taxonomy) for g, spec in specialists.items()}

    @classmethod
    def build(
        cls,
        taxonomy: Taxonomy,
        backbone: str,
        preprocess: Preprocess,
        pretrained: bool | str = False,
        inner: str = "flat",
        **kw: Any,
    ) -> CascadeNet:
        router = TaggerNet(taxonomy.top(), backbone, inner, preprocess, pretrained, **kw)
        specialists = {
            group: TaggerNet(taxonomy.subtree(group), backbone, inner, preprocess, pretrained, **kw)
            for group in taxonomy.nodes_at(0)
            if taxonomy.children(group)
        }
        return cls(taxonomy, router, specialists, inner)

    def parts(self) -> dict[str, TaggerNet]:
        """Part name -> network: ``router`` and each group id."""
        return {"router": self.router, **dict(zip(self.groups, self.specialists, strict=True))}

    def part_dirs(self) -> dict[str, str]:
        return {"router": "router", **{g: f"specialist_{i}" for i, g in enumerate(self.groups)}}

    @property
    def primary(self) -> TaggerNet:
        """The router: its backbone sees every image (transfer, embeddings)."""
        return self.router

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        """Per-head probabilities by :func:`fashiontag.cascade.combine` (inference only: no gradient flows)."""
        specialists = dict(zip(self.groups, self.specialists, strict=True))

        def _numpy(out: dict[str, Tensor]) -> dict[str, np.ndarray]:
            return {h: v.detach().float().cpu().numpy() for h, v in out.items()}

        def specialist(group: str, rows: np.ndarray) -> dict[str, np.ndarray]:
            index = torch.from_numpy(rows).to(images.device)
            return _numpy(specialists[group](images.index_select(0, index)))

        out = cascade.combine(self.taxonomy, _numpy(self.router(images)), self._columns, specialist)
        return {h: torch.from_numpy(out[h]).to(images.device) for h in self.heads}

    def forward_logits(self, x: Tensor) -> dict[str, Tensor]:
        """Every part's logits on the whole batch, keyed ``"<part>:<logit head>"`` (parts train separately)."""
        out = {}
        for name, part in self.parts().items():
            out.update({f"{name}:{h}": v for h, v in part.forward_logits(x).items()})
        return out

    def sidecar_fields(self) -> dict[str, Any]:
        router = self.router.sidecar_fields()
        return {
            "strategy": "cascade",
            "strategy_options": {"inner": self.inner, **self.router.strategy_options},
            "backbone": router["backbone"],
            "taxonomy": self.taxonomy.to_dict(),
            "heads": {h: self.taxonomy.head_labels(h) for h in self.heads},
            "preprocess": self.preprocess.to_dict(),
            "parts": self.part_dirs(),
        }


@register_strategy("cascade")
class CascadeStrategy:
    """``cascade`` in the strategy registry: it builds whole networks (:class:`CascadeNet`), not a head.

    ``create_network(..., strategy="cascade")`` calls :meth:`build_network` and ``load_network`` calls
    :meth:`load_network`; the inner strategy of every part is the option ``inner`` (default ``flat``).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise ValueError(
            "cascade is a network of several parts, not a head: build it with "
            "fashiontag.models.create_network(taxonomy, backbone, 'cascade')"
        )

    @staticmethod
    def build_network(
        taxonomy: Taxonomy, backbone: str, preprocess: Preprocess, pretrained: bool | str = False, **kw: Any
    ) -> CascadeNet:
        return CascadeNet.build(taxonomy, backbone, preprocess, pretrained, **kw)

    @staticmethod
    def load_network(model_dir: Path, sidecar: dict[str, Any], load_part: Callable[[Path], nn.Module]) -> CascadeNet:
        """A saved cascade from its parts' directories (each loaded and verified by ``load_part``)."""
        parts = {name: load_part(model_dir / sub) for name, sub in sidecar["parts"].items()}
        router = parts.pop("router")
        options = dict(sidecar.get("strategy_options", {}))
        return CascadeNet(Taxonomy.from_dict(sidecar["taxonomy"]), router, parts, options.get("inner", "flat"))
