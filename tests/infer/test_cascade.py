"""Cascade models: the onnx backend routes whole batches like the torch CascadeNet does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fashiontag.data.taxonomy import Taxonomy
from fashiontag.infer import load


@pytest.fixture(scope="module")
def cascade_dir(tmp_path_factory: pytest.TempPathFactory, taxonomy: Taxonomy) -> Path:
    from fashiontag.export import export_onnx
    from fashiontag.models._testing import make_tiny_model

    path = tmp_path_factory.mktemp("cascade") / "model"
    make_tiny_model(path, taxonomy, strategy="cascade", seed=3)
    export_onnx(path, exporter="torchscript")
    return path


def test_cascade_onnx_matches_torch(cascade_dir: Path, images: list[Path]) -> None:
    onnx_labeller, torch_labeller = load(cascade_dir), load(cascade_dir, backend="torch")
    assert onnx_labeller.backend == "onnx" and torch_labeller.backend == "torch"
    batch = np.stack([np.asarray(__import__("PIL.Image").Image.open(p).convert("RGB")) for p in images])
    got, expected = onnx_labeller.probabilities(batch), torch_labeller.probabilities(batch)
    for head in onnx_labeller.heads:
        np.testing.assert_allclose(got[head], expected[head], atol=1e-4)
    # Routing: deeper levels only have mass under the chosen group, scaled by p(group).
    groups = got["group"].argmax(1)
    tax = onnx_labeller.taxonomy
    for i, g in enumerate(groups):
        group = tax.head_labels("group")[g]
        outside = [j for j, n in enumerate(tax.head_labels("type")) if tax.nodes[n].parent != group]
        assert np.all(got["type"][i, outside] == 0)
        assert got["type"][i].sum() == pytest.approx(got["group"][i, g], abs=1e-5)
    results = onnx_labeller.predict(images[:3])
    assert all(r["labels"]["type"]["id"].startswith(r["labels"]["group"]["id"]) for r in results)


def test_tampered_cascade_part_is_refused(cascade_dir: Path, tmp_path: Path) -> None:
    import shutil

    from fashiontag.artifact import ModelFileError

    copy = tmp_path / "c"
    shutil.copytree(cascade_dir, copy)
    (copy / "router" / "model.onnx").write_bytes(b"x")
    with pytest.raises(ModelFileError, match="router"):
        load(copy)
