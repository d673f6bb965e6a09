import numpy as np
import pytest
from sklearn import metrics as skm

from fashiontag.evaluate import metrics as M

RNG = np.random.default_rng(0)
PROBS = RNG.dirichlet(np.ones(6) * 0.5, size=80)
TARGETS = RNG.integers(0, 5, size=80)  # class 5 never true: "present only" matters
TARGETS[:30] = np.minimum(PROBS[:30].argmax(1), 4)


def test_accuracy_topk_f1_vs_sklearn():
    pred = PROBS.argmax(1)
    assert M.accuracy(PROBS, TARGETS) == pytest.approx(skm.accuracy_score(TARGETS, pred))
    assert M.top_k_accuracy(PROBS, TARGETS, 3) == pytest.approx(
        skm.top_k_accuracy_score(TARGETS, PROBS, k=3, labels=range(6))
    )
    f1 = M.f1_scores(PROBS, TARGETS)
    assert f1["macro_f1"] == pytest.approx(skm.f1_score(TARGETS, pred, average="macro"))
    assert f1["weighted_f1"] == pytest.approx(skm.f1_score(TARGETS, pred, average="weighted"))


def test_map_vs_sklearn_present_classes_only():
    expected = np.mean([skm.average_precision_score(TARGETS == c, PROBS[:, c]) for c in np.unique(TARGETS)])
    assert M.mean_average_precision(PROBS, TARGETS) == pytest.approx(expected)
    ties = np.array([0.5, 0.5, 0.2, 0.9, 0.2])
    pos = np.array([1, 0, 1, 0, 0], bool)
    assert M.average_precision(ties, pos) == pytest.approx(skm.average_precision_score(pos, ties))


def test_per_class_and_confusion_vs_sklearn():
    pred = PROBS.argmax(1)
    p, r, f, s = skm.precision_recall_fscore_support(TARGETS, pred, labels=range(6), zero_division=0)
    table = M.per_class_table(PROBS, TARGETS, list("abcdef"))
    assert [row["precision"] for row in table] == pytest.approx(p)
    assert [row["recall"] for row in table] == pytest.approx(r)
    assert [row["f1"] for row in table] == pytest.approx(f)
    assert [row["support"] for row in table] == list(s)
    assert table[5]["accuracy"] is None  # no test images: not 100%, not 0%
    cm = skm.confusion_matrix(TARGETS, pred, labels=range(6))
    assert (M.confusion_matrix(PROBS, TARGETS) == cm).all()
    assert M.confusion_matrix(PROBS, TARGETS, normalize=True)[:5].sum(1) == pytest.approx(np.ones(5))


def test_most_confused_and_missing_targets():
    cm = np.array([[5, 3, 0], [1, 4, 0], [0, 7, 2]])
    top = M.most_confused(cm, ["a", "b", "c"], top=2)
    assert [(r["true"], r["predicted"], r["count"]) for r in top] == [("c", "b", 7), ("a", "b", 3)]
    probs = np.array([[0.9, 0.1], [0.3, 0.7], [0.6, 0.4]])
    assert M.accuracy(probs, np.array([0, -1, 1])) == 0.5


def test_ece_and_nll():
    probs = np.array([[0.9, 0.1]] * 10)
    targets = np.array([0] * 5 + [1] * 5)
    assert M.expected_calibration_error(probs, targets) == pytest.approx(0.4)
    assert M.negative_log_likelihood(probs, targets) == pytest.approx(skm.log_loss(targets, probs))
    metrics = M.head_metrics(PROBS, TARGETS, list("abcdef"))
    assert metrics["top5_accuracy"] >= metrics["accuracy"]
