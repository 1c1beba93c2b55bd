"""A light multi-label head on cached pool features, refitted after every few labels.

One L2-regularised logistic regression per class (scikit-learn, L-BFGS) on features
standardised with a fixed sample of the pool. Labels are a matrix with a mask: an entry that is
not known (the labeller said "unknown" for that class, or has not looked) is left out of that
class's fit, which is what masking it out of a per-entry binary cross-entropy does, exactly.

Measured on the Kral Sakir train pool (Lite0 features, 1 BLAS thread): one fit of 4 classes on
1,000 labels takes 0.09 s with scikit-learn, 0.8 s with a joint torch L-BFGS and 1.0 s with a
joint scipy L-BFGS (both run to a tighter tolerance; the scipy one reached the same test
micro-F1), so a refit with its 4 out-of-fold fits stays under a second.

Thresholds and the quality estimate come from out-of-fold predictions on the labelled rows.
Rows the queue chose for being hard are no random sample, and the thresholds are tuned on the
same predictions: `Estimate.source` says so, and `audit_score` on frames drawn uniformly from
the pool gives the figure to trust.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from toontag.training.thresholds import f1_optimal_threshold

C = 0.1  # inverse L2 strength; Kral Sakir test micro-F1 is flat (±0.01) from C=0.01 to 10
FOLDS = 4  # out-of-fold predictions for thresholds and the estimate: 4 extra fits
ENOUGH = 5  # positives and negatives a class needs before its threshold is tuned
MAX_ITER = 200  # L-BFGS iterations at most per class; real pools converge in a few dozen
STATS_ROWS = 8192  # pool rows sampled (evenly) for the standardisation
CHUNK_ROWS = 16384  # pool rows scored at a time
OUT_OF_FOLD = (
    "out-of-fold on the labelled rows; biased: rows chosen actively are not a random sample and "
    "the thresholds are tuned on these same predictions"
)
AUDIT = "a random audit sample, at the head's thresholds"


@dataclass(frozen=True)
class Estimate:
    f1_micro: float  # over the known entries
    precision: float
    recall: float
    entries: int  # known (row, class) entries scored
    source: str  # how the predictions were made, and whether the figure can be trusted


@dataclass(frozen=True, eq=False)  # compared by identity: its fields are arrays
class Head:
    weight: np.ndarray  # (D, C) float32, on raw features (the standardisation folded in)
    bias: np.ndarray  # (C,) float32
    thresholds: tuple[float, ...]  # per class: tuned out of fold, else 0.5
    tuned: tuple[bool, ...]  # per class: enough positives and negatives to tune its threshold
    estimate: Estimate | None  # out-of-fold quality; None until some class is tuned
    labelled: int  # rows it was fitted on
    seconds: float  # wall time of the fit, out-of-fold fits included

    def logits(self, features: np.ndarray) -> np.ndarray:
        """(N, C) float32 logits of `features` (any float dtype, a memmap included), in chunks
        so that a 100,000-frame pool is never whole in memory as float32."""
        out = np.empty((len(features), len(self.bias)), np.float32)
        for start in range(0, len(features), CHUNK_ROWS):
            chunk = np.asarray(features[start : start + CHUNK_ROWS], dtype=np.float32)
            out[start : start + len(chunk)] = chunk @ self.weight + self.bias
        return out

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """(N, C) float32 probabilities of every row of `features`."""
        return _sigmoid(self.logits(features))


def fit_head(
    features: np.ndarray,
    rows,
    targets: np.ndarray,
    known: np.ndarray | None = None,
    *,
    groups=None,
    c: float = C,
    folds: int = FOLDS,
    seed: int = 0,
) -> Head:
    """Fit the head on `features[rows]` with (len(rows), C) 0/1 `targets`; `known` (same shape,
    true where the entry is known) masks the unknown entries out of the loss. `groups` (one id
    per labelled row: its source and shot) keeps near-duplicate frames in one fold."""
    started = time.perf_counter()
    rows = np.asarray(rows, dtype=np.int64)
    y = np.asarray(targets, dtype=np.float32)
    known = np.ones_like(y, dtype=bool) if known is None else np.asarray(known, dtype=bool)
    if y.ndim != 2 or y.shape != known.shape or len(rows) != len(y):
        raise ValueError(
            f"targets {y.shape} and known {known.shape} must both be (len(rows)={len(rows)}, C)"
        )
    if groups is not None and len(groups) != len(rows):
        raise ValueError(f"groups has {len(groups)} entries, rows {len(rows)}")
    mean, scale = _standardisation(features)
    x = (np.asarray(features[rows], dtype=np.float32) - mean) / scale
    weight, bias = _fit(x, y, known, c)
    positives = (known & (y > 0.5)).sum(axis=0)
    negatives = (known & (y < 0.5)).sum(axis=0)
    tuned = (positives >= ENOUGH) & (negatives >= ENOUGH)
    thresholds = np.full(y.shape[1], 0.5)
    estimate = None
    if tuned.any() and len(rows) >= folds:
        p = _out_of_fold(x, y, known, c, folds, groups, seed)
        for k in np.flatnonzero(tuned):
            seen = known[:, k]
            thresholds[k] = f1_optimal_threshold(y[seen, k], p[seen, k])
        estimate = _score(y, p >= thresholds, known, OUT_OF_FOLD)
    return Head(
        weight=(weight / scale[:, None]).astype(np.float32),
        bias=(bias - (mean / scale) @ weight).astype(np.float32),
        thresholds=tuple(float(t) for t in thresholds),
        tuned=tuple(bool(t) for t in tuned),
        estimate=estimate,
        labelled=len(rows),
        seconds=time.perf_counter() - started,
    )


def audit_score(
    head: Head, features: np.ndarray, rows, targets: np.ndarray, known: np.ndarray | None = None
) -> Estimate:
    """Micro-F1 of `head` on audit rows: frames drawn uniformly from the pool and labelled for
    checking, never used to fit. The unbiased counterpart of `Head.estimate`."""
    y = np.asarray(targets, dtype=np.float32)
    known = np.ones_like(y, dtype=bool) if known is None else np.asarray(known, dtype=bool)
    p = head.probabilities(np.asarray(features[np.asarray(rows, dtype=np.int64)]))
    return _score(y, p >= np.asarray(head.thresholds), known, AUDIT)


def _standardisation(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and scale of an even sample of the pool (independent of the labels)."""
    sample = np.unique(np.linspace(0, len(features) - 1, min(len(features), STATS_ROWS)).round())
    x = np.asarray(features[sample.astype(np.int64)], dtype=np.float32)
    return x.mean(axis=0), x.std(axis=0) + 1e-3  # a constant feature (a dead unit) stays 0


