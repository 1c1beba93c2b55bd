"""Which frames to label next: the active-learning queue over a pool's cached features.

Three policies, each a function of the features, the head's probabilities and what is labelled:

- ``coverage`` (the cold start): cluster the pool's embeddings (PCA, then mini-batch k-means
  with as many clusters as the batch plus the frames already labelled) and take, from each of
  the clusters with the most frames per label, the unlabelled frame nearest its centre.
- ``active``: the frames whose probabilities lie nearest some class's threshold (in logits),
  at most one per group (a shot, say); the few hundred most uncertain are clustered into as
  many clusters as the batch and each cluster gives its most uncertain frame, so that a batch
  is never twenty frames of one shot or one pose. A class whose probability is the same for
  every frame (its labels so far all alike) says nothing and is left out; with no class left,
  or no probabilities (no head yet), it is ``coverage``. Pass the head's probabilities from
  its first fit on.
- ``random``: uniform over the unlabelled frames, the baseline the others are measured against.

All are deterministic for a seed. Measured by simulating the loop (results/labelling-speed.md,
3 seeds): on the Kral Sakir train pool, where every character is common, the policies end
within seed noise (test micro-F1 after 400 labels: active 0.827, coverage 0.826, random
0.821); with one character made rare (3.6% of the frames), active finds twice as many of its
frames (29 in 400 labels; random 15, coverage 9) and ends at 0.808 against 0.776 and 0.768.
By-hand runs of the same simulation chose the rest: switching to active after the first fit
rather than once every class has 5 positives and 5 negatives (rare frames found: 28-30
against 19-24), and spreading the candidates by clusters rather than farthest-first, which
seeks outliers (seeds 0 and 1 after 400 labels: 0.85 against 0.80-0.82; with the benchmark's
k-means seeds 0.83, so within noise).
"""

from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.decomposition import PCA
from threadpoolctl import threadpool_limits

POLICIES = ("active", "coverage", "random")
EMBED_DIMS = 32  # PCA dimensions the clusters are found in
PCA_ROWS = 8192  # pool rows the PCA is fitted on
MAX_CLUSTERS = 200  # clusters at most, however many frames are labelled
CANDIDATES = 300  # most uncertain frames (one per group) the active batch is spread over
CHUNK_ROWS = 16384  # pool rows projected at a time


def next_batch(
    features: np.ndarray,
    probabilities: np.ndarray | None,
    thresholds,
    labelled,
    *,
    size: int = 20,
    policy: str = "active",
    groups: np.ndarray | None = None,
    seed: int = 0,
    embedding: np.ndarray | None = None,
) -> np.ndarray:
    """Row indices of the next `size` unlabelled frames to label, most useful first.

    `labelled`: row indices (or a boolean mask) of the frames already labelled; `groups`: an int
    per row (its source and shot), frames of one group being too alike to ask about twice;
    `embedding`: the pool's `embed(features)` when the caller keeps it (a server asked batch
    after batch), else coverage projects the pool again.
    """
    if policy not in POLICIES:
        raise ValueError(f"unknown queue policy {policy!r}; choose one of {', '.join(POLICIES)}")
    n = len(features)
    done = _mask(labelled, n)
    open_rows = np.flatnonzero(~done)
    if size >= len(open_rows):
        return open_rows
    if groups is not None and len(groups) != n:
        raise ValueError(f"groups has {len(groups)} rows, the pool {n}")
    if policy == "random":
        return np.random.default_rng(seed).choice(open_rows, size, replace=False)
    active = policy == "active" and probabilities is not None
    if active and np.shape(probabilities) != (n, len(thresholds)):
        raise ValueError(
            f"probabilities {np.shape(probabilities)} do not fit {n} rows and "
            f"{len(thresholds)} thresholds"
        )
    if active:
        informative = np.ptp(probabilities, axis=0) > 0
        probabilities = np.asarray(probabilities)[:, informative]
        thresholds = np.asarray(thresholds)[informative]
        active = bool(informative.any())
    # One thread: these are small problems, and on a busy machine (a labelling server decoding
    # video, other jobs) more threads measured up to 20x slower (k-means of 300 candidates:
    # 0.04 s on one thread, 0.9 s on two), never faster.
    with threadpool_limits(1):
        if active:
            return _active(features, probabilities, thresholds, done, size, groups, seed)
        emb = embed(features, seed=seed) if embedding is None else embedding
        return _coverage(emb, done, size, groups, seed)


