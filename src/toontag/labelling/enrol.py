"""Enrolling a new character into a trained run: one more class, the old outputs unchanged.

The new class is a logistic regression on the run's own pooled backbone features (the
estimator `labelling.head.NewClassHead`; this module reads the frames and writes the run): a
few positive examples, any negatives a person gave, and a sample of the run's training frames.
Those frames were labelled before the character existed, so for it they are unknown, not
negative: from positives alone the fit treats them as unlabelled and reads its output as the
class's probability by Elkan and Noto's rule; once a person has answered (5 or more yes and
no), the fit uses the answers and the examples alone, with a threshold tuned on out-of-fold
predictions.

The regression is folded into the run's own head, so the new run is an ordinary run that
`export`, `predict`, `index` and `search` take as they are: two hidden units are added,
``relu(z)`` and ``relu(-z)`` for the new class's logit ``z``, and the new output is their
difference (``z`` itself). Old outputs have zero weight on them: their logits are the base
run's (to float rounding), so the old classes cannot get worse. No backbone weight changes.

Old frames are offered in ``confirm.csv`` (path, probability, an empty ``answer`` column): half
those scoring nearest the new class's threshold, half drawn at random (an unbiased look, which
measured better than the nearest alone: see `NewClassHead`). A person fills in yes or no and
passes the file back with ``--confirmed``; those answers are labels for the next fit.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from toontag.data.cache import build_cache
from toontag.data.dataset import listed_path, load_dataset
from toontag.data.walk import image_files
from toontag.errors import DataError, RunError
from toontag.io import csv_text, read_csv, write_json, write_text
from toontag.labelling.head import Head, fit_new_class
from toontag.labelling.labels import LabelError, check_name
from toontag.models.inference import default_device, map_batches
from toontag.models.trained import load_trained
from toontag.runs import CONFIG, ENSEMBLE, MODEL_INFO, REPORT, SPLIT, run_data, save_weights

BACKGROUND = 3000  # the run's training frames sampled as unlabelled for the new class
CONFIRM = 50  # old frames offered for confirmation
RANDOM_SHARE = 0.5  # of them drawn at random, the rest nearest the threshold (enrol_choice.py)
CONFIRM_FILE = "confirm.csv"
ENROL_FILE = "enrol.json"
ANSWERS = {"yes": True, "y": True, "1": True, "no": False, "n": False, "0": False}


@dataclass(frozen=True)
class Confirmed:
    """A person's answers about the new character on frames offered for confirmation."""

    yes: list[Path]
    no: list[Path]


def pooled_features(trained, paths: list[Path], *, cache_root: Path | None, what: str):
    """(N, D) float32 pooled backbone features of `paths`, and the rows that decoded."""
    cache = build_cache(paths, size=trained.image_size, root=cache_root, description=what)
    rows = cache.ok
    device = default_device()
    model = trained.model.to(device).eval()
    feats = map_batches(
        model.pooled_features, cache.images, rows, device=device, description=f"features of {what}"
    )
    return feats.astype(np.float32), rows


def widened_state(model, head: Head) -> tuple[dict, int]:
    """The base model's state with the new class folded into its head (see the module), and
    the new hidden width."""
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    hidden, out = model.head[2], model.head[5]
    w = torch.from_numpy(head.weight[:, 0]).to(hidden.weight.dtype)
    b = torch.tensor(float(head.bias[0]), dtype=hidden.bias.dtype)
    state["head.2.weight"] = torch.cat([hidden.weight.detach(), w[None], -w[None]])
    state["head.2.bias"] = torch.cat([hidden.bias.detach(), b[None], -b[None]])
    n_hidden, n_out = hidden.out_features + 2, out.out_features + 1
    weight = torch.zeros(n_out, n_hidden, dtype=out.weight.dtype)
    weight[:-1, : hidden.out_features] = out.weight.detach()
    weight[-1, -2:] = torch.tensor([1.0, -1.0])
    state["head.5.weight"] = weight
    state["head.5.bias"] = torch.cat([out.bias.detach(), torch.zeros(1, dtype=out.bias.dtype)])
    return state, n_hidden


