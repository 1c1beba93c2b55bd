"""Enrolling a character a base run never heard of, with a simulated person answering the
frames `enrol` offers: the base runs, their features and the pool that
benchmarks/new_character.py (on test) and enrol_choice.py (on validation) share, and the
fine-tune method's enrolment as a person would run it (`finetune_enrolment`)."""

from __future__ import annotations

import argparse
import hashlib
import shutil
from pathlib import Path

import numpy as np

from toontag.benchmark.harness import write_manifest
from toontag.config import preset
from toontag.data.dataset import KRAL_SAKIR_CLASSES, Sample
from toontag.errors import RunError
from toontag.evaluation.metrics import micro_scores
from toontag.io import read_csv, replace_file, write_text
from toontag.labelling.confirm import CONFIRM_FILE, Confirmed, offer_for_confirmation
from toontag.labelling.enrol import pooled_features
from toontag.labelling.enrol_finetune import enrol_finetuned
from toontag.labelling.finetune import STEPS
from toontag.labelling.head import fit_new_class
from toontag.runs import read_model_info
from toontag.training.run import train_or_resume

CONFIRM, ROUND = 50, 10  # answers a person gives after the examples, offered this many a round
IMAGE_SIZE = (112, 192)
BASE_RECIPES = ("fast", "cpu")  # see `base_options`


def simulate_enrolment(
    feats,
    truth,
    *,
    k: int,
    seed: int,
    test_feats,
    test_truth,
    random_share: float | None = None,
    enough: int | None = None,
) -> dict:
    """Enrol from k random positives of the pool, then CONFIRM answers in rounds of ROUND, each
    round offered as `enrol` offers them (or with `random_share` of them drawn at random and the
    rest nearest the threshold); `enough` overrides how many yes and no answers
    the supervised fit needs (a huge number keeps the positive-unlabelled fit throughout).
    `test_feats`/`test_truth`: the frames scored (test here, validation for the choice)."""
    rng = np.random.default_rng(seed)
    positives = list(rng.choice(np.flatnonzero(truth), k, replace=False))
    negatives: list[int] = []
    steps = []
    options = {} if enough is None else {"enough": enough}
    while True:
        asked = set(positives) | set(negatives)
        unlabelled = [i for i in range(len(feats)) if i not in asked]
        head, share = fit_new_class(feats, positives, negatives, unlabelled, seed=seed, **options)
        decided = head.probabilities(test_feats)[:, 0] >= head.thresholds[0]
        steps.append(
            {
                "confirmations": len(asked) - k,
                "labels": len(asked),
                "test_f1": round(micro_scores(test_truth, decided)[2], 4),
                "threshold": round(head.thresholds[0], 4),
                "k_share": None if share is None else round(share, 4),
            }
        )
        if len(asked) - k >= CONFIRM:
            return {"k": k, "seed": seed, "steps": steps, "head": head}
        p = head.probabilities(feats[unlabelled])[:, 0]
        mix = {} if random_share is None else {"random_share": random_share}
        offered = offer_for_confirmation(p, head.thresholds[0], ROUND, seed + len(asked), **mix)
        for i in (unlabelled[j] for j in offered):  # the person answers from the truth
            (positives if truth[i] else negatives).append(i)


def base_options(parser: argparse.ArgumentParser) -> None:
    """The data, the bases and the pool: the options both enrolment benchmarks take."""
    parser.add_argument("--data", type=Path, default=Path("../shared/data/kral_sakir"))
    parser.add_argument("--work", type=Path, default=Path.home() / ".cache/toontag/new-char")
    parser.add_argument("--pool", type=int, default=3000, help="train frames in the pool")
    parser.add_argument(
        "--base-recipe",
        choices=BASE_RECIPES,
        default="fast",
        help="fast: one epoch of the `fast` recipe over every --base-stride-th train frame; "
        "cpu: the `cpu` preset (results/cpu-recipe.md's kept row) on every train frame",
    )
    parser.add_argument("--base-stride", type=int, default=2, help="every Nth train frame")
    parser.add_argument("--base-minutes", type=float, default=None, help="cap on the base's fit")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--characters", default=",".join(KRAL_SAKIR_CLASSES))
    parser.add_argument(
        "--base-runs",
        type=Path,
        default=None,
        help="DIR/<character>: a finished 3-class run without that character, trained elsewhere "
        "(the full recipe on a GPU), used instead of training one here",
    )


