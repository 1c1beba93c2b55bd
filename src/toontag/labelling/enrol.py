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

Old frames are offered in ``confirm.csv`` (`labelling.confirm`): half nearest the threshold, half
at random. A person answers yes or no there and passes it back with ``--confirmed``: labels for
the next fit where they beat the examples alone on held-out answers (enrol_guard.py).

This is ``enrol --method linear``; ``--method finetune`` (`enrol_finetune`) starts from this
fit and fine-tunes the top of the backbone, sharing this module's checks, frames and writing.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from toontag.data.cache import build_cache
from toontag.data.dataset import load_dataset
from toontag.data.walk import image_files
from toontag.errors import DataError, RunError
from toontag.io import hash_file, write_json
from toontag.labelling.confirm import CONFIRM, Confirmed, write_offers
from toontag.labelling.enrol_guard import guarded_fit, next_offers
from toontag.labelling.head import Head, fit_new_class
from toontag.labelling.labels import LabelError, check_name
from toontag.models.inference import default_device, map_batches
from toontag.models.trained import TrainedModel, load_trained
from toontag.runs import (
    CONFIG,
    ENSEMBLE,
    MODEL_INFO,
    REPORT,
    SPLIT,
    check_new_run,
    mark_run,
    recorded_data,
    run_data,
    save_weights,
)

BACKGROUND = 3000  # the run's training frames sampled as unlabelled for the new class
ENROL_FILE = "enrol.json"


@dataclass(frozen=True)
class Request:
    """An enrolment both methods start from, checked (see `request`)."""

    run: Path
    out: Path
    trained: TrainedModel
    name: str  # the new character's name, checked against the run's classes
    examples: list[Path]  # images of it the person chose
    yes: list[Path]  # frames answered yes, besides the examples
    no: list[Path]  # frames without it: negatives given and frames answered no
    answered: int  # answers read from a confirm.csv
    answered_no: list[Path]  # those of `no` answered no there, not also given as negatives

    @property
    def positives(self) -> list[Path]:
        return [*self.examples, *self.yes]

    def labelled(self) -> set[Path]:
        """The labelled frames' resolved paths: never among the unlabelled."""
        return {Path(p).resolve() for p in (*self.positives, *self.no)}


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


def enrolled_model(trained, head: Head):
    """The base model with `head`'s class folded in (see the module), and its config."""
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
    return model.eval(), config


def write_enrolled_run(base: Path, out: Path, trained, name: str, head: Head, details: dict):
    """`out`: the base run's files with the widened head, one more class and its threshold."""
    model, config = enrolled_model(trained, head)
    write_run(base, out, trained, model, config, name, float(head.thresholds[0]), details)


def write_run(base: Path, out: Path, trained, model, config, name: str, threshold, details):
    """`out`: an ordinary run of `model` (the base's classes and `name`, decided at the
    base's thresholds and `threshold`), the base's split and report beside it."""
    mark_run(out)
    for extra in (SPLIT, REPORT):  # where the base came from, for evaluate
        if (base / extra).is_file():
            shutil.copyfile(base / extra, out / extra)
    config.save(out / CONFIG)
    info = json.loads((base / MODEL_INFO).read_text())
    info["classes"] = [*trained.classes, name]
    info["thresholds"] = [*trained.thresholds, float(threshold)]
    info["enrolled"] = [*info.get("enrolled", []), name]
    save_weights(out, model)
    write_json(out / MODEL_INFO, info)  # last: a run is finished when its model.json names it
    write_json(out / ENROL_FILE, details)


def existing_images(paths) -> list[Path]:
    """The given image files, a folder standing for the images in it (recursively)."""
    found = image_files(paths)
    for path in found:
        if not path.is_file():
            raise DataError(f"{path}: no such image or folder")
    return found


def by_content(paths) -> dict[str, Path]:
    """Each distinct image of `paths` by its bytes' digest -> the first path holding it: 12
    copies of one image are one example."""
    found: dict[str, Path] = {}
    for path in paths:
        try:
            digest = hash_file(Path(path)).hexdigest()
        except OSError as e:
            raise DataError(f"{path}: cannot be read ({e.strerror})") from None
        found.setdefault(digest, Path(path))
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
            f"{run}: the data it was trained on ({recorded_data(run)}, named in its split.json) "
            "is not there; "
            "enrolment uses its frames as the character's unlabelled background"
        )
    dataset = load_dataset(data)
    train = [s.path for s in dataset.samples if s.split in ("train", None, "val")]
    return sample_frames(train, limit, seed)


def sample_frames(frames: list[Path], limit: int, seed: int) -> list[Path]:
    """Up to `limit` of `frames`, drawn at random, in their order."""
    order = np.random.default_rng(seed).permutation(len(frames))[:limit]
    return [frames[i] for i in sorted(order)]


