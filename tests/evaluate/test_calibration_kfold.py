import numpy as np
import pytest

from fashiontag.evaluate import calibration as C
from fashiontag.evaluate.kfold import summarise_folds
from fashiontag.evaluate.metrics import negative_log_likelihood


def test_temperature_lowers_nll_on_overconfident_probs():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(500, 5)) * 2
    targets = np.array([rng.choice(5, p=np.exp(row) / np.exp(row).sum()) for row in logits])
    overconfident = C.apply_temperature(logits, 0.3, from_logits=True)  # true T is 1/0.3
    temperature = C.fit_temperature(overconfident, targets)
    assert temperature == pytest.approx(1 / 0.3, rel=0.2)
    before = negative_log_likelihood(overconfident, targets)
    after = negative_log_likelihood(C.apply_temperature(overconfident, temperature), targets)
    assert after < before - 0.1


def test_summarise_folds():
    folds = [{"acc": 0.9, "head": {"f1": 0.5, "table": [1]}, "name": "x"}, {"acc": 0.8, "head": {"f1": 0.7}}]
    out = summarise_folds(folds)
    assert out["acc"]["mean"] == pytest.approx(0.85)
    assert out["acc"]["std"] == pytest.approx(np.std([0.9, 0.8], ddof=1))
    assert out["head"]["f1"]["n"] == 2 and "name" not in out and "table" not in out["head"]
