"""AdaBN (`fashiontag.models._batchnorm`): the statistics it sets, what it refuses, and that it undoes a shift."""

import numpy as np
import pytest
import torch
from torch import nn

from fashiontag.data.taxonomy import parse_taxonomy
from fashiontag.models import (
    MIN_BATCHNORM_IMAGES,
    adapt_batchnorm,
    batchnorm_layers,
    create_network,
    default_preprocess,
)

TAXONOMY = parse_taxonomy("name: t\nversion: '1'\nlevels: [class]\ntree: [a, b, c, d]\n")


def _net() -> nn.Module:
    torch.manual_seed(0)
    return create_network(TAXONOMY, "smallcnn", "flat", default_preprocess("smallcnn", 32, 32)).eval()


def _squares(n_per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Four classes: a square of its own colour and size on a noisy white backdrop (uint8 NHWC, 32 px)."""
    rng = np.random.default_rng(seed)
    colours = [(200, 30, 30), (30, 160, 40), (40, 60, 200), (120, 120, 120)]
    images, labels = [], []
    for k, colour in enumerate(colours):
        for _ in range(n_per_class):
            image = rng.integers(215, 256, (32, 32, 3)).astype(np.uint8)
            half, centre = 5 + 2 * k, 16 + int(rng.integers(-2, 3))
            image[centre - half : centre + half, centre - half : centre + half] = colour
            images.append(image)
            labels.append(k)
    return np.stack(images), np.array(labels)


def test_the_running_statistics_become_the_new_photos_own() -> None:
    net, (images, _) = _net(), _squares(10, 0)
    first = batchnorm_layers(net)[0]
    seen, dropout_modes = [], []
    first.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
    for module in net.modules():
        if isinstance(module, nn.Dropout):
            module.register_forward_pre_hook(lambda m, args: dropout_modes.append(m.training))
    momentum = first.momentum
    assert adapt_batchnorm(net, images, batch_size=20) == len(batchnorm_layers(net)) == 2
    inputs = torch.cat(seen)  # the first layer's inputs over both batches of 20
    per_batch = [batch.mean(dim=(0, 2, 3)) for batch in seen]
    assert torch.allclose(first.running_mean, torch.stack(per_batch).mean(0), atol=1e-4)
    assert torch.allclose(first.running_mean, inputs.mean(dim=(0, 2, 3)), atol=1e-4)  # equal batches: the mean
    per_batch_var = torch.stack([batch.var(dim=(0, 2, 3), unbiased=True) for batch in seen]).mean(0)
    assert torch.allclose(first.running_var, per_batch_var, atol=1e-4)
    assert not net.training and not first.training and first.momentum == momentum
    assert dropout_modes and not any(dropout_modes)  # dropout stayed off while the statistics were gathered


def test_too_few_photos_no_batchnorm_a_cascade_or_a_failing_pass_are_refused_and_change_nothing() -> None:
    images, _ = _squares(10, 0)
    with pytest.raises(ValueError, match=f"at least {MIN_BATCHNORM_IMAGES}"):
        adapt_batchnorm(_net(), images[: MIN_BATCHNORM_IMAGES - 1])
    with pytest.raises(ValueError, match="at least 2"):
        adapt_batchnorm(_net(), images, batch_size=1)
    with pytest.raises(ValueError, match="no BatchNorm"):
        adapt_batchnorm(nn.Sequential(nn.Flatten(), nn.Linear(3072, 4)), images)

    class Cascade(nn.Module):  # what check_adaptable sees of a CascadeNet: parts
        def parts(self) -> dict[str, nn.Module]:
            return {"router": _net()}

    with pytest.raises(ValueError, match="cascade"):
        adapt_batchnorm(Cascade(), images)
    net, calls = _net(), []
    before = {k: v.clone() for k, v in net.state_dict().items()}
    forward = net.forward

    def fails_on_the_second_batch(x: torch.Tensor) -> dict[str, torch.Tensor]:
        calls.append(len(x))
        if len(calls) == 2:
            raise RuntimeError("interrupted")
        return forward(x)

    net.forward = fails_on_the_second_batch
    with pytest.raises(RuntimeError, match="interrupted"):  # the first batch had already moved the statistics
        adapt_batchnorm(net, images, batch_size=20)
    assert calls == [20, 20] and not net.training
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # ... and they are back


def _accuracy(net: nn.Module, images: np.ndarray, labels: np.ndarray) -> float:
    with torch.inference_mode():
        return float((net(torch.from_numpy(images))["class"].argmax(1).numpy() == labels).mean())


def test_adaptation_undoes_a_brightness_shift_without_labels() -> None:
    """A model trained on bright photos fails on dim ones (every BatchNorm sees inputs off its statistics);
    re-estimating the statistics on unlabelled dim photos brings its accuracy back."""
    net, (images, labels) = _net(), _squares(16, 0)
    optimiser = torch.optim.Adam(net.parameters(), lr=1e-2)
    x, y = net.to_input(torch.from_numpy(images)), torch.from_numpy(labels)
    net.train()
    for _ in range(60):
        optimiser.zero_grad()
        nn.functional.cross_entropy(net.forward_logits(x)["leaf"], y).backward()
        optimiser.step()
    net.eval()
    test, test_labels = _squares(16, 1)
    dim = (test.astype(np.float32) * 0.45).astype(np.uint8)  # the same photos, under-exposed
    unlabelled = (_squares(16, 2)[0].astype(np.float32) * 0.45).astype(np.uint8)  # other dim photos, no labels
    before, shifted = _accuracy(net, test, test_labels), _accuracy(net, dim, test_labels)
    adapt_batchnorm(net, unlabelled)
    after = _accuracy(net, dim, test_labels)
    assert before >= 0.9 and shifted <= before - 0.2, (before, shifted)
    assert after >= 0.9 and after >= shifted + 0.2, (shifted, after)
