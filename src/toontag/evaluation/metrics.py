"""Multi-label metrics computed by scikit-learn, with percentile-bootstrap intervals.

`micro_scores`, the one micro-averaged precision, recall and F1 of the package (the bootstrap,
the labelling head and each class's figures use it), counts by hand what scikit-learn
computes, for speed, over the known entries: an entry marked unknown (a class nobody answered
for an image) is left out of every figure, as training leaves it out of its loss.

`accuracy` is label-wise (1 - hamming loss): what the paper's Keras "accuracy" measures on
sigmoid outputs. `subset_accuracy` is the stricter exact match of all labels of an image.

A class with no positive image on the data evaluated (or no negative) has no ROC-AUC, and with
no positive no average precision: its value is None ("n/a"), and the macro AUC and the mean
average precision average the classes that have one.
"""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm

from toontag.evaluation.bootstrap import BOOTSTRAP_RESAMPLES, bootstrap

# The paper reports intervals for F1, accuracy and AUC; precision and recall get them too.
CI_METRICS = ("f1_micro", "precision_micro", "recall_micro", "accuracy", "auc_micro")


def _auc(y: np.ndarray, p: np.ndarray, average: str | None) -> float | None:
    """ROC-AUC of one column, or the micro average of several; None where it is undefined:
    the targets hold only positives or only negatives (scikit-learn raises or gives nan)."""
    try:
        auc = float(skm.roc_auc_score(y, p, average=average))
    except ValueError:
        return None
    return None if np.isnan(auc) else auc


def all_known(y: np.ndarray, known=None) -> np.ndarray:
    """`known` as a bool matrix shaped like `y`: every entry known when it is None."""
    return np.ones(np.shape(y), dtype=bool) if known is None else np.asarray(known, dtype=bool)


def class_auc(y: np.ndarray, p: np.ndarray, known=None) -> list[float | None]:
    """ROC-AUC of each column over its known entries; None where it is undefined."""
    known = all_known(y, known)
    return [_auc(y[known[:, k], k], p[known[:, k], k], "macro") for k in range(y.shape[1])]


def class_ap(y: np.ndarray, p: np.ndarray, known=None) -> list[float | None]:
    """Average precision of each column over its known entries; None without a positive."""
    known = all_known(y, known)
    columns = ((y[known[:, k], k], p[known[:, k], k]) for k in range(y.shape[1]))
    return [float(skm.average_precision_score(t, q)) if t.any() else None for t, q in columns]


def defined_mean(values) -> float | None:
    """The mean of the values that are not None (the macro average of the defined classes)."""
    defined = [float(v) for v in values if v is not None]
    return float(np.mean(defined)) if defined else None


def point_metrics(y: np.ndarray, p: np.ndarray, pred: np.ndarray, known=None) -> dict:
    """The headline figures for targets `y`, probabilities `p` and 0/1 decisions `pred`, over
    the `known` entries (all without it): an unknown entry is neither right nor wrong, and an
    image counts as an exact match when all its known entries are right."""
    known = all_known(y, known)
    out = {
        "loss": float(skm.log_loss(y[known], p[known], labels=[0, 1])),
        "accuracy": float(1.0 - skm.hamming_loss(y[known], pred[known])),
        "subset_accuracy": float(np.mean(((pred == y) | ~known).all(axis=1))),
    }
    macro = class_scores(y, pred, known).mean(axis=0)
    for average, (prec, rec, f1) in (("micro", micro_scores(y, pred, known)), ("macro", macro)):
        out |= {f"precision_{average}": float(prec), f"recall_{average}": float(rec)}
        out[f"f1_{average}"] = float(f1)
    out["auc_micro"] = _auc(y[known], p[known], "micro")
    out["auc_macro"] = defined_mean(class_auc(y, p, known))
    out["map"] = defined_mean(class_ap(y, p, known))
    return out


def class_scores(y: np.ndarray, pred: np.ndarray, known: np.ndarray) -> np.ndarray:
    """(C, 3): each class's precision, recall and F1 over its known entries, 0 where undefined
    (scikit-learn's ``average=None, zero_division=0`` when every entry is known)."""
    scores = [micro_scores(y[:, k], pred[:, k], known[:, k]) for k in range(y.shape[1])]
    return np.array(scores, dtype=float).reshape(-1, 3)


