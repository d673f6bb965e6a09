"""Cascade temperature scaling: fitted per part on held-out data, saved in the parts' sidecars, applied on load."""

import shutil

import numpy as np
import pytest

from fashiontag.artifact import read_sidecar


@pytest.fixture(scope="module")
def overconfident_cascade(tiny_run, tmp_path_factory):
    """A tiny cascade whose heads are scaled up: confidently wrong, so temperature scaling has work to do."""
    import torch

    from fashiontag.artifact import Preprocess
    from fashiontag.models import create_network, save_model

    torch.manual_seed(3)
    net = create_network(tiny_run["tax"], "smallcnn", "cascade", Preprocess(32, 32)).eval()
    with torch.no_grad():
        for part in net.parts().values():
            for parameter in part.head.parameters():
                parameter.mul_(30.0)
    path = tmp_path_factory.mktemp("cascade") / "model"
    save_model(net, path)
    return path


def _val(tiny_run, items):
    from fashiontag.data.targets import item_targets
    from fashiontag.evaluate import load_eval_set

    val = load_eval_set(items, tiny_run["tax"], 32, split="val")
    return val, item_targets(tiny_run["tax"], val.items)


def _nll(probs, targets):
    from fashiontag.evaluate.metrics import negative_log_likelihood

    return sum(negative_log_likelihood(probs[h], targets[h]) for h in probs if (targets[h] >= 0).any())


def test_fit_cascade_temperature_lowers_nll(tiny_run, tiny_items, overconfident_cascade):
    from fashiontag.evaluate._predict import network_predictor
    from fashiontag.evaluate.calibration import fit_network_temperature
    from fashiontag.models import load_network

    val, targets = _val(tiny_run, tiny_items)
    network = load_network(overconfident_cascade)
    predict = network_predictor(network)
    before = predict(val.images)
    temperature = fit_network_temperature(network, val.images, targets)
    groups = [g for g in tiny_run["tax"].nodes_at(0) if tiny_run["tax"].children(g)]
    assert set(temperature) == {"router:leaf", "router:colour", *(f"{g}:leaf" for g in groups)}
    assert all(t > 0 for t in temperature.values())
    assert network.router.get_temperature()["leaf"] == pytest.approx(temperature["router:leaf"])
    after = predict(val.images)
    assert _nll(after, targets) < _nll(before, targets)
    # structure kept: deeper levels only under the routed group, summing to its probability
    routed = after["group"].argmax(1)
    np.testing.assert_allclose(after["type"].sum(1), after["group"][np.arange(len(routed)), routed], atol=1e-5)


def test_split_part_temperature_rejects_unknown_part():
    from fashiontag.evaluate.calibration import split_part_temperature
    from fashiontag.registry import UnknownNameError

    assert split_part_temperature({"router:leaf": 2, "Tops:leaf": 3}, ["router", "Tops"]) == {
        "router": {"leaf": 2.0},
        "Tops": {"leaf": 3.0},
    }
    with pytest.raises(UnknownNameError, match="router"):
        split_part_temperature({"routr:leaf": 2}, ["router", "Tops"])


def test_evaluate_saves_cascade_calibration_and_load_applies_it(tiny_run, tiny_items, overconfident_cascade, tmp_path):
    from fashiontag.evaluate import EvaluateConfig, evaluate_model
    from fashiontag.export import export_onnx
    from fashiontag.infer import load

    model = tmp_path / "model"
    shutil.copytree(overconfident_cascade, model)
    val, targets = _val(tiny_run, tiny_items)
    before = load(model, backend="torch").probabilities(val.images)
    config = EvaluateConfig(calibrate_split="val", save_calibration=True, robustness=False, target_accuracy=0.9)
    metrics = evaluate_model(model, tiny_items, "test", tmp_path / "out", config)
    fitted = metrics["calibration"]["temperature"]
    assert "router:leaf" in fitted and metrics["calibration"]["note"] is None
    sidecar = read_sidecar(model)  # every part's hashes still verify
    assert set(sidecar["thresholds"]) == {"group", "type", "colour"}
    for name, sub in sidecar["parts"].items():
        saved = read_sidecar(model / sub)["temperature"]
        assert saved == pytest.approx({k.split(":", 1)[1]: v for k, v in fitted.items() if k.startswith(f"{name}:")})
    torch_probs = load(model, backend="torch").probabilities(val.images)
    assert _nll(torch_probs, targets) < _nll(before, targets)
    export_onnx(model, exporter="torchscript")  # export bakes each part's temperature into its graph
    onnx_probs = load(model, backend="onnx").probabilities(val.images)
    for head, value in torch_probs.items():
        np.testing.assert_allclose(onnx_probs[head], value, atol=1e-4)
    assert 'class="cam"' in (tmp_path / "out" / "report.html").read_text()  # Grad-CAM works on cascades too


def test_stale_onnx_note(tiny_run, tmp_path):
    from fashiontag.artifact import add_files
    from fashiontag.evaluate.run import _stale_onnx_note
    from fashiontag.models._testing import make_tiny_model

    sidecar = make_tiny_model(tmp_path / "m", tiny_run["tax"])
    assert _stale_onnx_note(tmp_path / "m", sidecar) is None
    (tmp_path / "m" / "model.onnx").write_bytes(b"x")
    sidecar = add_files(tmp_path / "m", ["model.onnx"])
    assert "re-run `fashiontag export" in _stale_onnx_note(tmp_path / "m", sidecar)
