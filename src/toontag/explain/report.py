"""`toontag report`: one self-contained HTML page showing a run's behaviour at a glance.

Config and data, training curves, per-class figures with intervals, ROC and precision-recall
curves, which character is mistaken for which, the most confident errors with their
Grad-CAM (the paper's Fig. 7) and a Grad-CAM per character (Fig. 8). Images are embedded,
so the page is one file; every character keeps one colour throughout.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from sklearn import metrics as skm  # noqa: E402

from toontag.data.images import open_rgb  # noqa: E402
from toontag.data.predictions import read_predictions  # noqa: E402
from toontag.errors import DataError  # noqa: E402
from toontag.evaluation.bootstrap import BOOTSTRAP_RESAMPLES, bootstrap  # noqa: E402
from toontag.evaluation.metrics import by_sequence_text, class_ap, class_auc, fmt  # noqa: E402
from toontag.explain.gradcam import Explainer  # noqa: E402
from toontag.explain.render import overlay  # noqa: E402
from toontag.io import write_text  # noqa: E402
from toontag.palette import colours  # noqa: E402
from toontag.runs import CONFIG, REPORT, evaluation_files  # noqa: E402
from toontag.training.module import LR  # noqa: E402

GALLERY = 6  # errors of each kind in the gallery
SCENE_GAP = 30  # frame ids: errors this close that look alike are one scene in the gallery


def figure_tag(fig, alt: str) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return _img(buf.getvalue(), "image/png", alt)


def image_tag(rgb: np.ndarray, alt: str) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=85)
    return _img(buf.getvalue(), "image/jpeg", alt)


def _img(data: bytes, mime: str, alt: str) -> str:
    src = base64.b64encode(data).decode()
    return f'<img alt="{html.escape(alt)}" src="data:{mime};base64,{src}">'


def curves(run: Path, colour: str) -> str:
    """Loss, F1 and learning rate per epoch, the best epoch marked."""
    with (run / "metrics.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    epochs: dict[int, dict] = {}
    for r in rows:
        e = epochs.setdefault(int(r["epoch"]) + 1, {})
        e.update({k: float(v) for k, v in r.items() if v and k not in ("epoch", "step")})
    xs = sorted(epochs)
    lr_key = LR if any(LR in e for e in epochs.values()) else None  # older runs lack it
    panels = [("loss", ["train_loss", "val_loss"]), ("val micro-F1", ["val_f1_micro"])]
    if lr_key:
        panels.append(("learning rate", [lr_key]))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3))
    best = min(xs, key=lambda e: epochs[e].get("val_loss", np.inf))
    for ax, (title, keys) in zip(np.atleast_1d(axes), panels, strict=True):
        for key, style in zip(keys, ("-", "--"), strict=False):
            ys = [epochs[e].get(key, np.nan) for e in xs]
            ax.plot(xs, ys, style, marker="o", color=colour, label=key.replace("_", " "))
        ax.axvline(best, color="grey", linestyle=":", label=f"best epoch {best}")
        ax.set(xlabel="epoch", title=title)
        if title == "learning rate":
            ax.set_yscale("log")
        ax.legend(fontsize=8)
    return figure_tag(fig, "training curves")


def roc_pr(y: np.ndarray, p: np.ndarray, classes, palette) -> str:
    """ROC and precision-recall curves per character; one absent from the images (or in
    all of them) has no curve, only its legend entry saying so."""
    fig, (roc, pr) = plt.subplots(1, 2, figsize=(9, 3.8))
    for k, (c, auc, ap) in enumerate(zip(classes, class_auc(y, p), class_ap(y, p), strict=True)):
        fpr, tpr, prec, rec = [], [], [], []
        if auc is not None:
            fpr, tpr, _ = skm.roc_curve(y[:, k], p[:, k])
        if ap is not None:
            prec, rec, _ = skm.precision_recall_curve(y[:, k], p[:, k])
        roc.plot(fpr, tpr, color=palette[c], label=f"{c} (AUC {fmt(auc, 3)})")
        pr.plot(rec, prec, color=palette[c], label=f"{c} (AP {fmt(ap, 3)})")
    roc.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    pr.set(xlabel="recall", ylabel="precision", title="precision-recall")
    for ax in (roc, pr):
        ax.legend(fontsize=8, loc="lower right" if ax is roc else "lower left")
    return figure_tag(fig, "ROC and precision-recall curves")


def with_interval(value: float | None, low: float, high: float) -> str:
    """A figure and its 95% percentile interval (nan where no resample defined it)."""
    if value is None or np.isnan(low):
        return fmt(value)
    return f"{value:.4f} <small>[{low:.4f}, {high:.4f}]</small>"


def _class_figures(y, pred, p) -> np.ndarray:
    """(4, C): precision, recall, F1 and AUC (nan where undefined) of each character."""
    precision, recall, f1, _ = skm.precision_recall_fscore_support(y, pred, zero_division=0)
    return np.array([precision, recall, f1, class_auc(y, p)], dtype=float)


def per_class_rows(y, pred, p, classes, palette, seed: int = 0) -> list[str]:
    """Precision, recall, F1 and AUC per character with 95% percentile-bootstrap intervals;
    AUC "n/a" for a character in none (or all) of the images."""
    low, high = bootstrap(_class_figures, y, pred, p, resamples=BOOTSTRAP_RESAMPLES, seed=seed)
    point_pr, point_rc, point_f1, support = skm.precision_recall_fscore_support(
        y, pred, zero_division=0
    )
    point = [point_pr, point_rc, point_f1, class_auc(y, p)]
    out = []
    for k, c in enumerate(classes):
        cells = [with_interval(point[i][k], low[i, k], high[i, k]) for i in range(len(point))]
        swatch = f'<span class="sw" style="background:{palette[c]}"></span>'
        out.append(
            f"<tr><td>{swatch}{c}</td><td>{support[k]}</td><td>"
            + "</td><td>".join(cells)
            + "</td></tr>"
        )
    return out


def confusion_rows(y, pred, classes) -> list[str]:
    """Row A, column B: of the images where B is present and A is not, the share where A is
    predicted (A taken for B)."""
    out = []
    for a, name_a in enumerate(classes):
        cells = []
        for b in range(len(classes)):
            if a == b:
                cells.append("<td>–</td>")
                continue
            where = (y[:, b] == 1) & (y[:, a] == 0)
            rate = pred[where, a].mean() if where.any() else 0.0
            shade = min(0.6, rate * 6)  # light enough to read the figure on it
            cells.append(
                f'<td style="background:rgba(214,39,40,{shade:.2f})">{rate:.1%} '
                f"<small>({int(pred[where, a].sum())}/{int(where.sum())})</small></td>"
            )
        out.append(f"<tr><th>{name_a}</th>{''.join(cells)}</tr>")
    return out


def distinct_scenes(cases: np.ndarray, paths, count: int) -> list:
    """The first `count` of `cases` ((image, class) rows, most confident first), at most one
    per scene: a case is passed over when a kept one is within SCENE_GAP frame ids of it
    and looks alike (14x24 thumbnails within the split's cut threshold), so five frames of
    one shot do not fill the gallery while a cut a few frames away still counts."""
    from toontag.data.dataset import frame_id_of
    from toontag.data.images import load_resized
    from toontag.data.split import CUT_THRESHOLD, SOURCE_SIZE, thumbnails

    kept, seen = [], []  # seen: (frame id, thumbnail) of the kept cases
    for i, k in cases:
        path = Path(paths[i])
        frame = frame_id_of(path, int(i))
        [thumb] = thumbnails(load_resized(path, SOURCE_SIZE)[0][None])
        if any(
            abs(frame - f) <= SCENE_GAP and np.abs(thumb - t).mean() <= CUT_THRESHOLD
            for f, t in seen
        ):
            continue
        kept.append((i, k))
        seen.append((frame, thumb))
        if len(kept) == count:
            break
    return kept


def gallery(explainer: Explainer, paths, labels, y, p, pred, classes) -> list[str]:
    """The most confident false positives and false negatives, each with its Grad-CAM, at
    most one per scene."""
    errors = []
    fp = np.argwhere((pred == 1) & (y == 0))
    fn = np.argwhere((pred == 0) & (y == 1))
    fp = distinct_scenes(fp[np.argsort(-p[fp[:, 0], fp[:, 1]], kind="stable")], paths, GALLERY)
    fn = distinct_scenes(fn[np.argsort(p[fn[:, 0], fn[:, 1]], kind="stable")], paths, GALLERY)
    for kind, cases in (("FP", fp), ("FN", fn)):
        for i, k in cases:
            errors.append(
                card(
                    explainer,
                    paths[i],
                    classes[k],
                    p[i, k],
                    kind,
                    sorted(labels[i]),
                    [c for c, d in zip(classes, pred[i], strict=True) if d],
                )
            )
    return errors


def card(explainer, path, character, prob, kind, truth, predicted) -> str:
    from toontag.data.images import load_resized

    pixels, _ = load_resized(Path(path), explainer.size)
    original = np.asarray(open_rgb(Path(path))[0])
    [cam] = explainer.heatmaps(pixels[None], [character])
    caption = (
        f"<b>{kind}</b> {html.escape(character)} p={prob:.2f}<br>{html.escape(Path(path).name)}"
        f"<br>true: {', '.join(truth) or '–'}<br>predicted: {', '.join(predicted) or '–'}"
    )
    return (
        f"<figure>{image_tag(original, Path(path).name)}"
        f"{image_tag(overlay(original, cam), f'Grad-CAM {character}')}"
        f"<figcaption>{caption}</figcaption></figure>"
    )


def per_character_cams(explainer: Explainer, paths, y, p, classes) -> list[str]:
    """The most confident correct detection of each character, with its Grad-CAM (Fig. 8)."""
    out = []
    for k, c in enumerate(classes):
        hits = np.flatnonzero(y[:, k] == 1)
        if len(hits):
            i = hits[np.argmax(p[hits, k])]
            out.append(card(explainer, paths[i], c, p[i, k], "TP", [c], [c]))
    return out


CSS = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;
text-align:right}th{background:#f4f4f4}img{max-width:100%}.sw{display:inline-block;width:10px;
height:10px;margin-right:6px}.cards{display:flex;flex-wrap:wrap;gap:10px}figure{margin:0;
width:340px;font-size:12px}figure img{width:168px}small{color:#777}"""


def build_report(run: Path, metrics: dict, explainer: Explainer, out: Path) -> Path:
    """Write ``out/report.html`` from a run and its fresh evaluation (`metrics`, with its
    predictions CSV beside it); returns the page's path."""
    split = metrics["split"]
    files = evaluation_files(run, metrics["data"], split)
    if metrics.get("unknown_entries"):  # the predictions file lists labels, not unknowns
        raise DataError(
            f"{metrics['data']}: {metrics['unknown_entries']} entries of split {split!r} are "
            "marked unknown; the report's curves and cards need every class answered (the "
            f"metrics, with them left out, are in {files.metrics})"
        )
    paths, labels, classes, probs = read_predictions(files.predictions)
    order = [classes.index(c) for c in explainer.classes]
    classes, probs = explainer.classes, probs[:, order]
    y = np.array([[c in lab for c in classes] for lab in labels], dtype=int)
    thresholds = np.array([metrics["per_class"][c]["threshold"] for c in classes])
    pred = (probs >= thresholds).astype(int)
    palette = colours(classes)
    config = json.loads((run / CONFIG).read_text())
    report = json.loads((run / REPORT).read_text()) if (run / REPORT).is_file() else {}
    ci, seq = metrics["ci95"]["f1_micro"], metrics.get("ci95_by_sequence")

    def get(key: str):
        return report.get(key, "?")

    summary = {
        "model": config["model"],
        "input": "x".join(map(str, config["image_size"])),
        "pretrained": config["pretrained"],
        "epochs (best / run)": f"{get('best_epoch')} / {get('epochs_run')}",
        "train / val images": f"{get('train_images')} / {get('val_images')}",
        f"{split} images": metrics["images"],
        "device": get("device"),
        f"{split} micro-F1 [95% CI]": f"{metrics['f1_micro']:.4f} [{ci[0]:.4f}, {ci[1]:.4f}]"
        + (f", {by_sequence_text(seq['f1_micro'])} ({seq['sequences']} sequences)" if seq else ""),
        "subset accuracy": f"{metrics['subset_accuracy']:.4f}",
        "thresholds": ", ".join(f"{c} {t:.2f}" for c, t in zip(classes, thresholds, strict=True)),
    }
    head = "".join(f"<th>{c}</th>" for c in classes)
    body = [
        f"<h1>toontag report: {html.escape(str(run))}</h1>",
        "<h2>Run and data</h2><table>"
        + "".join(
            f"<tr><th>{k}</th><td>{html.escape(str(v))}</td></tr>" for k, v in summary.items()
        )
        + "</table>",
        "<h2>Training</h2>",
        curves(run, "#1f77b4"),
        f"<h2>Per character on {split}</h2><p>At the model's thresholds; 95% percentile-bootstrap "
        f"intervals over {BOOTSTRAP_RESAMPLES} resamples of the images.</p><table><tr>"
        "<th>character</th><th>support</th><th>precision</th><th>recall</th><th>F1</th><th>AUC</th></tr>",
        *per_class_rows(y, pred, probs, classes, palette),
        "</table>",
        roc_pr(y, probs, classes, palette),
        "<h2>Which character is taken for which</h2><p>Row A, column B: of the images where B "
        "is present and A is not, the share where A is predicted.</p>"
        f"<table><tr><th>predicted \\ present</th>{head}</tr>",
        *confusion_rows(y, pred, classes),
        "</table>",
        f"<h2>Most confident errors</h2><p>{GALLERY} false positives and {GALLERY} false "
        "negatives, at most one per scene, each with the Grad-CAM of the character "
        "concerned.</p><div class=cards>",
        *gallery(explainer, paths, labels, y, probs, pred, classes),
        "</div>",
        "<h2>Grad-CAM per character</h2><div class=cards>",
        *per_character_cams(explainer, paths, y, probs, classes),
        "</div>",
    ]
    page = (
        f"<!doctype html><html><head><meta charset=utf-8><title>toontag report</title>"
        f"<style>{CSS}</style></head><body>{''.join(body)}</body></html>"
    )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "report.html", page)
    return out / "report.html"