def request(run: Path, out: Path, *, character: str, examples, negatives=(), confirmed=None):
    """The checked start of an enrolment by either method (a `Request`), or the one-line
    error naming what is wrong: an ensemble, an `out` already holding a run, a name taken, too
    few different examples, an image given both as an example and as a negative (`confirmed`:
    a `Confirmed`, its answers as labels). Images are told apart by content: copies of one
    count once."""
    run, out = Path(run), Path(out)
    if (run / ENSEMBLE).is_file():
        raise RunError(f"{run}: enrol takes a single model's run, not an ensemble")
    if (out / MODEL_INFO).exists():
        raise RunError(f"{out}: already holds a run; choose another --out")
    check_new_run(out)
    trained = load_trained(run)
    try:
        name = check_name(character, trained.classes)
    except LabelError as e:
        raise RunError(f"--character {character!r}: {e}") from None
    confirmed = confirmed or Confirmed([], [])
    given = by_content(existing_images(examples))
    yes = {k: p for k, p in by_content(confirmed.yes).items() if k not in given}
    given_no = by_content(existing_images(negatives))
    no = given_no | {k: p for k, p in by_content(confirmed.no).items() if k not in given_no}
    both = [k for k in no if k in given or k in yes]
    if both:
        k = both[0]
        raise DataError(
            f"{no[k]} is the same image as {given.get(k, yes.get(k))}: one image cannot be both "
            f"with {name!r} (an example) and without it (a negative)"
        )
    if len(given) + len(yes) < 2:
        raise DataError(
            f"enrolling {name!r} needs at least 2 example images of it (copies of one count once)"
        )
    answered = len(confirmed.yes) + len(confirmed.no)
    return Request(
        run,
        out,
        trained,
        name,
        list(given.values()),
        list(yes.values()),
        list(no.values()),
        answered,
        [p for k, p in no.items() if k not in given_no],
    )


def unlabelled_frames(run: Path, background, seed: int, labelled: set[Path]) -> list[Path]:
    """The old frames, unknown for the new class: `background` (None: `BACKGROUND` of the
    run's training frames) less the `labelled` (resolved paths)."""
    if background is None:
        background = background_frames(run, BACKGROUND, seed)
    return [p for p in background if Path(p).resolve() not in labelled]


def decoded_rows(paths: list[Path], ok, labelled) -> dict[int, int]:
    """Each decoded path's index -> its row among the decoded (`ok`, their indices). One of
    the `labelled` (path indices) that cannot be read is an error; any other is left out."""
    where = {int(r): i for i, r in enumerate(ok)}
    unreadable = [paths[i] for i in labelled if i not in where]
    if unreadable:
        raise DataError(f"{unreadable[0]}: cannot be read as an image")
    return where


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
    job = request(
        run, out, character=character, examples=examples, negatives=negatives, confirmed=confirmed
    )
    run, out, trained, name = job.run, job.out, job.trained, job.name
    given = [p for p in job.no if p not in job.answered_no]  # negatives given, not answers
    labelled = [*job.examples, *given, *job.yes, *job.answered_no]
    alone = {Path(p).resolve() for p in (*job.examples, *given)}  # the examples-only fit's
    paths = [*labelled, *unlabelled_frames(run, background, seed, alone)]
    feats, ok = pooled_features(trained, paths, cache_root=cache_root, what="enrolment frames")
    where = decoded_rows(paths, ok, range(len(labelled)))  # path index -> feature row
    ends = np.cumsum([len(job.examples), len(given), len(job.yes)])
    ex, neg, yes, no = np.split([where[i] for i in range(len(labelled))], ends)
    old = [i for i in range(len(labelled), len(paths)) if i in where]
    answered = job.labelled()
    fresh = [i for i in old if Path(paths[i]).resolve() not in answered]  # may be offered
    unl = [where[i] for i in fresh]
    head, share = fit_new_class(feats, ex, neg, [where[i] for i in old], seed=seed)
    guard = None
    if job.answered:
        rows = dict(zip(labelled[ends[1] :], [*yes, *no], strict=True))
        head, share, guard = guarded_fit(
            feats, (head, share), ex, neg, unl, job.yes, job.answered_no, rows, seed=seed
        )
    p = head.probabilities(feats[unl])[:, 0]
    threshold = head.thresholds[0]
    offered = next_offers(
        guard, p, threshold, confirm, seed, features=feats[unl], examples=feats[ex]
    )
    details = {
        "base_run": str(run.resolve()),
        "character": name,
        "positives": len(job.positives),
        "negatives": len(job.no),
        "confirmations_used": job.answered,
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
        "guard": guard,
    }
    write_enrolled_run(run, out, trained, name, head, details)
    write_offers(out, [paths[i] for i in fresh], p, offered)
    return details
