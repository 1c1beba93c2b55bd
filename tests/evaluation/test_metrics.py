import numpy as np
import pytest
from sklearn import metrics as skm

from toontag.evaluation.metrics import metrics_markdown, micro_scores, multilabel_metrics

CLASSES = ["a", "b", "c", "d"]


@pytest.fixture(scope="module")
def predictions():
    rng = np.random.default_rng(7)
    y = (rng.random((500, 4)) < 0.45).astype(int)
    y[y.sum(1) == 0, 0] = 1
    p = np.clip(y * 0.35 + rng.random((500, 4)) * 0.6, 0.001, 0.999)
    return y, p


def test_every_figure_equals_scikit_learn(predictions):
    y, p = predictions
    thresholds = [0.5, 0.6, 0.5, 0.7]
    m = multilabel_metrics(y, p, CLASSES, thresholds, resamples=200)
    pred = (p >= np.array(thresholds)).astype(int)
    assert m["loss"] == pytest.approx(skm.log_loss(y.ravel(), p.ravel()))
    assert m["accuracy"] == pytest.approx((pred == y).mean())
    assert m["subset_accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    for avg in ("micro", "macro"):
        assert m[f"precision_{avg}"] == pytest.approx(skm.precision_score(y, pred, average=avg))
        assert m[f"recall_{avg}"] == pytest.approx(skm.recall_score(y, pred, average=avg))
        assert m[f"f1_{avg}"] == pytest.approx(skm.f1_score(y, pred, average=avg))
        assert m[f"auc_{avg}"] == pytest.approx(skm.roc_auc_score(y, p, average=avg))
    assert m["map"] == pytest.approx(skm.average_precision_score(y, p, average="macro"))
    f1 = skm.f1_score(y, pred, average=None)
    for i, name in enumerate(CLASSES):
        c = m["per_class"][name]
        assert c["f1"] == pytest.approx(f1[i])
        assert c["auc"] == pytest.approx(skm.roc_auc_score(y[:, i], p[:, i]))
        assert c["support"] == y[:, i].sum() and c["threshold"] == thresholds[i]
    counts = m["counts"]
    assert counts["tp"] == int((pred & y).sum()) and counts["fn"] == int(((1 - pred) & y).sum())
    assert sum(counts.values()) == y.size


def test_bootstrap_intervals_are_seeded_and_bracket_the_estimate(predictions):
    y, p = predictions
    a = multilabel_metrics(y, p, CLASSES, resamples=300, seed=1)
    b = multilabel_metrics(y, p, CLASSES, resamples=300, seed=1)
    assert a["ci95"] == b["ci95"]
    for name in ("f1_micro", "precision_micro", "recall_micro", "accuracy", "auc_micro"):
        low, high = a["ci95"][name]
        assert low < a[name] < high and high - low < 0.1
    assert a["bootstrap"] == {"resamples": 300, "seed": 1, "method": "percentile", "level": 0.95}


def test_markdown_names_every_class(predictions):
    y, p = predictions
    text = metrics_markdown(multilabel_metrics(y, p, CLASSES, resamples=50), "demo")
    assert text.startswith("# demo") and all(f"| {c} |" in text for c in CLASSES)
    assert "F1 micro" in text and "[" in text


def test_a_class_without_positives_has_no_auc_and_the_rest_still_count(predictions):
    """A subset in which one character never appears: its AUC and AP are undefined (None,
    "n/a"), the other classes' are scikit-learn's, the macro figures average those."""
    y, p = predictions
    y = y.copy()
    y[:, 2] = 0
    m = multilabel_metrics(y, p, CLASSES, resamples=50)
    assert m["per_class"]["c"]["auc"] is None and m["per_class"]["c"]["ap"] is None
    assert m["per_class"]["c"]["support"] == 0
    defined = [0, 1, 3]
    for i in defined:
        auc = skm.roc_auc_score(y[:, i], p[:, i])
        assert m["per_class"][CLASSES[i]]["auc"] == pytest.approx(auc)
    assert m["auc_micro"] == pytest.approx(skm.roc_auc_score(y, p, average="micro"))
    assert m["auc_macro"] == pytest.approx(skm.roc_auc_score(y[:, defined], p[:, defined]))
    assert m["map"] == pytest.approx(skm.average_precision_score(y[:, defined], p[:, defined]))
    low, high = m["ci95"]["auc_micro"]
    assert low < m["auc_micro"] < high
    text = metrics_markdown(m, "subset")
    row = next(line for line in text.splitlines() if line.startswith("| c |"))
    assert row.split(" | ")[4] == "n/a" and "AUC n/a: undefined for c," in text


def test_micro_scores_equal_scikit_learn_on_the_known_entries(predictions):
    y, p = predictions
    decided = p >= 0.5
    known = np.random.default_rng(1).random(y.shape) > 0.3
    for mask in (None, known):
        truth, pred = (y, decided) if mask is None else (y[mask], decided[mask])
        expected = skm.precision_recall_fscore_support(
            truth.ravel(), pred.ravel(), average="binary", zero_division=0
        )[:3]
        assert micro_scores(y, decided, mask) == pytest.approx(expected, abs=1e-15)
    expected = skm.precision_recall_fscore_support(y, decided, average="micro", zero_division=0)
    assert micro_scores(y, decided) == pytest.approx(expected[:3], abs=1e-15)
    unknown = np.where(known, y, 1 - y)  # what the unknown entries say does not count
    assert micro_scores(unknown, decided, known) == micro_scores(y, decided, known)
    assert micro_scores(y, decided, np.zeros_like(known)) == (0.0, 0.0, 0.0)
    assert micro_scores(np.zeros((3, 2)), np.zeros((3, 2))) == (0.0, 0.0, 0.0)
