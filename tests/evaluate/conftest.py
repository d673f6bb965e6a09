import pytest


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """Synthetic data + an untrained tiny model, shared by the end-to-end tests."""
    models = pytest.importorskip("fashiontag.models._testing", reason="fashiontag.models._testing not available")
    from fashiontag.data.synthetic import make_synthetic_dataset
    from fashiontag.data.taxonomy import load_taxonomy

    root = tmp_path_factory.mktemp("evaluate")
    manifest, taxonomy_file = make_synthetic_dataset(root / "data", per_leaf=6)
    tax = load_taxonomy(str(taxonomy_file))
    models.make_tiny_model(root / "flat", tax)
    models.make_tiny_model(root / "combined", tax, strategy="combined", seed=1)
    return {"root": root, "manifest": manifest, "tax": tax}


@pytest.fixture
def tiny_items(tiny_run):
    """The tiny run's mapped items (a fresh frame per test) with every third one in ``val``, the rest ``test``."""
    from fashiontag.data.mapping import map_items
    from fashiontag.data.readers import read_dataset

    items = map_items(
        read_dataset("manifest", tiny_run["manifest"], hash_files=False).items, tiny_run["tax"], "manifest"
    ).mapped
    items["split"] = ["val" if i % 3 == 0 else "test" for i in range(len(items))]
    return items