def write_enrolled_run(base: Path, out: Path, trained, name: str, head: Head, details: dict):
    """`out`: the base run's files with the widened head, one more class and its threshold."""
    from toontag.models import create_model

    state, hidden = widened_state(trained.model, head)
    config = trained.config.replace(head_hidden=hidden)
    model = create_model(
        config.model,
        len(trained.classes) + 1,
        pretrained=False,
        head_hidden=hidden,
        dropout=config.dropout,
        conv_channels=config.conv_channels,
    )
    model.load_state_dict(state)
    out.mkdir(parents=True, exist_ok=True)
    for extra in (SPLIT, REPORT):  # where the base came from, for evaluate
        if (base / extra).is_file():
            shutil.copyfile(base / extra, out / extra)
    config.save(out / CONFIG)
    info = json.loads((base / MODEL_INFO).read_text())
    info["classes"] = [*trained.classes, name]
    info["thresholds"] = [*trained.thresholds, float(head.thresholds[0])]
    info["enrolled"] = [*info.get("enrolled", []), name]
    save_weights(out, model)
    write_json(out / MODEL_INFO, info)  # last: a run is finished when its model.json names it
    write_json(out / ENROL_FILE, details)


def offer_for_confirmation(
    p: np.ndarray, threshold: float, count: int, seed: int, random_share: float = RANDOM_SHARE
) -> np.ndarray:
    """Indices into `p` (the new class's probabilities of unanswered frames) to ask a person
    about, highest probability first: those nearest the threshold, and `random_share` of them
    drawn at random instead."""
    near = np.argsort(np.abs(p - threshold), kind="stable")[: round(count * (1 - random_share))]
    rest = np.setdiff1d(np.arange(len(p)), near)
    drawn = np.random.default_rng(seed).choice(rest, min(count - len(near), len(rest)), False)
    offered = np.concatenate([near, drawn])
    return offered[np.argsort(-p[offered], kind="stable")]


def read_confirmed(path: Path) -> Confirmed:
    """The answers in a filled-in ``confirm.csv``: rows whose ``answer`` is yes or no (others,
    left empty, are skipped); anything else is an error naming the row."""
    yes, no = [], []
    for line, row in enumerate(read_csv(path, columns=("path", "answer")), start=2):
        answer = (row["answer"] or "").strip().lower()
        if not answer:
            continue
        if answer not in ANSWERS:
            raise DataError(f"{path}:{line}: answer {row['answer']!r} is not yes or no")
        (yes if ANSWERS[answer] else no).append(listed_path(path.parent, row["path"]))
    return Confirmed(yes, no)


def existing_images(paths) -> list[Path]:
    """The given image files, a folder standing for the images in it (recursively)."""
    found = image_files(paths)
    for path in found:
        if not path.is_file():
            raise DataError(f"{path}: no such image or folder")
    return found


def project_examples(project: Path, character: str) -> tuple[list[Path], list[Path]]:
    """A labelling project's frames labelled with `character`, and those answered without it
    (frames where it is unknown, labelled before it was added, are neither). Its audit frames
    (labels.csv's audit column: the project's test split) are never fitted on."""
    data = load_dataset(project)
    data = data.select([i for i, s in enumerate(data.samples) if s.split != "test"])
    if character not in data.classes:
        raise DataError(
            f"{project}: no frame is labelled {character!r} (its characters: "
            f"{', '.join(data.classes)})"
        )
    k = data.classes.index(character)
    known, targets = data.known[:, k], data.targets[:, k]
    yes = [s.path for s, on, seen in zip(data.samples, targets, known, strict=True) if seen and on]
    no = [
        s.path for s, on, seen in zip(data.samples, targets, known, strict=True) if seen and not on
    ]
    return yes, no