def micro_scores(y: np.ndarray, decided: np.ndarray, known=None) -> tuple[float, float, float]:
    """Micro-averaged precision, recall and F1 of 0/1 `decided` against `y` (above 0.5 is
    positive) over the entries where `known` is true (all without it), 0 where undefined:
    scikit-learn's `precision_recall_fscore_support(average="micro", zero_division=0)` on the
    known entries (tested). Counted here because that call takes a millisecond, too slow for
    the thousands of resamples of a bootstrap or a refit on every few labels."""
    truth, decided = np.asarray(y) > 0.5, np.asarray(decided).astype(bool)
    if known is not None:
        known = np.asarray(known, dtype=bool)
        truth, decided = truth[known], decided[known]
    tp = int(np.count_nonzero(truth & decided))
    fp = int(np.count_nonzero(decided)) - tp
    fn = int(np.count_nonzero(truth)) - tp
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
    return precision, recall, f1


def _interval_figures(y, p, pred, known) -> list[float | None]:
    """`CI_METRICS` of one resample over its known entries, in their order."""
    precision, recall, f1 = micro_scores(y, pred, known)
    accuracy = float(np.mean((pred == y)[known])) if known.any() else None
    return [f1, precision, recall, accuracy, _auc(y[known], p[known], "micro")]


def _intervals(y, p, pred, known, resamples: int, seed: int, groups) -> dict:
    """`CI_METRICS`' 95% intervals, resampling frames or (`groups`) whole groups of them."""
    low, high = bootstrap(
        _interval_figures,
        y,
        p,
        pred,
        known,
        resamples=resamples,
        seed=seed,
        groups=groups,
        description="bootstrap" if groups is None else "bootstrap by sequence",
    )
    return {
        name: [float(lo), float(hi)] for name, lo, hi in zip(CI_METRICS, low, high, strict=True)
    }


def multilabel_metrics(
    y: np.ndarray,
    p: np.ndarray,
    classes: list[str] | tuple[str, ...],
    thresholds: list[float] | tuple[float, ...] | float = 0.5,
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
    groups=None,
    known=None,
) -> dict:
    """Every figure of the paper's evaluation, per class too, with bootstrap intervals: `ci95`
    resamples single frames; with `groups` (each frame's sequence, `data.groups.frame_groups`)
    `ci95_by_sequence` resamples whole sequences too, the honest one where frames of a shot
    are near-duplicates. `known` (N, C; all by default) leaves the other entries out of every
    figure, as training leaves them out of its loss: a class nobody answered for an image is
    scored neither right nor wrong."""
    y = np.asarray(y).astype(int)
    p = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
    known = all_known(y, known)
    thresholds = np.broadcast_to(np.asarray(thresholds, dtype=float), (y.shape[1],))
    pred = (p >= thresholds).astype(int)
    out = {"images": int(len(y)), **point_metrics(y, p, pred, known)}
    auc, ap, scores = class_auc(y, p, known), class_ap(y, p, known), class_scores(y, pred, known)
    out["per_class"] = {
        name: {
            **dict(zip(("precision", "recall", "f1"), map(float, scores[i]), strict=True)),
            "auc": auc[i],
            "ap": ap[i],
            "support": int(np.count_nonzero(y[:, i] & known[:, i])),
            "threshold": float(thresholds[i]),
        }
        for i, name in enumerate(classes)
    }
    right = pred == y
    out["counts"] = {
        "tp": int(np.count_nonzero(right & (y == 1) & known)),
        "fp": int(np.count_nonzero(~right & (pred == 1) & known)),
        "fn": int(np.count_nonzero(~right & (y == 1) & known)),
        "tn": int(np.count_nonzero(right & (y == 0) & known)),
    }
    out["ci95"] = _intervals(y, p, pred, known, resamples, seed, None)
    if groups is not None:
        out["ci95_by_sequence"] = _intervals(y, p, pred, known, resamples, seed, groups) | {
            "unit": "sequence",
            "sequences": int(len(np.unique(groups))),
        }
    out["bootstrap"] = {"resamples": resamples, "seed": seed, "method": "percentile", "level": 0.95}
    return out


def fmt(value: float | None, digits: int = 4) -> str:
    """A figure for a table: `digits` decimals, or "n/a" where it is undefined (None)."""
    return "n/a" if value is None else f"{value:.{digits}f}"


