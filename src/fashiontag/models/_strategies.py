"""Output strategies: how a feature vector becomes per-head probabilities that respect the tree.

Each strategy is a module with ``forward(features) -> {logit_head: logits}``,
``probabilities(logits, temperature) -> {taxonomy head: probs}`` and
``encode_targets(leaves, attributes) -> {logit_head: int64 array}`` (-1 = no label, ignored by the loss).
Level probabilities always come from one distribution over leaves, marginalised up the tree with fixed
0/1 membership matrices, so a child never exceeds its parent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from fashiontag.data.targets import label_index, level_targets
from fashiontag.data.taxonomy import Taxonomy
from fashiontag.registry import Registry

_STRATEGIES: Registry[nn.Module] = Registry("strategy")


def register_strategy(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    return _STRATEGIES.register(name)


def create_strategy(name: str, taxonomy: Taxonomy, num_features: int, **options: Any) -> nn.Module:
    return _STRATEGIES.create(name, taxonomy=taxonomy, num_features=num_features, **options)


def strategy_factory(name: str) -> Callable[..., nn.Module]:
    """The registered factory of ``name`` (an unknown name raises with the closest valid one).

    A factory with ``build_network``/``load_network`` (``cascade``) builds whole networks of several parts
    instead of a head over one backbone: :func:`fashiontag.models.create_network` and ``load_network`` ask it.
    """
    return _STRATEGIES.get(name)


def list_strategies() -> list[str]:
    return sorted(_STRATEGIES.names())


class _TreeHead(nn.Module):
    """Shared parts: leaf->node membership buffers, attribute heads, temperature handling."""

    def __init__(self, taxonomy: Taxonomy, num_features: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.taxonomy = taxonomy
        self.leaves = taxonomy.leaves
        self.levels = list(taxonomy.levels)
        self.dropout = nn.Dropout(dropout)
        for depth in range(len(self.levels)):
            nodes = taxonomy.nodes_at(depth)
            member = torch.zeros(len(self.leaves), len(nodes))
            position = {n: i for i, n in enumerate(nodes)}
            for row, leaf in enumerate(self.leaves):
                path = taxonomy.ancestors(leaf)
                if depth < len(path):
                    member[row, position[path[depth]]] = 1.0
            self.register_buffer(f"member_{depth}", member, persistent=False)
        # ModuleList + names, not ModuleDict: head names like "type" clash with nn.Module attributes
        self.attribute_heads: list[str] = []
        self.attribute_layers = nn.ModuleList()

    def _add_attribute_heads(self, num_features: int, skip: str | None = None) -> None:
        for name, values in self.taxonomy.attributes.items():
            if name != skip:
                self.attribute_heads.append(name)
                self.attribute_layers.append(nn.Linear(num_features, len(values)))

    def _attribute_logits(self, features: Tensor) -> dict[str, Tensor]:
        return {n: layer(features) for n, layer in zip(self.attribute_heads, self.attribute_layers, strict=True)}

    def logit_heads(self) -> list[str]:
        raise NotImplementedError

    def _scale(self, logits: dict[str, Tensor], temperature: Tensor | None) -> dict[str, Tensor]:
        if temperature is None:
            return logits
        return {h: logits[h] / temperature[i] for i, h in enumerate(self.logit_heads())}

    def _marginals(self, leaf_probs: Tensor) -> dict[str, Tensor]:
        return {level: leaf_probs @ getattr(self, f"member_{d}") for d, level in enumerate(self.levels)}

    def _attribute_targets(self, attributes: dict[str, Sequence[Any]], skip: str | None = None) -> dict:
        return {n: label_index(attributes[n], self.taxonomy.attributes[n]) for n in self.attribute_heads if n != skip}


@register_strategy("flat")
class FlatHead(_TreeHead):
    """One softmax over leaves (marginalised up the tree) plus one softmax per attribute."""

    def __init__(self, taxonomy: Taxonomy, num_features: int, dropout: float = 0.0) -> None:
        super().__init__(taxonomy, num_features, dropout)
        self.leaf = nn.Linear(num_features, len(self.leaves))
        self._add_attribute_heads(num_features)

    def logit_heads(self) -> list[str]:
        return ["leaf", *self.attribute_heads]

    def forward(self, features: Tensor) -> dict[str, Tensor]:
        features = self.dropout(features)
        return {"leaf": self.leaf(features), **self._attribute_logits(features)}

    def probabilities(self, logits: dict[str, Tensor], temperature: Tensor | None = None) -> dict[str, Tensor]:
        logits = self._scale(logits, temperature)
        out = self._marginals(logits["leaf"].softmax(-1))
        out.update({n: logits[n].softmax(-1) for n in self.attribute_heads})
        return out

    def encode_targets(self, leaves: Sequence[Any], attributes: dict[str, Sequence[Any]]) -> dict[str, np.ndarray]:
        return {"leaf": label_index(leaves, self.leaves), **self._attribute_targets(attributes)}


@register_strategy("multihead")
class MultiHead(_TreeHead):
    """A softmax per level and attribute; decoded through leaf paths so levels stay consistent."""

    def __init__(self, taxonomy: Taxonomy, num_features: int, dropout: float = 0.0) -> None:
        super().__init__(taxonomy, num_features, dropout)
        self.level_layers = nn.ModuleList(
            [nn.Linear(num_features, len(taxonomy.nodes_at(d))) for d in range(len(self.levels))]
        )
        self._add_attribute_heads(num_features)

    def logit_heads(self) -> list[str]:
        return [*self.levels, *self.attribute_heads]

    def forward(self, features: Tensor) -> dict[str, Tensor]:
        features = self.dropout(features)
        levels = {lv: layer(features) for lv, layer in zip(self.levels, self.level_layers, strict=True)}
        return {**levels, **self._attribute_logits(features)}

    def probabilities(self, logits: dict[str, Tensor], temperature: Tensor | None = None) -> dict[str, Tensor]:
        logits = self._scale(logits, temperature)
        # path score of a leaf = sum of its levels' log-probs (ragged leaves: only the levels they have)
        score = sum(logits[lv].log_softmax(-1) @ getattr(self, f"member_{d}").T for d, lv in enumerate(self.levels))
        out = self._marginals(score.softmax(-1))
        out.update({n: logits[n].softmax(-1) for n in self.attribute_heads})
        return out

    def encode_targets(self, leaves: Sequence[Any], attributes: dict[str, Sequence[Any]]) -> dict[str, np.ndarray]:
        out = level_targets(self.taxonomy, leaves)
        return {**out, **self._attribute_targets(attributes)}


@register_strategy("combined")
class CombinedHead(_TreeHead):
    """Joint labels leaf x one attribute (seed 004's "Boots Male"), marginalised to both; other attributes flat.

    Without attributes it is the flat strategy.
    """

    def __init__(
        self, taxonomy: Taxonomy, num_features: int, dropout: float = 0.0, attribute: str | None = None
    ) -> None:
        super().__init__(taxonomy, num_features, dropout)
        names = list(taxonomy.attributes)
        if attribute is not None and attribute not in names:
            from fashiontag.registry import UnknownNameError, unknown_name_message

            raise UnknownNameError(unknown_name_message("attribute", attribute, names))
        self.attribute = attribute or (names[0] if names else None)
        values = len(taxonomy.attributes[self.attribute]) if self.attribute else 1
        self.joint = nn.Linear(num_features, len(self.leaves) * values)
        self.num_values = values
        self._add_attribute_heads(num_features, skip=self.attribute)

    def logit_heads(self) -> list[str]:
        return ["joint", *self.attribute_heads]

    def forward(self, features: Tensor) -> dict[str, Tensor]:
        features = self.dropout(features)
        return {"joint": self.joint(features), **self._attribute_logits(features)}

    def probabilities(self, logits: dict[str, Tensor], temperature: Tensor | None = None) -> dict[str, Tensor]:
        logits = self._scale(logits, temperature)
        joint = logits["joint"].softmax(-1).reshape(-1, len(self.leaves), self.num_values)
        out = self._marginals(joint.sum(-1))
        if self.attribute is not None:
            out[self.attribute] = joint.sum(1)
        out.update({n: logits[n].softmax(-1) for n in self.attribute_heads})
        return {h: out[h] for h in self.taxonomy.heads}

    def encode_targets(self, leaves: Sequence[Any], attributes: dict[str, Sequence[Any]]) -> dict[str, np.ndarray]:
        leaf = label_index(leaves, self.leaves)
        if self.attribute is None:
            joint = leaf
        else:
            value = label_index(attributes[self.attribute], self.taxonomy.attributes[self.attribute])
            joint = np.where((leaf >= 0) & (value >= 0), leaf * self.num_values + value, -1)
        return {"joint": joint, **self._attribute_targets(attributes, skip=self.attribute)}
