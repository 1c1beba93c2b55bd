"""Segment-level precision and recall of time ranges against a known timeline.

A predicted range is correct when it overlaps a true range with intersection over union at
least `iou` (each true range matched once, best overlaps first); time precision, recall and
IoU weigh by seconds instead.
"""

from __future__ import annotations

Ranges = list[tuple[float, float]]


def overlap(a: tuple[float, float], b: tuple[float, float]) -> float:
    return max(0.0, min(a[1], b[1]) - max(a[0], b[0]))


def iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    inter = overlap(a, b)
    return inter / ((a[1] - a[0]) + (b[1] - b[0]) - inter) if inter else 0.0


def segment_scores(predicted: Ranges, truth: Ranges, *, min_iou: float = 0.5) -> dict:
    pairs = sorted(
        ((iou(p, t), i, j) for i, p in enumerate(predicted) for j, t in enumerate(truth)),
        reverse=True,
    )
    used_p, used_t = set(), set()
    for score, i, j in pairs:
        if score < min_iou:
            break
        if i not in used_p and j not in used_t:
            used_p.add(i)
            used_t.add(j)
    matched = len(used_p)
    inter = sum(overlap(p, t) for p in predicted for t in truth)
    p_time = sum(b - a for a, b in predicted)
    t_time = sum(b - a for a, b in truth)
    precision = matched / len(predicted) if predicted else float(not truth)
    recall = matched / len(truth) if truth else 1.0
    return {
        "predicted": len(predicted),
        "true": len(truth),
        "matched": matched,
        "precision": precision,
        "recall": recall,
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "time_precision": inter / p_time if p_time else float(not t_time),
        "time_recall": inter / t_time if t_time else 1.0,
        "time_iou": inter / (p_time + t_time - inter) if p_time + t_time else 1.0,
    }