def _fit(x: np.ndarray, y: np.ndarray, known: np.ndarray, c: float):
    """Weights (D, C) and biases (C,): each class fitted on the rows where it is known. A class
    whose known entries are all alike gets no weights and the (smoothed) rate as its bias."""
    weight = np.zeros((x.shape[1], y.shape[1]))
    bias = np.zeros(y.shape[1])
    # One BLAS thread: these are small products, and on a busy machine (a labelling server
    # decoding video, other jobs) more threads measured 10-40x slower, never faster.
    with threadpool_limits(1):
        for k in range(y.shape[1]):
            seen = known[:, k]
            target = y[seen, k] > 0.5
            if target.all() or not target.any():
                rate = (target.sum() + 1) / (len(target) + 2)
                bias[k] = np.log(rate / (1 - rate))
                continue
            model = LogisticRegression(C=c, max_iter=MAX_ITER).fit(x[seen], target)
            weight[:, k], bias[k] = model.coef_[0], model.intercept_[0]
    return weight, bias


def _out_of_fold(x, y, known, c: float, folds: int, groups, seed: int) -> np.ndarray:
    """Each labelled row's probabilities from a fit on the other folds; the rows of one group
    (a shot: near-duplicate frames) stay in one fold, else the estimate flatters the head."""
    ids = np.arange(len(x)) if groups is None else np.unique(groups, return_inverse=True)[1]
    fold = np.random.default_rng(seed).permutation(ids.max() + 1)[ids] % folds
    p = np.zeros_like(y)
    for f in range(folds):
        held = fold == f
        weight, bias = _fit(x[~held], y[~held], known[~held], c)
        p[held] = _sigmoid(x[held] @ weight + bias)
    return p


