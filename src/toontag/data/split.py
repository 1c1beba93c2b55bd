"""Hold out whole animation sequences, so that no shot straddles two parts of a split.

Frame ids are in capture order and a shot cut separates most runs of ids. A sequence is a run
of consecutive ids whose neighbours stay visually continuous: the mean absolute difference of
two 14x24 grayscale thumbnails (0-255 scale) stays at or below `CUT_THRESHOLD`. On Kral Sakir
the differences between consecutive frames are bimodal (continuous motion 0-10, cuts 30-50);
25 sits at the upper side of the valley, so borderline pairs are kept together.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

CUT_THRESHOLD = 25.0
THUMB_SIZE = (14, 24)
# Thumbnails are pooled from frames decoded at this size, whatever the training size, so
# that one dataset and seed give one split at every resolution.
SOURCE_SIZE = (112, 192)
CHUNK = 512


def thumbnails(images: np.ndarray) -> np.ndarray:
    """(N, 14, 24) float32 grayscale thumbnails of (N, H, W, 3) uint8 images."""
    out = []
    for start in range(0, len(images), CHUNK):
        batch = torch.from_numpy(np.ascontiguousarray(images[start : start + CHUNK]))
        gray = batch.float().mean(-1, keepdim=True).permute(0, 3, 1, 2)
        out.append(F.adaptive_avg_pool2d(gray, THUMB_SIZE)[:, 0].numpy())
    return np.concatenate(out) if out else np.zeros((0, *THUMB_SIZE), np.float32)


def frame_jumps(frame_ids: np.ndarray, thumbs: np.ndarray) -> np.ndarray:
    """Thumbnail difference of each neighbouring pair; +inf where ids are not consecutive."""
    diff = np.abs(thumbs[1:] - thumbs[:-1]).mean(axis=(1, 2))
    diff[np.diff(frame_ids) != 1] = np.inf
    return diff


def sequence_ids(
    frame_ids: np.ndarray, thumbs: np.ndarray, threshold: float = CUT_THRESHOLD
) -> np.ndarray:
    """Label each frame (sorted by id) with the index of its sequence."""
    order = np.argsort(frame_ids, kind="stable")
    if not np.array_equal(order, np.arange(len(order))):
        raise ValueError("frames must be sorted by frame id")
    cuts = frame_jumps(frame_ids, thumbs) > threshold
    return np.concatenate([[0], np.cumsum(cuts)]).astype(np.int64)


def hold_out_sequences(sequences: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of the frames held out: whole sequences, drawn at random (seeded) until
    at least `fraction` of the frames are held out."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"the held-out fraction must be between 0 and 1, got {fraction}")
    unique, counts = np.unique(sequences, return_counts=True)
    order = np.random.default_rng(seed).permutation(len(unique))
    taken = np.cumsum(counts[order]) <= fraction * len(sequences)
    taken[np.argmin(taken)] = True  # the sequence that crosses the target goes in too
    return np.isin(sequences, unique[order[taken]])
