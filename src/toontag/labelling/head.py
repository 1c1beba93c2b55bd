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

`LinearHead` and `NewClassHead` (enrolment's new class) are scikit-learn estimators, with no
file I/O; `fit_head`, `fit_new_class` and `audit_score` are the calls the labelling session,
enrolment and the benchmarks make, returning a frozen `Head`. The folds are scikit-learn's
`GroupKFold` with the groups shuffled by the seed: whole shots dealt to folds at random, as many
shots to each. Kept by hand, measured on 1,116 labelled Kral Sakir frames: `cross_val_predict`
label-encodes each column of a 2-D target for `predict_proba` (a class whose targets are all 1
turns all 0), so a loop of five lines makes the out-of-fold predictions. Per class,
`TunedThresholdClassifierCV` on the same folds and grid chose the same thresholds but took 8-14
times as long, and gives neither the out-of-fold predictions the estimate needs nor ties broken
towards 0.5.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from toontag.evaluation.bootstrap import bootstrap
from toontag.evaluation.metrics import micro_scores
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
    frames: int = 0  # rows scored
    ci95: tuple[float, float] | None = None  # micro-F1's interval, whole groups resampled
    groups: int = 0  # the groups (shots) that interval resampled


@dataclass(frozen=True, eq=False)  # compared by identity: its fields are arrays
class Head:
    """A fitted head as the labelling session, enrolment and the benchmarks hold it: frozen, so
    one refit can replace it while another thread still scores with the old one."""

    weight: np.ndarray  # (D, C) float32, on raw features (the standardisation folded in)
    bias: np.ndarray  # (C,) float32
    thresholds: tuple[float, ...]  # per class: tuned out of fold, else 0.5
    tuned: tuple[bool, ...]  # per class: enough positives and negatives to tune its threshold
    estimate: Estimate | None  # out-of-fold quality; None until some class is tuned (see fit)
    labelled: int  # rows it was fitted on
    seconds: float  # wall time of the fit, out-of-fold fits included

    def logits(self, features: np.ndarray) -> np.ndarray:
        """(N, C) float32 logits of `features` (any float dtype, a memmap included)."""
        return _logits(features, self.weight, self.bias)

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """(N, C) float32 probabilities of every row of `features`."""
        return _sigmoid(self.logits(features))


class LinearHead(BaseEstimator):
    """The multi-label head as a scikit-learn estimator: `c` the inverse L2 strength, `folds`
    the out-of-fold fits for the thresholds and the estimate, `seed` their fold assignment.

    Fitted: `coef_` (D, C) and `intercept_` (C,) on raw features, `thresholds_`, `tuned_` and
    `estimate_` (an `Estimate`, None until some class is tuned and the rows span two groups)."""

    def __init__(self, *, c: float = C, folds: int = FOLDS, seed: int = 0):
        self.c = c
        self.folds = folds
        self.seed = seed

    def fit(self, X, Y, *, known=None, groups=None, pool=None) -> LinearHead:
        """Fit on features `X` and (len(X), C) 0/1 targets `Y`; `known` (same shape, true where
        the entry is known) masks the unknown entries out of the loss. `groups` (one id per row:
        its source and shot) keeps near-duplicate frames in one fold (`group_splits`); with one
        group there is nothing to hold out: every threshold stays 0.5 and there is no estimate.
        `pool` (default `X`): the features an even sample of which standardises them, a
        labelling project's whole pool."""
        y = np.asarray(Y, dtype=np.float32)
        known = np.ones_like(y, dtype=bool) if known is None else np.asarray(known, dtype=bool)
        if y.ndim != 2 or y.shape != known.shape or len(X) != len(y):
            raise ValueError(
                f"targets {y.shape} and known {known.shape} must both be (len(rows)={len(X)}, C)"
            )
        if groups is not None and len(groups) != len(X):
            raise ValueError(f"groups has {len(groups)} entries, rows {len(X)}")
        x, mean, scale = _standardised(X, X if pool is None else pool)
        weight, bias = _fit(x, y, known, self.c)
        self.coef_, self.intercept_ = _on_raw_features(weight, bias, mean, scale)
        positives = (known & (y > 0.5)).sum(axis=0)
        negatives = (known & (y < 0.5)).sum(axis=0)
        self.tuned_ = (positives >= ENOUGH) & (negatives >= ENOUGH)
        self.thresholds_ = np.full(y.shape[1], 0.5)
        self.estimate_ = None
        several = groups is None or len(np.unique(groups)) > 1
        if self.tuned_.any() and len(x) >= self.folds and several:
            splits = group_splits(len(x), groups, folds=self.folds, seed=self.seed)
            p = _out_of_fold(x, y, known, self.c, splits)
            for k in np.flatnonzero(self.tuned_):
                seen = known[:, k]
                self.thresholds_[k] = f1_optimal_threshold(y[seen, k], p[seen, k])
            self.estimate_ = _estimate(y, p >= self.thresholds_, known, OUT_OF_FOLD)
        return self

    def decision_function(self, X) -> np.ndarray:
        """(N, C) float32 logits of `X` (any float dtype, a memmap included)."""
        check_is_fitted(self)
        return _logits(X, self.coef_, self.intercept_)

    def predict_proba(self, X) -> np.ndarray:
        """(N, C) float32 probability of each class: a multi-label head, one column a class."""
        return _sigmoid(self.decision_function(X))

    def predict(self, X) -> np.ndarray:
        """(N, C) booleans: each class decided at its threshold."""
        return self.predict_proba(X) >= self.thresholds_


class NewClassHead(LinearHead):
    """One new class from a few positives (`y` 1), any negatives a person gave (0), and
    unlabelled rows (-1: frames labelled before the class existed, so unknown, not negatives).

    With at least `enough` positives and `enough` negatives the class is fitted on those labels
    alone, its threshold tuned out of fold, as `LinearHead` does. Chosen on validation frames
    (`benchmarks/enrol_choice.py`, each Kral Sakir character in turn;
    `benchmarks/new_character.py` reports test): from 20 positives and 50 answers, mean F1 0.76
    against 0.35-0.39 for the positive-unlabelled fit below.

    With fewer, labelled-positive against the rest (negatives and unlabelled) is fitted and read
    as the class's probability by Elkan and Noto's rule (KDD 2008): p(y|x) = p(s|x) / k, where
    k, the share of the class's frames that carry a positive label, is the mean out-of-fold
    p(s|x) over the positives; the threshold decides p(y|x) >= 0.5, that is p(s|x) >= k / 2.
    Fitted besides `LinearHead`'s attributes: `share_`, that k (None for the supervised fit)."""

    def __init__(self, *, c: float = C, folds: int = FOLDS, seed: int = 0, enough: int = ENOUGH):
        super().__init__(c=c, folds=folds, seed=seed)
        self.enough = enough

    def fit(self, X, y, *, pool=None) -> NewClassHead:
        """Fit on features `X` and `y` (1, 0 or -1 per row, as above); `pool` as `LinearHead`."""
        y = np.asarray(y)
        positive, labelled = y == 1, y >= 0
        pool = X if pool is None else pool
        if positive.sum() >= self.enough and (y == 0).sum() >= self.enough:
            super().fit(X[labelled], positive[labelled, None].astype(np.float32), pool=pool)
            self.share_ = None
            return self
        if positive.sum() < 2:
            raise ValueError("a new class needs at least 2 positive examples")
        s = positive[:, None].astype(np.float32)
        known = np.ones_like(s, dtype=bool)
        x, mean, scale = _standardised(X, pool)
        weight, bias = _fit(x, s, known, self.c)
        splits = group_splits(len(x), folds=min(self.folds, int(positive.sum())), seed=self.seed)
        oof = _out_of_fold(x, s, known, self.c, splits)
        self.share_ = float(np.clip(oof[positive, 0].mean(), 1e-6, 1.0))  # no floor: k can be tiny
        self.coef_, self.intercept_ = _on_raw_features(weight, bias, mean, scale)
        self.thresholds_ = np.array([self.share_ / 2])
        self.tuned_, self.estimate_ = np.array([False]), None
        return self


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
    """A `LinearHead` fitted on `features[rows]` (`targets`, `known` and `groups` as its `fit`),
    standardised with the pool `features`, as a frozen `Head`."""
    started = time.perf_counter()
    rows = np.asarray(rows, dtype=np.int64)
    model = LinearHead(c=c, folds=folds, seed=seed)
    model.fit(features[rows], targets, known=known, groups=groups, pool=features)
    return _frozen(model, len(rows), started)


def group_splits(n: int, groups=None, *, folds: int = FOLDS, seed: int = 0) -> list:
    """The (train, held) rows of each of the head's out-of-fold fits on `n` rows: whole groups
    (one id per row, a shot: near-duplicate frames; without them each row is its own) held out
    together, else the estimate flatters the head, dealt to `folds` folds (one a group where
    there are fewer, at least 2) in an order `seed` shuffles: `GroupKFold`."""
    ids = np.arange(n) if groups is None else np.unique(groups, return_inverse=True)[1]
    splitter = GroupKFold(min(folds, int(ids.max()) + 1), shuffle=True, random_state=seed)
    return list(splitter.split(np.empty((n, 0)), groups=ids))


def audit_score(
    head: Head,
    features: np.ndarray,
    rows,
    targets: np.ndarray,
    known: np.ndarray | None = None,
    *,
    groups=None,
    seed: int = 0,
) -> Estimate:
    """Micro-F1 of `head` on audit rows: frames drawn uniformly from the pool and labelled for
    checking, never used to fit. The unbiased counterpart of `Head.estimate`, with its 95%
    interval resampling whole `groups` (one per row: its shot, whose frames are alike; without
    them each row is its own)."""
    y = np.asarray(targets, dtype=np.float32)
    known = np.ones_like(y, dtype=bool) if known is None else np.asarray(known, dtype=bool)
    p = head.probabilities(np.asarray(features[np.asarray(rows, dtype=np.int64)]))
    decided = p >= np.asarray(head.thresholds)
    groups = np.arange(len(y)) if groups is None else np.asarray(groups)
    low, high = bootstrap(
        lambda *a: micro_scores(*a)[2], y, decided, known, groups=groups, seed=seed
    )
    shots = len(np.unique(groups))
    estimate = _estimate(y, decided, known, AUDIT)
    return replace(estimate, frames=len(y), ci95=(float(low), float(high)), groups=shots)


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
    """A `NewClassHead` fitted on the rows `positives`, `negatives` and `unlabelled` of
    `features` (see there): the frozen head (one class, its weights on raw features) and k, the
    labelled share of the positive-unlabelled fit (None for the supervised one)."""
    started = time.perf_counter()
    parts = [np.asarray(r, dtype=np.int64) for r in (positives, negatives, unlabelled)]
    y = np.repeat([1, 0, -1], [len(r) for r in parts])
    model = NewClassHead(c=c, folds=folds, seed=seed, enough=enough)
    model.fit(features[np.concatenate(parts)], y, pool=features)
    return _frozen(model, len(parts[0]) + len(parts[1]), started), model.share_


def _frozen(model: LinearHead, labelled: int, started: float) -> Head:
    return Head(
        weight=model.coef_,
        bias=model.intercept_,
        thresholds=tuple(float(t) for t in model.thresholds_),
        tuned=tuple(bool(t) for t in model.tuned_),
        estimate=model.estimate_,
        labelled=labelled,
        seconds=time.perf_counter() - started,
    )


def _standardised(X, pool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`X` standardised by the per-feature mean and scale of an even sample of `pool`
    (independent of the labels), and that mean and scale."""
    sample = np.unique(np.linspace(0, len(pool) - 1, min(len(pool), STATS_ROWS)).round())
    s = np.asarray(pool[sample.astype(np.int64)], dtype=np.float32)
    mean, scale = s.mean(axis=0), s.std(axis=0) + 1e-3  # a constant feature (a dead unit) stays 0
    return (np.asarray(X, dtype=np.float32) - mean) / scale, mean, scale


def _on_raw_features(weight, bias, mean, scale) -> tuple[np.ndarray, np.ndarray]:
    """Weights and biases on standardised features, folded onto raw ones (float32)."""
    raw = (weight / scale[:, None]).astype(np.float32)
    return raw, (bias - (mean / scale) @ weight).astype(np.float32)


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


def _out_of_fold(x, y, known, c: float, splits) -> np.ndarray:
    """Each row's probabilities from a fit on the other folds (`splits`: train and held rows)."""
    p = np.zeros_like(y)
    for train, held in splits:
        weight, bias = _fit(x[train], y[train], known[train], c)
        p[held] = _sigmoid(x[held] @ weight + bias)
    return p


def _estimate(y: np.ndarray, decided: np.ndarray, known: np.ndarray, source: str) -> Estimate:
    precision, recall, f1 = micro_scores(y, decided, known)
    return Estimate(f1, precision, recall, int(known.sum()), source)


def _logits(features, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """In chunks, so that a 100,000-frame pool is never whole in memory as float32."""
    out = np.empty((len(features), len(bias)), np.float32)
    for start in range(0, len(features), CHUNK_ROWS):
        chunk = np.asarray(features[start : start + CHUNK_ROWS], dtype=np.float32)
        out[start : start + len(chunk)] = chunk @ weight + bias
    return out


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return (0.5 * (1.0 + np.tanh(0.5 * z))).astype(np.float32)