def background_frames(run: Path, limit: int, seed: int) -> list[Path]:
    """Up to `limit` training frames of the run's data, drawn at random (the unlabelled)."""
    data = run_data(run)
    if data is None:
        raise RunError(
            f"{run}: the data it was trained on (named in its split.json) is gone; "
            "enrolment uses its frames as the character's unlabelled background"
        )
    dataset = load_dataset(data)
    train = [s.path for s in dataset.samples if s.split in ("train", None, "val")]
    order = np.random.default_rng(seed).permutation(len(train))[:limit]
    return [train[i] for i in sorted(order)]


def enrol(
    run: Path,
    *,
    character: str,
    examples: list[Path],
    out: Path,
    negatives: list[Path] = (),
    confirmed: Confirmed | None = None,
    background: list[Path] | None = None,
    confirm: int = CONFIRM,
    seed: int = 0,
    cache_root: Path | None = None,
) -> dict:
    """A new run in `out`: `run` plus the class `character` (see the module). Returns what was
    done, also written to ``out/enrol.json``; ``out/confirm.csv`` lists frames to confirm."""
    run, out = Path(run), Path(out)
    if (run / ENSEMBLE).is_file():
        raise RunError(f"{run}: enrol takes a single model's run, not an ensemble")
    if (out / MODEL_INFO).exists():
        raise RunError(f"{out}: already holds a run; choose another --out")
    trained = load_trained(run)
    try:
        name = check_name(character, trained.classes)
    except LabelError as e:
        raise RunError(f"--character {character!r}: {e}") from None
    confirmed = confirmed or Confirmed([], [])
    positives = list(dict.fromkeys([*existing_images(examples), *confirmed.yes]))
    negatives = list(dict.fromkeys([*existing_images(negatives), *confirmed.no]))
    if len(positives) < 2:
        raise DataError(f"enrolling {name!r} needs at least 2 example images of it")
    labelled = {Path(p).resolve() for p in (*positives, *negatives)}
    if background is None:
        background = background_frames(run, BACKGROUND, seed)
    background = [p for p in background if Path(p).resolve() not in labelled]
    paths = [*positives, *negatives, *background]
    feats, ok = pooled_features(trained, paths, cache_root=cache_root, what="enrolment frames")
    where = {int(r): i for i, r in enumerate(ok)}  # path index -> feature row
    n_pos, n_neg = len(positives), len(negatives)
    unreadable = [paths[i] for i in range(n_pos + n_neg) if i not in where]
    if unreadable:  # an unreadable background frame is only left out
        raise DataError(f"{unreadable[0]}: cannot be read as an image")
    pos = [where[i] for i in range(n_pos)]
    neg = [where[i] for i in range(n_pos, n_pos + n_neg)]
    background_rows = [i for i in range(n_pos + n_neg, len(paths)) if i in where]
    unl = [where[i] for i in background_rows]
    head, share = fit_new_class(feats, pos, neg, unl, seed=seed)
    p = head.probabilities(feats[unl])[:, 0]
    threshold = head.thresholds[0]
    offered = offer_for_confirmation(p, threshold, confirm, seed)
    details = {
        "base_run": str(run.resolve()),
        "character": name,
        "positives": n_pos,
        "negatives": n_neg,
        "confirmations_used": len(confirmed.yes) + len(confirmed.no),
        "unlabelled": len(unl),
        "labelled_share_k": None if share is None else round(share, 4),
        "threshold": round(threshold, 4),
        "unlabelled_over_threshold": int((p >= threshold).sum()),
        "offered_for_confirmation": len(offered),
        "method": "logistic regression on the base run's pooled features, "
        + (
            "on the examples and answers, threshold tuned out of fold"
            if share is None
            else "old frames as unlabelled (Elkan-Noto)"
        )
        + "; old outputs unchanged",
    }
    write_enrolled_run(run, out, trained, name, head, details)
    rows = ([str(Path(paths[background_rows[i]]).resolve()), f"{p[i]:.4f}", ""] for i in offered)
    write_text(out / CONFIRM_FILE, csv_text(["path", "probability", "answer"], rows))
    return details
