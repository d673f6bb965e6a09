import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _few_threads():
    torch.set_num_threads(1)


@pytest.fixture
def tiny_args():
    return _tiny_args


def _tiny_args(manifest, taxonomy, out):
    return [
        "--data",
        str(manifest),
        "--taxonomy",
        str(taxonomy),
        "--reader",
        "manifest",
        "--source",
        "manifest",
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
