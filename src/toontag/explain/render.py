"""Heatmaps drawn for people: one overlay PNG per image and character, and a sheet."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from pytorch_grad_cam.utils.image import show_cam_on_image

from toontag.data.images import load_resized, open_rgb
from toontag.errors import BadImageError
from toontag.explain.gradcam import Explainer, Heatmap
from toontag.io import write_bytes, write_figure


def overlay(image: np.ndarray, cam: np.ndarray) -> np.ndarray:
    """uint8 RGB `image` with `cam` (any size, [0, 1]) drawn over it at the image's size."""
    cam = cv2.resize(cam, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
    return show_cam_on_image(image.astype(np.float32) / 255, cam, use_rgb=True, image_weight=0.55)


def explain_files(
    explainer: Explainer,
    paths: list[Path],
    out: Path,
    *,
    thresholds,
    character: str | None = None,
) -> list[dict]:
    """Overlay PNGs ``<stem>-<character>.png`` in `out` for each image, and ``sheet.png``;
    one result per path (the files written, or the decode error)."""
    if character is not None:
        explainer.index(character)  # an unknown name fails before any work
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results, rows = [], []
    for path in paths:
        try:
            pixels, _ = load_resized(path, explainer.size)
            original = np.asarray(open_rgb(path)[0])
        except BadImageError as e:
            results.append({"path": str(path), "error": e.reason})
            continue
        maps = explainer.explain(pixels, character, thresholds)
        files = []
        for h in maps:
            target = out / f"{Path(path).stem}-{h.character}.png"
            write_png(target, overlay(original, h.cam))
            files.append(str(target))
        explained = {h.character: round(h.probability, 4) for h in maps}
        results.append({"path": str(path), "files": files, "explained": explained})
        rows.append((Path(path).name, original, maps))
    if rows:
        sheet(rows, out / "sheet.png")
    return results


def write_png(path: Path, rgb: np.ndarray) -> None:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    write_bytes(path, buf.getvalue())


def sheet(rows: list[tuple[str, np.ndarray, list[Heatmap]]], path: Path) -> None:
    """Each image, then its heatmaps side by side, one image a row."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 1 + max(len(maps) for _, _, maps in rows)
    fig, axes = plt.subplots(len(rows), cols, figsize=(3.2 * cols, 2.1 * len(rows)), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for r, (name, image, maps) in enumerate(rows):
        axes[r, 0].imshow(image)
        axes[r, 0].set_title(name, fontsize=8)
        for c, h in enumerate(maps, start=1):
            axes[r, c].imshow(overlay(image, h.cam))
            axes[r, c].set_title(f"{h.character} (p = {h.probability:.2f})", fontsize=8)
    fig.tight_layout()
    write_figure(path, fig, dpi=80)
    plt.close(fig)
