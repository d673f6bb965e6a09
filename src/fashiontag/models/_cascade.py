"""Cascade strategy: a router over the top level (+ attributes) and one specialist per top-level group.

Whole batches are routed: the router gives group probabilities, each specialist runs only on the images
routed to its group (argmax), and deeper levels are ``p(group*) * p(node | group*)``, which keeps a child
below its parent. Stored as a parent directory whose sidecar lists each part's full model directory.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from fashiontag.artifact import Preprocess
from fashiontag.data.taxonomy import Taxonomy
from fashiontag.models._net import TaggerNet


class CascadeNet(nn.Module):
    """Same interface as :class:`TaggerNet` (``forward``, ``forward_logits``, ``sidecar_fields``)."""

    strategy = "cascade"

    def __init__(self, taxonomy: Taxonomy, router: TaggerNet, specialists: dict[str, TaggerNet],
                 inner: str = "flat") -> None:
        super().__init__()
        self.taxonomy = taxonomy
        self.preprocess: Preprocess = router.preprocess
        self.heads = list(taxonomy.heads)
        self.inner = inner
        self.router = router
        self.groups = list(specialists)
        self.specialists = nn.ModuleList(specialists.values())
        top_labels = taxonomy.head_labels(taxonomy.levels[0])
        self.group_index = [top_labels.index(g) for g in self.groups]
        self._columns: list[dict[str, Tensor]] = []
        for spec in self.specialists:
            cols = {h: torch.tensor([taxonomy.head_labels(h).index(n) for n in spec.taxonomy.head_labels(h)])
                    for h in spec.heads}
            self._columns.append(cols)

    @classmethod
    def build(cls, taxonomy: Taxonomy, backbone: str, preprocess: Preprocess, pretrained: bool | str = False,
              inner: str = "flat", **kw: Any) -> CascadeNet:
        router = TaggerNet(taxonomy.top(), backbone, inner, preprocess, pretrained, **kw)
        specialists = {
            group: TaggerNet(taxonomy.subtree(group), backbone, inner, preprocess, pretrained, **kw)
            for group in taxonomy.nodes_at(0) if taxonomy.children(group)
        }
        return cls(taxonomy, router, specialists, inner)

    def parts(self) -> dict[str, TaggerNet]:
        """Part name -> network: ``router`` and each group id."""
        return {"router": self.router, **dict(zip(self.groups, self.specialists, strict=True))}

    def part_dirs(self) -> dict[str, str]:
        return {"router": "router", **{g: f"specialist_{i}" for i, g in enumerate(self.groups)}}

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        routed = self.router(images)
        top = self.taxonomy.levels[0]
        groups = routed[top]
        pick = groups.argmax(-1)
        out = {top: groups}
        for level in self.taxonomy.levels[1:]:
            out[level] = groups.new_zeros(groups.shape[0], len(self.taxonomy.head_labels(level)))
        for spec, gi, cols in zip(self.specialists, self.group_index, self._columns, strict=True):
            idx = (pick == gi).nonzero().flatten()
            if idx.numel() == 0:
                continue
            probs = spec(images.index_select(0, idx))
            scale = groups.index_select(0, idx)[:, gi : gi + 1]
            for head, col in cols.items():
                col = col.to(idx.device)
                out[head] = out[head].index_put((idx[:, None], col[None, :]), scale * probs[head])
        out.update({a: routed[a] for a in self.taxonomy.attributes})
        return {h: out[h] for h in self.heads}

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