def uncertainty(probabilities: np.ndarray, thresholds) -> np.ndarray:
    """Per row, the smallest distance in logits between a class's probability and its
    threshold: 0 is a frame the head cannot decide about."""
    p = np.clip(np.asarray(probabilities, dtype=np.float64), 1e-6, 1 - 1e-6)
    t = np.clip(np.asarray(thresholds, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.abs(_logit(p) - _logit(t)).min(axis=1)


def embed(features: np.ndarray, *, dims: int = EMBED_DIMS, seed: int = 0) -> np.ndarray:
    """(N, dims) float32 PCA projection of the pool, fitted on an even sample of its rows."""
    sample = np.unique(np.linspace(0, len(features) - 1, min(len(features), PCA_ROWS)).round())
    x = np.asarray(features[sample.astype(np.int64)], dtype=np.float32)
    dims = min(dims, *x.shape)
    pca = PCA(dims, svd_solver="randomized", random_state=seed).fit(x)
    out = np.empty((len(features), dims), np.float32)
    for start in range(0, len(features), CHUNK_ROWS):
        chunk = np.asarray(features[start : start + CHUNK_ROWS], dtype=np.float32)
        out[start : start + len(chunk)] = pca.transform(chunk)
    return out


def _coverage(emb: np.ndarray, done: np.ndarray, size: int, groups, seed: int) -> np.ndarray:
    # As many clusters as labels plus the batch: at least `size` of them hold no label.
    k = int(min(size + done.sum(), MAX_CLUSTERS, len(emb)))
    km = MiniBatchKMeans(k, batch_size=2048, n_init=1, random_state=seed).fit(emb)
    cluster = km.labels_
    # Clusters with the most frames per label first: big regions nobody has labelled yet.
    frames = np.bincount(cluster, minlength=k)
    labels = np.bincount(cluster[done], minlength=k)
    order = np.lexsort((np.arange(k), -frames / (1 + labels)))
    distance = np.linalg.norm(emb - km.cluster_centers_[cluster], axis=1)
    chosen: list[int] = []
    used: set[int | None] = set()
    for c in order:
        members = np.flatnonzero((cluster == c) & ~done)
        for row in members[np.argsort(distance[members], kind="stable")]:
            group = None if groups is None else int(groups[row])
            if group is None or group not in used:
                chosen.append(int(row))
                used.add(group)
                break
        if len(chosen) == size:
            return np.array(chosen, dtype=np.int64)
    # Fewer usable clusters than the batch (or every group taken): the nearest-to-centre rest.
    rest = np.flatnonzero(~done)
    rest = rest[~np.isin(rest, chosen)]
    rest = rest[np.argsort(distance[rest], kind="stable")]
    return np.array([*chosen, *rest[: size - len(chosen)]], dtype=np.int64)


def _active(features, probabilities, thresholds, done, size: int, groups, seed: int):
    margin = uncertainty(probabilities, thresholds)
    open_rows = np.flatnonzero(~done)
    ranked = open_rows[np.argsort(margin[open_rows], kind="stable")]
    if groups is not None:  # the most uncertain frame of each group stands for it
        _, first = np.unique(np.asarray(groups)[ranked], return_index=True)
        ranked = ranked[np.sort(first)]
    candidates = ranked[: max(CANDIDATES, 5 * size)]
    if len(candidates) <= size:
        return candidates
    x = np.asarray(features[candidates], dtype=np.float32)
    cluster = KMeans(size, n_init=1, random_state=seed).fit(x).labels_
    _, first = np.unique(cluster, return_index=True)  # each cluster's most uncertain frame
    if len(first) < size:  # a cluster left empty: the most uncertain of the others
        rest = np.setdiff1d(np.arange(len(candidates)), first)
        first = np.r_[first, rest[: size - len(first)]]
    return candidates[np.sort(first)]


def _mask(labelled, n: int) -> np.ndarray:
    labelled = np.asarray(labelled)
    if labelled.dtype == bool:
        if labelled.shape != (n,):
            raise ValueError(f"a labelled mask has {labelled.shape} entries, the pool {n} rows")
        return labelled
    mask = np.zeros(n, dtype=bool)
    mask[labelled.astype(np.int64)] = True
    return mask


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)