def _score(y: np.ndarray, decided: np.ndarray, known: np.ndarray, source: str) -> Estimate:
    truth = y > 0.5
    tp = int((decided & truth & known).sum())
    fp = int((decided & ~truth & known).sum())
    fn = int((~decided & truth & known).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
    return Estimate(f1, precision, recall, int(known.sum()), source)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return (0.5 * (1.0 + np.tanh(0.5 * z))).astype(np.float32)


def fit_new_class(
    features: np.ndarray,
    positives,
    negatives,
    unlabelled,
    *,
    c: float = C,
    folds: int = FOLDS,
    seed: int = 0,
    enough: int = ENOUGH,
) -> tuple[Head, float | None]:
    """One new class from a few `positives`, any `negatives` a person gave, and `unlabelled`
    rows whose answer is unknown (frames labelled before the class existed): not negatives.

    With at least `enough` positives and `enough` negatives (examples and a person's answers) the
    class is fitted on those labels alone, its threshold tuned on out-of-fold predictions, as
    `fit_head` does. Chosen on validation frames (`benchmarks/enrol_choice.py`, each Kral
    Sakir character in turn; `benchmarks/new_character.py` reports test): from 20 positives and
    50 answers, mean F1 0.76 against 0.35-0.39 for the positive-unlabelled fit below.

    With positives only (or too few negatives), labelled-positive against the unlabelled rows
    is fitted and read as the class's probability by Elkan and Noto's rule (KDD 2008):
    p(y|x) = p(s|x) / k, where k, the share of the class's frames that carry a positive label,
    is the mean out-of-fold p(s|x) over the positives; the threshold decides p(y|x) >= 0.5,
    that is p(s|x) >= k / 2. Returns the head (one class, its weights on raw features) and k
    (None for the supervised fit)."""
    if len(positives) >= enough and len(negatives) >= enough:
        rows = np.concatenate([np.asarray(positives), np.asarray(negatives)]).astype(np.int64)
        targets = np.zeros((len(rows), 1), np.float32)
        targets[: len(positives)] = 1
        return fit_head(features, rows, targets, c=c, folds=folds, seed=seed), None
    started = time.perf_counter()
    positives, negatives, unlabelled = (
        np.asarray(r, dtype=np.int64) for r in (positives, negatives, unlabelled)
    )
    if len(positives) < 2:
        raise ValueError("a new class needs at least 2 positive examples")
    rows = np.concatenate([positives, negatives, unlabelled])
    s = np.zeros((len(rows), 1), np.float32)
    s[: len(positives)] = 1
    known = np.ones_like(s, dtype=bool)
    mean, scale = _standardisation(features)
    x = (np.asarray(features[rows], dtype=np.float32) - mean) / scale
    weight, bias = _fit(x, s, known, c)
    oof = _out_of_fold(x, s, known, c, min(folds, len(positives)), None, seed)
    share = float(np.clip(oof[: len(positives), 0].mean(), 1e-6, 1.0))  # no floor: k can be tiny
    head = Head(
        weight=(weight / scale[:, None]).astype(np.float32),
        bias=(bias - (mean / scale) @ weight).astype(np.float32),
        thresholds=(share / 2,),
        tuned=(False,),
        estimate=None,
        labelled=len(positives) + len(negatives),
        seconds=time.perf_counter() - started,
    )
    return head, share
