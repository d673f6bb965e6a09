"""Adapt (``init_from``): a tiny source model continues on a second generated dataset and on another taxonomy."""

import json

import pytest
import torch
from typer.testing import CliRunner

from fashiontag._io import sha256_file
from fashiontag.artifact import ModelFileError
from fashiontag.cli.main import app
from fashiontag.config import ConfigError, build_config, updated
from fashiontag.data.synthetic import make_synthetic_dataset, manifest_cli_args
from fashiontag.data.taxonomy import load_taxonomy, parse_taxonomy
from fashiontag.models import create_network, load_network
from fashiontag.train import TrainConfig, adapt_network, build_net, fit

runner = CliRunner()

# Another taxonomy over the same generated images: one level, other label order, no attribute.
OTHER_TAXONOMY = """\
name: tiny-kinds
version: '2'
levels: [kind]
tree: [Heels, Flats, Shirts, Tshirts, Boots]
sources:
  manifest:
    path_columns: [type]
"""


def _invoke(args):
    result = runner.invoke(app, ["train", *args])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result


def _text(output):
    """CLI error text without rich's box and line wrapping."""
    return " ".join(output.replace("│", " ").split())


def _state(module):
    return {k: v.clone() for k, v in module.state_dict().items()}


def _equal(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def source_model(tmp_path_factory):
    """A smallcnn fine-tuned (backbone included: head_epochs=0) for one epoch on dataset A."""
    root = tmp_path_factory.mktemp("adapt_src")
    manifest, taxonomy = make_synthetic_dataset(root / "data", per_leaf=6, size=32, seed=0)
    cfg = build_config(
        TrainConfig,
        data=str(manifest),
        taxonomy=str(taxonomy),
        reader="manifest",
        source="manifest",
        out=str(root / "run"),
        backbone="smallcnn",
        pretrained=False,
        image_size=32,
        input_size=32,
        epochs=1,
        head_epochs=0,
        batch_size=8,
        lr=1e-2,
        progress_bar=False,
        seed=0,
    )
    return fit(cfg), taxonomy


@pytest.fixture(scope="module")
def target_data(tmp_path_factory):
    """Dataset B: other images (another seed) under the same taxonomy."""
    return make_synthetic_dataset(tmp_path_factory.mktemp("adapt_dst"), per_leaf=4, size=32, seed=1)


def _adapt_args(manifest, taxonomy, out, source):
    return [
        *manifest_cli_args(manifest, taxonomy),
        "--out",
        str(out),
        "--init-from",
        str(source),
        "--probe",
        "image_size=32",
        "progress_bar=false",
        "seed=1",
    ]


def test_adapt_same_taxonomy_starts_from_source(source_model, target_data, tmp_path):
    source, _ = source_model
    manifest, taxonomy = target_data
    base = load_network(source)
    # seed=1 and no --backbone: a fresh network would differ, so equality below means the weights came over
    torch.manual_seed(1)
    fresh = create_network(load_taxonomy(taxonomy), "smallcnn", preprocess=base.preprocess)
    assert not _equal(_state(fresh.backbone), _state(base.backbone))
    _invoke([*_adapt_args(manifest, taxonomy, tmp_path / "run", source), "probe_steps=0"])

    adapted = load_network(tmp_path / "run" / "model")
    assert _equal(_state(adapted.backbone), _state(base.backbone))  # probe: frozen backbone, bit for bit
    assert _equal(_state(adapted.head), _state(base.head))  # same taxonomy + strategy: heads reused, 0 steps
    sidecar = json.loads((tmp_path / "run" / "model" / "fashiontag.json").read_text())
    assert sidecar["training"]["model"]["init_from"] == str(source)
    record = sidecar["init_from"]
    assert record["path"] == str(source.resolve())
    assert record["sha256"] == sha256_file(source / "fashiontag.json")
    assert record["files"] == json.loads((source / "fashiontag.json").read_text())["files"]
    assert record["backbone"] == "smallcnn" and record["heads_reused"] is True
    assert sidecar["backbone"]["name"] == "smallcnn" and sidecar["backbone"]["pretrained"] == "adapted:smallcnn"


def test_adapt_lightning_run_moves_away_from_source(source_model, target_data, tmp_path):
    source, _ = source_model
    manifest, taxonomy = target_data
    args = _adapt_args(manifest, taxonomy, tmp_path / "run", source)
    args = [a for a in args if a not in ("--probe", "--init-from", str(source))]  # init_from= as a key=value
    _invoke([*args, f"init_from={source}", "epochs=1", "head_epochs=0", "batch_size=8", "lr=1e-2"])
    base, adapted = load_network(source), load_network(tmp_path / "run" / "model")
    assert adapted.preprocess == base.preprocess
    assert not _equal(_state(adapted.backbone), _state(base.backbone))  # it trained, from the source
    sidecar = json.loads((tmp_path / "run" / "model" / "fashiontag.json").read_text())
    assert sidecar["init_from"]["heads_reused"] is True and "val_macro_f1" in sidecar["metrics"]


def test_adapt_other_taxonomy_reinitialises_heads(source_model, target_data, tmp_path):
    source, _ = source_model
    manifest, _ = target_data
    other = tmp_path / "kinds.yaml"
    other.write_text(OTHER_TAXONOMY, encoding="utf-8")
    _invoke([*_adapt_args(manifest, other, tmp_path / "run", source), "probe_steps=5"])

    base = load_network(source)
    adapted = load_network(tmp_path / "run" / "model")
    assert _equal(_state(adapted.backbone), _state(base.backbone))
    sidecar = json.loads((tmp_path / "run" / "model" / "fashiontag.json").read_text())
    assert sidecar["heads"] == {"kind": ["Heels", "Flats", "Shirts", "Tshirts", "Boots"]}
    assert sidecar["taxonomy"]["name"] == "tiny-kinds" and adapted.heads == ["kind"]
    assert sidecar["init_from"]["heads_reused"] is False
    with torch.no_grad():
        probs = adapted(torch.zeros(2, 32, 32, 3, dtype=torch.uint8))
    assert list(probs) == ["kind"] and probs["kind"].shape == (2, 5)


def test_heads_with_same_shapes_but_other_order_are_not_reused(source_model):
    """Same label count, shuffled order: copying the head would silently swap classes."""
    source, taxonomy = source_model
    base = load_network(source)
    text = taxonomy.read_text().replace("Tops: [Tshirts, Shirts]", "Tops: [Shirts, Tshirts]")
    shuffled = parse_taxonomy(text)
    torch.manual_seed(5)
    net = adapt_network(base, shuffled, "flat")
    assert net.adapt_info == {"backbone": "smallcnn", "heads_reused": False}
    assert _equal(_state(net.backbone), _state(base.backbone))
    assert not _equal(_state(net.head), _state(base.head))
    same = adapt_network(base, load_taxonomy(taxonomy), "flat")
    assert same.adapt_info["heads_reused"] and _equal(_state(same.head), _state(base.head))
    other_strategy = adapt_network(base, load_taxonomy(taxonomy), "multihead")
    assert not other_strategy.adapt_info["heads_reused"]


def test_adapt_letterboxes_at_the_new_size(source_model, tmp_path):
    """The new data is decoded at the run's image_size, so the sidecar must say so (the source used 32)."""
    source, taxonomy = source_model
    cfg = build_config(TrainConfig, taxonomy=str(taxonomy), backbone="smallcnn", init_from=str(source), image_size=48)
    net = build_net(cfg, load_taxonomy(taxonomy))
    assert (net.preprocess.size, net.preprocess.input_size) == (48, 32)
    net = build_net(updated(cfg, input_size=40), load_taxonomy(taxonomy))
    assert (net.preprocess.size, net.preprocess.input_size) == (48, 40)


def test_adapt_into_cascade_gives_every_part_the_backbone(source_model):
    source, taxonomy = source_model
    base = load_network(source)
    net = adapt_network(base, load_taxonomy(taxonomy), "cascade")
    assert not net.adapt_info["heads_reused"]
    for part in net.parts().values():
        assert _equal(_state(part.backbone), _state(base.backbone))


def _config(source, target_data, out, **kw):
    manifest, taxonomy = target_data
    values = {"backbone": "smallcnn", "image_size": 32, "probe": True, "probe_steps": 1, "progress_bar": False, **kw}
    return build_config(
        TrainConfig,
        data=str(manifest),
        taxonomy=str(taxonomy),
        reader="manifest",
        source="manifest",
        out=str(out),
        init_from=str(source),
        **values,
    )


def test_init_from_missing_dir(target_data, tmp_path):
    with pytest.raises(ModelFileError, match="not a fashiontag model"):
        fit(_config(tmp_path / "nowhere", target_data, tmp_path / "run"))
    assert not (tmp_path / "run").exists()  # failed before reading any data


def test_init_from_tampered_weights(source_model, target_data, tmp_path):
    import shutil

    source, _ = source_model
    copy = shutil.copytree(source, tmp_path / "copy")
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="sha256 does not match"):
        fit(_config(copy, target_data, tmp_path / "run"))


def test_init_from_other_backbone(source_model, target_data, tmp_path):
    source, _ = source_model
    with pytest.raises(ConfigError, match="has backbone 'smallcnn' but backbone='resnet18' was requested"):
        fit(_config(source, target_data, tmp_path / "run", backbone="resnet18"))


def test_cli_reports_bad_init_from(source_model, target_data, tmp_path):
    source, _ = source_model
    manifest, taxonomy = target_data
    result = runner.invoke(app, ["train", *_adapt_args(manifest, taxonomy, tmp_path / "run", tmp_path / "nope")])
    assert result.exit_code == 2 and "--init-from" in result.output and "not a fashiontag model" in _text(result.output)
    result = runner.invoke(
        app, ["train", *_adapt_args(manifest, taxonomy, tmp_path / "run", source), "--backbone", "resnet18"]
    )
    assert result.exit_code == 2 and "backbone='resnet18' was requested" in _text(result.output)
