import pytest

from fashiontag.registry import Registry, UnknownNameError


def test_unknown_name_lists_closest():
    registry: Registry[int] = Registry("backbone")
    registry.register("resnet18")(lambda: 18)
    registry.register("resnet50")(lambda: 50)
    with pytest.raises(UnknownNameError, match="Did you mean 'resnet18'") as info:
        registry.create("resnet81")
    assert "Valid: resnet18, resnet50" in str(info.value)


def test_register_twice_fails():
    registry: Registry[int] = Registry("loss")
    registry.register("ce")(lambda: 1)
    with pytest.raises(ValueError, match="twice"):
        registry.register("ce")(lambda: 2)