def by_sequence_text(ci) -> str:
    """A sequence-level interval as the tables write it."""
    return f"by sequence [{ci[0]:.4f}, {ci[1]:.4f}]"


def metrics_markdown(m: dict, title: str) -> str:
    """A human table of `multilabel_metrics` output."""

    def with_ci(name: str) -> str:
        ci, by_sequence = m["ci95"].get(name), m.get("ci95_by_sequence", {}).get(name)
        text = f"{fmt(m[name])} [{ci[0]:.4f}, {ci[1]:.4f}]" if ci else fmt(m[name])
        return text + (f", {by_sequence_text(by_sequence)}" if by_sequence else "")

    rows = [
        ("BCE loss", fmt(m["loss"])),
        ("accuracy (label-wise)", with_ci("accuracy")),
        ("subset accuracy (exact match)", fmt(m["subset_accuracy"])),
        ("precision micro / macro", f"{with_ci('precision_micro')} / {fmt(m['precision_macro'])}"),
        ("recall micro / macro", f"{with_ci('recall_micro')} / {fmt(m['recall_macro'])}"),
        ("F1 micro", with_ci("f1_micro")),
        ("F1 macro", fmt(m["f1_macro"])),
        ("ROC-AUC micro", with_ci("auc_micro")),
        ("ROC-AUC macro", fmt(m["auc_macro"])),
        ("mean average precision", fmt(m["map"])),
    ]
    intervals = f"95% percentile-bootstrap intervals from {m['bootstrap']['resamples']} resamples"
    if "ci95_by_sequence" in m:
        intervals += (
            " in brackets, resampling single images, and by sequence: resampling whole sequences "
            f"of near-identical frames ({m['ci95_by_sequence']['sequences']} sequences), the "
            "one to judge a difference by."
        )
    else:
        intervals += " in brackets (resampling single images: interval by frame only)."
    lines = [f"# {title}", "", f"{m['images']} images; {intervals}", ""]
    if m.get("unknown_entries"):
        lines[-1:] = [
            "",
            f"{m['unknown_entries']} entries (an image's class) marked unknown are left out of "
            "every figure: neither right nor wrong.",
            "",
        ]
    lines += ["| metric | value |", "|---|---|", *(f"| {name} | {value} |" for name, value in rows)]
    lines += [
        "",
        "| class | precision | recall | F1 | AUC | AP | support | threshold |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, c in m["per_class"].items():
        lines.append(
            f"| {name} | {fmt(c['precision'])} | {fmt(c['recall'])} | {fmt(c['f1'])} | "
            f"{fmt(c['auc'])} | {fmt(c['ap'])} | {c['support']} | {c['threshold']:.2f} |"
        )
    undefined = [name for name, c in m["per_class"].items() if c["auc"] is None]
    if undefined:
        lines += [
            "",
            f"AUC n/a: undefined for {', '.join(undefined)}, present in none (or all) of "
            "these images; the macro AUC and the mean average precision average the others.",
        ]
    paper = m.get("at_0.5")
    if paper:
        ci = paper["ci95"]["f1_micro"]
        by_sequence = paper.get("ci95_by_sequence", {}).get("f1_micro")
        seq = f", {by_sequence_text(by_sequence)}" if by_sequence else ""
        lines += [
            "",
            f"Thresholds tuned on validation. At the paper's 0.5 for every class: micro-F1 "
            f"{paper['f1_micro']:.4f} [{ci[0]:.4f}, {ci[1]:.4f}]{seq}, subset accuracy "
            f"{paper['subset_accuracy']:.4f}.",
        ]
    counts = m["counts"]
    lines += [
        "",
        f"Label decisions: TP {counts['tp']}, FP {counts['fp']}, FN {counts['fn']}, "
        f"TN {counts['tn']}.",
        "",
    ]
    return "\n".join(lines)


def f1_intervals(m: dict) -> dict:
    """Micro-F1 of a `multilabel_metrics` result with its intervals by image and by sequence:
    what the audits report of each score."""
    return {
        "images": m["images"],
        "f1_micro": m["f1_micro"],
        "ci95": m["ci95"]["f1_micro"],
        "ci95_by_sequence": m["ci95_by_sequence"]["f1_micro"],
        "sequences": m["ci95_by_sequence"]["sequences"],
    }
