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


# Four frames, two classes, worked out by hand (the figures below are not computed by code).
HAND_Y = np.array([[1, 0], [1, 1], [0, 1], [0, 0]])
HAND_P = np.array([[0.9, 0.2], [0.6, 0.7], [0.4, 0.25], [0.2, 0.3]])


def test_every_figure_of_a_hand_worked_example():
    """At 0.5, class a is decided perfectly (tp 2); class b finds frame 2, misses frame 3
    (tp 1, fn 1, fp 0). Ranked, b's positives (0.7, 0.25) beat 3 of 4 negative pairs."""
    m = multilabel_metrics(HAND_Y, HAND_P, ["a", "b"], [0.5, 0.5], resamples=20)
    expected = {
        "accuracy": 7 / 8,  # one wrong entry of eight
        "subset_accuracy": 3 / 4,  # frame 3 is wrong
        "precision_micro": 1.0,  # tp 3, fp 0
        "recall_micro": 3 / 4,  # tp 3, fn 1
        "f1_micro": 6 / 7,  # 2tp / (2tp + fp + fn)
        "precision_macro": 1.0,
        "recall_macro": (1 + 1 / 2) / 2,
        "f1_macro": (1 + 2 / 3) / 2,
        "auc_macro": (1 + 3 / 4) / 2,
        "auc_micro": 14 / 16,  # pooled: 0.25 beats only the two 0.2 negatives
        "map": (1 + (1 + 2 / 3) / 2) / 2,  # b: precision 1 at 0.7, 2/3 at 0.25
        # the mean of -log(p) for a positive entry, -log(1 - p) for a negative one
        "loss": -np.log([0.9, 0.8, 0.6, 0.7, 0.6, 0.25, 0.8, 0.7]).mean(),
    }
    assert {k: m[k] for k in expected} == pytest.approx(expected)
    a, b = m["per_class"]["a"], m["per_class"]["b"]
    assert (a["f1"], a["auc"], a["ap"], a["support"]) == pytest.approx((1, 1, 1, 2))
    assert (b["f1"], b["auc"], b["ap"], b["support"]) == pytest.approx((2 / 3, 3 / 4, 5 / 6, 2))
    assert m["counts"] == {"tp": 3, "fp": 0, "fn": 1, "tn": 4}


def test_each_class_is_decided_at_its_own_threshold():
    """b at 0.22 takes frames 2, 3 and 4 (0.3 a false positive); a at 0.95 takes none."""
    m = multilabel_metrics(HAND_Y, HAND_P, ["a", "b"], [0.95, 0.22], resamples=20)
    assert m["per_class"]["a"]["f1"] == 0 and m["per_class"]["b"]["f1"] == pytest.approx(0.8)
    assert m["counts"] == {"tp": 2, "fp": 1, "fn": 2, "tn": 3}
    assert [m["per_class"][c]["threshold"] for c in "ab"] == [0.95, 0.22]


def pairwise_auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC-AUC by its definition: the share of (positive, negative) pairs ranked right."""
    pos, neg = p[y == 1], p[y == 0]
    return float((pos[:, None] > neg[None]).mean() + 0.5 * (pos[:, None] == neg[None]).mean())


def average_precision(y: np.ndarray, p: np.ndarray) -> float:
    """The mean, over the positives, of the precision among the frames ranked at or above."""
    hits = y[np.argsort(-p, kind="stable")]
    return float((np.cumsum(hits) / np.arange(1, len(hits) + 1))[hits == 1].mean())


def test_every_figure_on_random_data_matches_its_definition(predictions):
    y, p = predictions
    thresholds = [0.5, 0.6, 0.5, 0.7]
    m = multilabel_metrics(y, p, CLASSES, thresholds, resamples=200)
    pred = (p >= np.array(thresholds)).astype(int)
    tp, fp, fn = ((pred & y).sum(0), (pred & (1 - y)).sum(0), ((1 - pred) & y).sum(0))
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    f1 = 2 * tp / (2 * tp + fp + fn)
    assert m["precision_macro"] == pytest.approx(precision.mean())
    assert m["recall_macro"] == pytest.approx(recall.mean())
    assert m["f1_macro"] == pytest.approx(f1.mean())
    assert m["f1_micro"] == pytest.approx(2 * tp.sum() / (2 * tp.sum() + fp.sum() + fn.sum()))
    assert m["accuracy"] == pytest.approx((pred == y).mean())
    assert m["subset_accuracy"] == pytest.approx((pred == y).all(1).mean())
    aucs = [pairwise_auc(y[:, k], p[:, k]) for k in range(4)]
    assert m["auc_macro"] == pytest.approx(np.mean(aucs))
    assert m["auc_micro"] == pytest.approx(pairwise_auc(y.ravel(), p.ravel()))
    aps = [average_precision(y[:, k], p[:, k]) for k in range(4)]
    assert m["map"] == pytest.approx(np.mean(aps))
    for k, name in enumerate(CLASSES):
        c = m["per_class"][name]
        assert (c["f1"], c["auc"], c["ap"]) == pytest.approx((f1[k], aucs[k], aps[k]))
        assert c["support"] == y[:, k].sum() and c["threshold"] == thresholds[k]


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
    "n/a"), the other classes' are their definitions', the macro figures average those."""
    y, p = predictions
    y = y.copy()
    y[:, 2] = 0
    m = multilabel_metrics(y, p, CLASSES, resamples=50)
    assert m["per_class"]["c"]["auc"] is None and m["per_class"]["c"]["ap"] is None
    assert m["per_class"]["c"]["support"] == 0
    defined = [0, 1, 3]
    aucs = [pairwise_auc(y[:, i], p[:, i]) for i in defined]
    for i, auc in zip(defined, aucs, strict=True):
        assert m["per_class"][CLASSES[i]]["auc"] == pytest.approx(auc)
    assert m["auc_micro"] == pytest.approx(pairwise_auc(y.ravel(), p.ravel()))
    assert m["auc_macro"] == pytest.approx(np.mean(aucs))
    aps = [average_precision(y[:, i], p[:, i]) for i in defined]
    assert m["map"] == pytest.approx(np.mean(aps))
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


def test_unknown_entries_are_left_out_of_every_figure(predictions):
    """What an unknown entry says (its target, its probability) changes no figure; the micro
    figures are those of the known entries pooled, each class's those of its known rows; with
    every entry known the result is the unmasked one."""
    y, p = predictions
    known = np.random.default_rng(3).random(y.shape) > 0.2
    m = multilabel_metrics(y, p, CLASSES, resamples=50, known=known)
    scrambled = multilabel_metrics(
        np.where(known, y, 1 - y), np.where(known, p, 1 - p), CLASSES, resamples=50, known=known
    )
    assert scrambled == m
    decided = p >= 0.5
    assert m["f1_micro"] == pytest.approx(skm.f1_score(y[known], decided[known]))
    assert m["accuracy"] == pytest.approx((y == decided)[known].mean())
    assert m["auc_micro"] == pytest.approx(skm.roc_auc_score(y[known], p[known]))
    for k, name in enumerate(CLASSES):
        rows = known[:, k]
        c = m["per_class"][name]
        assert c["f1"] == pytest.approx(skm.f1_score(y[rows, k], decided[rows, k]))
        assert c["auc"] == pytest.approx(skm.roc_auc_score(y[rows, k], p[rows, k]))
        assert c["support"] == y[rows, k].sum()
    assert sum(m["counts"].values()) == known.sum()
    everything = np.ones_like(known)
    assert multilabel_metrics(y, p, CLASSES, resamples=50, known=everything) == (
        multilabel_metrics(y, p, CLASSES, resamples=50)
    )