def base_run(args, data, character: str) -> Path:
    """The 3-class run that never heard of `character`: --base-runs/<character> where given,
    else trained once with --base-recipe, then reused."""
    old = tuple(c for c in KRAL_SAKIR_CLASSES if c != character)
    if args.base_runs is not None:
        base = args.base_runs / character
        classes = tuple(read_model_info(base)["classes"])
        if set(classes) != set(old):
            raise RunError(f"{base}: classes {list(classes)}; a base without {character} has {old}")
        return base
    same_recipe(args.work, args.base_recipe)
    train_part = data.subset("train")
    folder = args.work / character
    base = folder / "base"
    if not (base / "report.json").is_file():
        full = args.base_recipe == "cpu"
        samples = [
            Sample(s.path, tuple(c for c in s.labels if c != character), s.split, s.frame_id)
            for s in train_part.samples[:: 1 if full else args.base_stride]
        ]
        manifest = write_manifest(folder / "base.csv", samples, split="train")
        if full:
            config = preset("cpu").replace(seed=0)
            if args.base_minutes is not None:
                config = config.replace(max_minutes=args.base_minutes)
        else:
            config = preset("fast").replace(
                image_size=IMAGE_SIZE, max_epochs=1, max_minutes=args.base_minutes, seed=0
            )
        train_or_resume(
            config,
            data=manifest,
            run=base,
            progress=False,
            classes=old,
            cache_root=args.work / "cache",
        )
    return base


def same_recipe(work: Path, recipe: str) -> None:
    """WORK's bases, features and records are of one --base-recipe: the first use writes it
    (bases from before it was written are `fast` ones); another one is refused in one line."""
    marker = work / "base-recipe.txt"
    if marker.is_file():
        held = marker.read_text().strip()
    else:
        held = "fast" if any(work.glob("*/base/report.json")) else None
    if held is None:
        write_text(marker, recipe + "\n")
    elif held != recipe:
        raise RunError(f"{work}: holds bases of --base-recipe {held}; use another --work")


def base_features(base: Path, trained, paths: list, args, what: str):
    """`pooled_features` through the base run, kept beside it (``<what>-features.npz``, for the
    same paths and weights) so the choice and the test benchmark compute them once."""
    key = hashlib.sha256("\n".join(map(str, paths)).encode()).hexdigest()[:16]
    stamp = (base / "model.safetensors").stat().st_mtime_ns
    kept = base.parent / f"{what}-features.npz"
    if kept.is_file():
        saved = np.load(kept)
        if str(saved["key"]) == key and int(saved["stamp"]) == stamp:
            return saved["features"], saved["ok"]
    feats, ok = pooled_features(trained, paths, cache_root=args.work / "cache", what=what)
    np.savez(kept.with_suffix(".tmp.npz"), features=feats, ok=ok, key=key, stamp=stamp)
    replace_file(kept.with_suffix(".tmp.npz"), kept)
    return feats, ok


def pool_rows(train_size: int, pool: int) -> np.ndarray:
    """The benchmark's pool: a fixed random sample of the train split's rows."""
    return np.sort(np.random.default_rng(0).permutation(train_size)[:pool])


def finetune_enrolment(
    base: Path,
    pool: list[Path],
    truth: np.ndarray,
    *,
    character: str,
    k: int,
    seed: int,
    folder: Path,
    cache_root: Path,
    steps: int = STEPS,
) -> dict:
    """`enrol --method finetune` as a person runs it: from k random positives of the `pool`
    (drawn as `simulate_enrolment` draws them, so both methods start from the same examples),
    then again with a simulated person's answers (`truth`) to the CONFIRM frames it offered.
    The runs are written to folder/alone and folder/confirmed; returns what each enrol said."""
    examples = np.random.default_rng(seed).choice(np.flatnonzero(truth), k, replace=False)
    truth_of = {Path(p).resolve(): bool(t) for p, t in zip(pool, truth, strict=True)}
    shutil.rmtree(folder, ignore_errors=True)  # a run killed half-way is redone
    common = {
        "character": character,
        "examples": [pool[i] for i in examples],
        "background": pool,
        "confirm": CONFIRM,
        "seed": seed,
        "cache_root": cache_root,
        "steps": steps,
    }
    alone = enrol_finetuned(base, out=folder / "alone", **common)
    offered = [
        Path(r["path"]) for r in read_csv(folder / "alone" / CONFIRM_FILE, columns=("path",))
    ]
    answers = Confirmed(
        [p for p in offered if truth_of[p]], [p for p in offered if not truth_of[p]]
    )
    confirmed = enrol_finetuned(base, out=folder / "confirmed", confirmed=answers, **common)
    return {"alone": alone, "confirmed": confirmed}
