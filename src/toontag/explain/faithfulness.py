"""Is a heatmap an explanation? Blur the pixels it points at and watch the probability fall.

For every (image, character) the model gets right, the 20% most-heated pixels are blurred and
the drop of that character's probability is compared with blurring 20% chosen at random:
random pixels scattered over the frame, and random blobs (smooth noise at the feature map's
resolution, upsampled as Grad-CAM's map is, so the random region has the heatmap's shape
statistics). A faithful map makes the first drop the larger.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from toontag.explain.gradcam import Explainer
from toontag.progress import progress_bar

FRACTION = 0.2  # share of the pixels blurred
BLUR_SIGMA = 0.06  # Gaussian blur sigma as a share of the image height
MASKS = ("gradcam", "random_blobs", "random_pixels")


def top_mask(scores: np.ndarray, fraction: float) -> np.ndarray:
    """The `fraction` of pixels with the highest score, as a boolean map."""
    flat = scores.ravel()
    keep = np.argsort(flat, kind="stable")[-int(round(fraction * flat.size)) :]
    mask = np.zeros(flat.size, bool)
    mask[keep] = True
    return mask.reshape(scores.shape)


def blob_scores(shape: tuple[int, int], grid: tuple[int, int], rng) -> np.ndarray:
    noise = torch.from_numpy(rng.random(grid, dtype=np.float32))[None, None]
    return F.interpolate(noise, size=shape, mode="bilinear", align_corners=False)[0, 0].numpy()


def blurred(image: np.ndarray, mask: np.ndarray, sigma: float) -> np.ndarray:
    soft = cv2.GaussianBlur(image, (0, 0), sigmaX=sigma)
    return np.where(mask[..., None], soft, image)


def faithfulness(
    explainer: Explainer,
    images: np.ndarray,
    targets: np.ndarray,
    thresholds,
    *,
    fraction: float = FRACTION,
    seed: int = 0,
    batch_size: int = 32,
) -> dict:
    """Per character: how much blurring each kind of mask lowers the probability, over the
    true positives among uint8 `images` with multi-hot `targets` (model class order)."""
    rng = np.random.default_rng(seed)
    probs = np.concatenate(
        [
            explainer.probabilities(images[i : i + batch_size])
            for i in range(0, len(images), batch_size)
        ]
    )
    hits = (probs >= np.asarray(thresholds)) & (targets == 1)
    pairs = np.argwhere(hits)  # (image, class) the model gets right
    h, w = explainer.size
    grid = (max(1, -(-h // 32)), max(1, -(-w // 32)))  # the feature map of a stride-32 net
    sigma = BLUR_SIGMA * h
    drops = {name: np.zeros(len(pairs)) for name in MASKS}
    with progress_bar() as bar:
        for start in bar.track(range(0, len(pairs), batch_size), description="faithfulness"):
            chunk = pairs[start : start + batch_size]
            names = [explainer.classes[k] for k in chunk[:, 1]]
            cams = explainer.heatmaps(images[chunk[:, 0]], names)
            masked = {name: [] for name in MASKS}
            for (i, _k), cam in zip(chunk, cams, strict=True):
                masked["gradcam"].append(blurred(images[i], top_mask(cam, fraction), sigma))
                blobs = top_mask(blob_scores((h, w), grid, rng), fraction)
                masked["random_blobs"].append(blurred(images[i], blobs, sigma))
                pixels = top_mask(rng.random((h, w)), fraction)
                masked["random_pixels"].append(blurred(images[i], pixels, sigma))
            before = probs[chunk[:, 0], chunk[:, 1]]
            for name, batch in masked.items():
                after = explainer.probabilities(np.stack(batch))[np.arange(len(chunk)), chunk[:, 1]]
                drops[name][start : start + len(chunk)] = before - after
    per_class = {}
    for k, name in enumerate(explainer.classes):
        sel = pairs[:, 1] == k
        if not sel.any():
            continue
        d = {m: drops[m][sel] for m in MASKS}
        per_class[name] = {
            "pairs": int(sel.sum()),
            **{f"mean_drop_{m}": float(d[m].mean()) for m in MASKS},
            "gradcam_beats_random_blobs": float((d["gradcam"] > d["random_blobs"]).mean()),
            "gradcam_beats_random_pixels": float((d["gradcam"] > d["random_pixels"]).mean()),
            "faithful": bool(
                d["gradcam"].mean() > max(d["random_blobs"].mean(), d["random_pixels"].mean())
            ),
        }
    return {
        "images": int(len(images)),
        "pairs": int(len(pairs)),
        "fraction": fraction,
        "blur_sigma_px": round(sigma, 2),
        "seed": seed,
        "per_class": per_class,
    }
