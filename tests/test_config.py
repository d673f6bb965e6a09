from dataclasses import dataclass, field
from typing import Literal

import pytest

from fashiontag.config import ConfigError, build_config


@dataclass(frozen=True)
class Optim:
    lr: float = 1e-3
    name: Literal["adamw", "sgd"] = "adamw"


@dataclass(frozen=True)
class Run:
    epochs: int = 3
    optim: Optim = field(default_factory=Optim)
    tags: tuple[str, ...] = ()


def test_defaults_yaml_then_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("epochs: 5\noptim: {lr: 0.1}\n")
    config = build_config(Run, path, ["optim.lr=0.01", "tags=[a, b]"])
    assert config == Run(epochs=5, optim=Optim(lr=0.01), tags=("a", "b"))


def test_unknown_key_has_hint():
    with pytest.raises(ConfigError, match="Did you mean 'epochs'"):
        build_config(Run, overrides=["epoch=2"])


def test_wrong_type_and_literal_rejected():
    with pytest.raises(ConfigError, match="expected int"):
        build_config(Run, overrides=["epochs=many"])
    with pytest.raises(ConfigError, match="not one of"):
        build_config(Run, overrides=["optim.name=lion"])
