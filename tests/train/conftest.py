import pytest
import torch

from fashiontag.data.synthetic import manifest_cli_args


@pytest.fixture(autouse=True, scope="session")
def _few_threads():
    torch.set_num_threads(1)


@pytest.fixture
def tiny_args():
    return _tiny_args


def _tiny_args(manifest, taxonomy, out):
    return [
        *manifest_cli_args(manifest, taxonomy),
        "--out",
        str(out),
        "pretrained=false",
        "image_size=32",
        "input_size=32",
        "epochs=1",
        "batch_size=8",
        "progress_bar=false",
        "probe_steps=20",
    ]
