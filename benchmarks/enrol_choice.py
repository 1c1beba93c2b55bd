"""How `enrol` fits a new class and which old frames it offers, chosen on validation frames.

    python benchmarks/enrol_choice.py --characters kral_sakir,remzi,fil_necati,canan

For each character, the 3-class base run of `benchmarks/new_character.py` (trained without it,
shared with that benchmark) and its pool (the same fixed random sample of train frames); the
frames scored are validation frames: a random sample of train frames outside the pool that the
base never trained on (its stride skipped them; a full-recipe base's, or one trained elsewhere:
its own validation frames). The test split is not read. A simulated
person enrols the character from k = 20 random positives of the pool and answers 50 offered
frames in rounds of 10 (a refit after each), for --seeds seeds. Candidates:

- fit: positive-unlabelled throughout (Elkan and Noto; the person's "no" answers are unlabelled
  negatives of that fit), or the supervised fit on the examples and answers alone once there are
  5 yes and 5 no (`fit_new_class`'s rule);
- offers: the frames nearest the threshold, or half nearest and half at random;
- fine-tune (`enrol --method finetune`, --finetune-seeds seeds): the top of the base's backbone
  and the head tuned with the old outputs distilled, from the same k examples, then again with
  the person's answers to the 50 frames it offered (one round, as the command line asks them);
  each an ordinary run, scored on the same validation frames through its ONNX model.

The candidate with the highest mean validation F1 after 50 answers, over the seeds every
candidate ran, is what `enrol` ships.
Writes results/enrol-choice.json and .md.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from toontag.benchmark.enrolment import (
    CONFIRM,
    base_features,
    base_options,
    base_run,
    finetune_enrolment,
    pool_rows,
    simulate_enrolment,
)
from toontag.benchmark.results import write_result
from toontag.data.cache import build_cache
from toontag.data.dataset import KRAL_SAKIR_CLASSES, load_dataset
from toontag.evaluation.metrics import micro_scores
from toontag.labelling.finetune import STEPS
from toontag.models.engine import engine_probabilities, load_engine
from toontag.models.trained import load_trained
from toontag.runs import SPLIT

K = 20
CANDIDATES = {  # name: (share of offers drawn at random, yes and no the supervised fit needs)
    "positive-unlabelled, nearest": (0.0, 10**9),
    "positive-unlabelled, half random": (0.5, 10**9),
    "answers alone, nearest": (0.0, None),
    "answers alone, half random": (0.5, None),
}
FINETUNE = "fine-tune (top of the backbone, old outputs distilled)"


def candidate_row(
    character: str, candidate: str, curves, rate: float, *, by_round: bool = False
) -> dict:
    """A candidate's row from its per-seed validation F1 curves (from the examples alone to
    after the answers): their mean's ends, each seed's last, and with `by_round` every round."""
    curve = np.mean(curves, axis=0)
    row = {
        "character": character,
        "candidate": candidate,
        "val_f1_alone": round(float(curve[0]), 4),
        "val_f1_answered": round(float(curve[-1]), 4),
    }
    if by_round:
        row["val_f1_by_round"] = [round(float(v), 4) for v in curve]
    return row | {
        "val_f1_answered_by_seed": [round(float(c[-1]), 4) for c in curves],
        "val_positive_rate": rate,
    }


def finetune_curves(args, base: Path, train, pool, val, col: int, character: str) -> list:
    """Per --finetune-seeds seed, the fine-tuned enrolment's validation F1 of the new class
    from the k examples alone and with the answers: [[alone, answered], ...]."""
    pool_paths = [train.samples[r].path for r in pool]
    truth = train.targets[pool, col] > 0.5
    val_paths = [train.samples[r].path for r in val]
    val_truth = train.targets[val, col] > 0.5
    curves = []
    for seed in range(args.finetune_seeds):
        folder = args.work / character / f"choice-finetune-seed{seed}"
        finetune_enrolment(
            base, pool_paths, truth, character=character, k=K, seed=seed, folder=folder,
            cache_root=args.work / "cache", steps=args.finetune_steps,
        )  # fmt: skip
        curve = []
        for stage in ("alone", "confirmed"):
            engine = load_engine(folder / stage)
            cache = build_cache(val_paths, size=engine.image_size, root=args.work / "cache")
            p = engine_probabilities(engine, cache.images, np.arange(len(val_paths)))
            curve.append(micro_scores(val_truth, p[:, -1] >= engine.thresholds[-1])[2])
        curves.append(curve)
        print({"character": character, "finetune_seed": seed, "val_f1": curve}, flush=True)
    return curves


def unseen_frames(args, base: Path, train) -> np.ndarray:
    """The train frames `base` never trained on: those its stride skipped (a `fast` base of
    this benchmark's), else its own validation frames (split.json)."""
    if args.base_runs is None and args.base_recipe == "fast":
        return np.setdiff1d(np.arange(len(train)), np.arange(0, len(train), args.base_stride))
    held = {Path(p).resolve() for p in json.loads((base / SPLIT).read_text())["val_images"]}
    return np.array(
        [i for i, s in enumerate(train.samples) if Path(s.path).resolve() in held], dtype=np.int64
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    base_options(parser)  # as benchmarks/new_character.py's
    parser.add_argument("--validation", type=int, default=1500, help="frames scored")
    parser.add_argument("--finetune-seeds", type=int, default=1, help="0: no fine-tune row")
    parser.add_argument("--finetune-steps", type=int, default=STEPS)
    parser.add_argument("--out", type=Path, default=Path("results"))
    args = parser.parse_args()
    started = time.perf_counter()
    data = load_dataset(args.data)
    train = data.subset("train")
    rows = []
    for character in args.characters.split(","):
        base = base_run(args, data, character)
        trained = load_trained(base)
        col = KRAL_SAKIR_CLASSES.index(character)
        pool = pool_rows(len(train), args.pool)
        outside = np.setdiff1d(unseen_frames(args, base, train), pool)
        scored = min(args.validation, len(outside))
        val = np.sort(np.random.default_rng(1).choice(outside, scored, replace=False))
        feats = {}
        for name, part in (("pool", pool), ("validation", val)):
            paths = [train.samples[r].path for r in part]
            x, ok = base_features(base, trained, paths, args, name)
            feats[name] = x, train.targets[part[ok], col] > 0.5
        for candidate, (random_share, enough) in CANDIDATES.items():
            curves = [
                [
                    step["test_f1"]
                    for step in simulate_enrolment(
                        *feats["pool"],
                        k=K,
                        seed=seed,
                        test_feats=feats["validation"][0],
                        test_truth=feats["validation"][1],
                        random_share=random_share,
                        enough=enough,
                    )["steps"]
                ]
                for seed in range(args.seeds)
            ]
            rate = round(float(feats["validation"][1].mean()), 3)
            rows.append(candidate_row(character, candidate, curves, rate, by_round=True))
            print(rows[-1], flush=True)
        if args.finetune_seeds:
            curves = finetune_curves(args, base, train, pool, val, col, character)
            rows.append(candidate_row(character, FINETUNE, curves, rate))
    candidates = [*CANDIDATES, FINETUNE] if args.finetune_seeds else list(CANDIDATES)
    common = min(args.seeds, args.finetune_seeds or args.seeds)  # seeds every candidate ran
    means = {
        c: float(
            np.mean([r["val_f1_answered_by_seed"][:common] for r in rows if r["candidate"] == c])
        )
        for c in candidates
    }
    chosen = max(means, key=means.get)
    characters = list(dict.fromkeys(r["character"] for r in rows))
    lines = [
        "# Enrolment: the fit and the offers, chosen on validation frames",
        "",
        f"Validation F1 of the new class (train frames outside the pool, unseen by the base; "
        f"test not read), mean over {args.seeds} seeds: from k = {K} positives alone, and after "
        f"{CONFIRM} answers to the offered frames (rounds of 10; the fine-tune row over "
        f"{args.finetune_seeds} seed(s), one round). The choice compares the mean over the first "
        f"{common} seed(s), which every candidate ran. The always-yes F1 for each "
        "character is 2r / (1 + r), r its validation positive rate. See the script's docstring.",
        "",
        "| candidate | "
        + " | ".join(f"{c} (alone / +{CONFIRM})" for c in characters)
        + " | mean +50 |",
        "|---|" + "---|" * (len(characters) + 1),
    ]
    for candidate in candidates:
        cells = []
        for character in characters:
            r = next(r for r in rows if r["character"] == character and r["candidate"] == candidate)
            cells.append(f"{r['val_f1_alone']:.3f} / {r['val_f1_answered']:.3f}")
        mark = "**" if candidate == chosen else ""
        lines.append(
            f"| {mark}{candidate}{mark} | "
            + " | ".join(cells)
            + f" | {mark}{means[candidate]:.3f}{mark} |"
        )
    rates = ", ".join(
        f"{c} {next(r['val_positive_rate'] for r in rows if r['character'] == c)}"
        for c in characters
    )
    lines += ["", f"Validation positive rates: {rates}.", "", f"Chosen: **{chosen}**."]
    payload = {
        "k": K,
        "confirmations": CONFIRM,
        "seeds": args.seeds,
        "chosen": chosen,
        "finetune_seeds": args.finetune_seeds,
        "seeds_compared": common,
        "mean_val_f1_answered": means,
        "rows": rows,
    }
    write_result(
        args.out / "enrol-choice",
        payload,
        "\n".join(lines),
        wall_seconds=time.perf_counter() - started,
    )


if __name__ == "__main__":
    main()
