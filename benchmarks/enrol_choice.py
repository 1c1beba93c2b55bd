"""How `enrol` fits a new class and which old frames it offers, chosen on validation frames.

    python benchmarks/enrol_choice.py --characters kral_sakir,remzi,fil_necati,canan

For each character, the 3-class base run of `benchmarks/new_character.py` (trained without it,
shared with that benchmark) and its pool (the same fixed random sample of train frames); the
frames scored are validation frames: a random sample of train frames outside the pool that the
base never trained on (its stride skipped them). The test split is not read. A simulated
person enrols the character from k = 20 random positives of the pool and answers 50 offered
frames in rounds of 10 (a refit after each), for --seeds seeds. Candidates:

- fit: positive-unlabelled throughout (Elkan and Noto; the person's "no" answers are unlabelled
  negatives of that fit), or the supervised fit on the examples and answers alone once there are
  5 yes and 5 no (`fit_new_class`'s rule);
- offers: the frames nearest the threshold, or half nearest and half at random.

The candidate with the highest mean validation F1 after 50 answers is what `enrol` ships.
Writes results/enrol-choice.json and .md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from toontag.benchmark.enrolment import (
    CONFIRM,
    base_features,
    base_options,
    base_run,
    pool_rows,
    simulate_enrolment,
)
from toontag.benchmark.results import write_result
from toontag.data.dataset import KRAL_SAKIR_CLASSES, load_dataset
from toontag.models.trained import load_trained

K = 20
CANDIDATES = {  # name: (share of offers drawn at random, yes and no the supervised fit needs)
    "positive-unlabelled, nearest": (0.0, 10**9),
    "positive-unlabelled, half random": (0.5, 10**9),
    "answers alone, nearest": (0.0, None),
    "answers alone, half random": (0.5, None),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    base_options(parser)  # as benchmarks/new_character.py's
    parser.add_argument("--validation", type=int, default=1500, help="frames scored")
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
        unseen = np.setdiff1d(np.arange(len(train)), np.arange(0, len(train), args.base_stride))
        outside = np.setdiff1d(unseen, pool)
        val = np.sort(np.random.default_rng(1).choice(outside, args.validation, replace=False))
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
            curve = np.mean(curves, axis=0)
            rows.append(
                {
                    "character": character,
                    "candidate": candidate,
                    "val_f1_alone": round(float(curve[0]), 4),
                    "val_f1_answered": round(float(curve[-1]), 4),
                    "val_f1_by_round": [round(float(v), 4) for v in curve],
                    "val_positive_rate": round(float(feats["validation"][1].mean()), 3),
                }
            )
            print(rows[-1], flush=True)
    means = {
        c: float(np.mean([r["val_f1_answered"] for r in rows if r["candidate"] == c]))
        for c in CANDIDATES
    }
    chosen = max(means, key=means.get)
    characters = list(dict.fromkeys(r["character"] for r in rows))
    lines = [
        "# Enrolment: the fit and the offers, chosen on validation frames",
        "",
        f"Validation F1 of the new class (train frames outside the pool, unseen by the base; "
        f"test not read), mean over {args.seeds} seeds: from k = {K} positives alone, and after "
        f"{CONFIRM} answers to the offered frames (rounds of 10). The always-yes F1 for each "
        "character is 2r / (1 + r), r its validation positive rate. See the script's docstring.",
        "",
        "| candidate | "
        + " | ".join(f"{c} (alone / +{CONFIRM})" for c in characters)
        + " | mean +50 |",
        "|---|" + "---|" * (len(characters) + 1),
    ]
    for candidate in CANDIDATES:
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
