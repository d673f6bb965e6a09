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


@dataclass(frozen=True)
class Weighted:
    weights: dict[str, float] | None = None


def test_mapping_values_are_typed_too():
    """``weights.a=2`` is a float like any other: a typo in the value is a ConfigError, not a crash later."""
    assert build_config(Weighted, overrides=["weights.a=2", "weights.b=0.5"]).weights == {"a": 2.0, "b": 0.5}
    with pytest.raises(ConfigError, match="weights.a: expected float, got 'abc'"):
        build_config(Weighted, overrides=["weights.a=abc"])


@dataclass(frozen=True)
class Sched:
    lr: float = 0.5  # also in Optim: a flat `lr` is ambiguous here
    warmup: int = 0


@dataclass(frozen=True)
class Nested:
    optim: Optim = field(default_factory=Optim)
    sched: Sched = field(default_factory=Sched)
    epochs: int = 3


def test_section_keys_nested_dotted_or_flat(tmp_path):
    from fashiontag.config import updated

    path = tmp_path / "c.yaml"
    path.write_text("optim: {name: sgd}\nwarmup: 2\n")
    config = build_config(Nested, path, ["sched.lr=0.1", "optim.lr=0.2", "epochs=4"])
    assert config == Nested(optim=Optim(lr=0.2, name="sgd"), sched=Sched(lr=0.1, warmup=2), epochs=4)
    assert updated(config, warmup=5, **{"optim.lr": 0.3}) == Nested(Optim(0.3, "sgd"), Sched(0.1, 5), 4)
    assert build_config(Nested, overrides=["warmup=1", "sched.warmup=7"]).sched.warmup == 7  # the later one wins


def test_ambiguous_and_unknown_section_keys_name_the_valid_ones():
    with pytest.raises(ConfigError, match="'optim.lr', 'sched.lr'"):
        build_config(Nested, overrides=["lr=0.1"])
    with pytest.raises(ConfigError, match="Did you mean 'warmup'"):
        build_config(Nested, overrides=["warmpu=1"])
    with pytest.raises(ConfigError, match="Did you mean 'sched.warmup'"):
        build_config(Nested, overrides=["sched.warmpu=1"])
    with pytest.raises(ConfigError, match="given twice"):
        build_config(Nested, overrides=["warmup=1"], sched={"warmup": 2}, warmup=3)
