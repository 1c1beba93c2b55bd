"""A new character from a few examples: enrolment on Kral Sakir, each character in turn.

    python benchmarks/new_character.py            # about an hour on 2 CPU cores; resumes
    python benchmarks/new_character.py --base-recipe cpu   # full-recipe bases: 30 min more each
    python benchmarks/new_character.py --render   # the result files from what has finished

For each of the 4 characters: a base run trained on the train split with that character's
labels withheld (3 classes; ImageNet Lite0 at 112x192; --base-recipe fast: one epoch of the
`fast` recipe over every --base-stride-th train frame, 2: half the split, for CPU time; cpu: the
`cpu` preset, results/cpu-recipe.md's kept row, 27 minutes on every train frame, the one
`--characters` at a time suits), then enrolment of the character
from k = 5, 20, 50 positives drawn at random from the pool, a simulated person answering the
frames `enrol` offers for confirmation (rounds of 10, half nearest the new class's threshold
and half at random, a refit after each, 50 in all), for --seeds seeds. The pool is a fixed
random sample of --pool train frames (their features through the base run computed once); test
frames are never in it.

Settings: `fit_new_class`'s defaults (C = 0.1; positive-unlabelled with the Elkan-Noto
threshold until 5 yes and 5 no, then the labels alone with an out-of-fold threshold) and
`enrol`'s offers, chosen on validation frames by `benchmarks/enrol_choice.py`
(results/enrol-choice.md), never on test. Reported on the test split (3,344 frames): the new
class's F1 with k positives alone and with the confirmations (labels = k + confirmations), and
the old classes' micro-F1 before and after, paired bootstrap over the same test images, from
the enrolled run itself (k = 20, seed 0, written with `write_enrolled_run` and evaluated like
any run). Writes results/new-character.*.

Beside it, the fine-tune method (`enrol --method finetune`, lever 4 of issue 25): for each
character and --finetune-seeds seeds, enrolment from the same k = 20 examples as the read-out's
seed, then again with a simulated person's answers to the 50 frames it offered (one round, as
the command line asks them), each an ordinary run evaluated on test; the old characters'
micro-F1 change with its paired 95% interval resampling whole sequences (`frame_groups`), and
the wall time. Its records are kept apart (finetune.jsonl) with their own commits.

    python benchmarks/new_character.py --base-runs DIR   # DIR/<character>: bases trained
                                                          # elsewhere (the full recipe, a GPU)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from toontag.benchmark.enrolment import (
    CONFIRM,
    ROUND,
    base_features,
    base_options,
    base_run,
    finetune_enrolment,
    pool_rows,
    simulate_enrolment,
)
from toontag.benchmark.provenance import load_average
from toontag.benchmark.results import keep_record, read_records, write_result
from toontag.benchmark.tables import admission_lines, designed_after_test
from toontag.config import preset
from toontag.data.cache import build_cache
from toontag.data.dataset import KRAL_SAKIR_CLASSES, load_dataset
from toontag.data.groups import frame_groups
from toontag.evaluation.bootstrap import BOOTSTRAP_RESAMPLES, bootstrap
from toontag.evaluation.metrics import micro_scores
from toontag.labelling.enrol import write_enrolled_run
from toontag.labelling.finetune import STEPS
from toontag.models.engine import engine_probabilities, load_engine
from toontag.models.trained import load_trained

KS = (5, 20, 50)
GOAL_F1, GOAL_K, GOAL_LOSS = 0.90, 20, 0.005


def paired_old_change(y, before, after, resamples: int, seed: int = 0, groups=None) -> dict:
    """Old classes' micro-F1 after minus before on the same test images, with a paired
    percentile bootstrap (images resampled together), and with `groups` one resampling whole
    sequences too."""

    def change(y, before, after) -> float:
        return micro_scores(y, after)[2] - micro_scores(y, before)[2]

    def interval(by) -> list[float]:
        low, high = bootstrap(change, y, before, after, resamples=resamples, seed=seed, groups=by)
        return [round(float(low), 5), round(float(high), 5)]

    out = {
        "before": round(micro_scores(y, before)[2], 4),
        "after": round(micro_scores(y, after)[2], 4),
        "change": round(change(y, before, after), 5),
        "ci95": interval(None),
        "decisions_changed": int((before != after).sum()),
    }
    return out if groups is None else out | {"ci95_by_sequence": interval(groups)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    base_options(parser)
    parser.add_argument("--ks", default=",".join(map(str, KS)), help="examples the read-out gets")
    parser.add_argument("--test-stride", type=int, default=1, help="every Nth test frame")
    parser.add_argument("--finetune-seeds", type=int, default=1, help="0: no fine-tune rows")
    parser.add_argument("--finetune-steps", type=int, default=STEPS)
    parser.add_argument("--render", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("results"))
    args = parser.parse_args()
    args.ks = tuple(int(k) for k in args.ks.split(","))
    started = time.perf_counter()
    args.work.mkdir(parents=True, exist_ok=True)
    records_path, tuned_path = args.work / "records.jsonl", args.work / "finetune.jsonl"
    done, tuned = read_records(records_path, "character"), read_records(tuned_path, "character")
    if not args.render:
        data = load_dataset(args.data)
        for character in args.characters.split(","):
            todo = character not in done, character not in tuned and args.finetune_seeds > 0
            at = Setting(args, data, character) if any(todo) else None
            if todo[0]:
                done[character] = keep_record(records_path, one_character(args, at))
            if todo[1]:
                tuned[character] = keep_record(tuned_path, one_finetune(args, at))
    render(args, done, tuned, started)


class Setting:
    """What both methods are measured on for one character: its base run, the pool (the
    features of the frames that decoded, and whether each shows the character) and the test
    frames with the base run's ONNX probabilities."""

    def __init__(self, args, data, character: str):
        self.character = character
        train_part = data.subset("train")
        self.base = base_run(args, data, character)
        self.trained = load_trained(self.base)
        k_col = KRAL_SAKIR_CLASSES.index(character)
        pool = pool_rows(len(train_part), args.pool)
        paths = [train_part.samples[r].path for r in pool]
        self.feats, ok = base_features(self.base, self.trained, paths, args, "pool")
        self.pool = [paths[i] for i in ok]
        self.truth = train_part.targets[pool[ok], k_col] > 0.5
        test_rows = np.flatnonzero([s.split == "test" for s in data.samples])[:: args.test_stride]
        test = data.select(test_rows)
        self.test_paths = [s.path for s in test.samples]
        self.test_truth = test.targets[:, k_col] > 0.5
        old_cols = [KRAL_SAKIR_CLASSES.index(c) for c in KRAL_SAKIR_CLASSES if c != character]
        self.y_old = test.targets[:, old_cols] > 0.5
        self.groups = frame_groups(data, test_rows)  # whole sequences of the test frames
        size = self.trained.image_size
        self.cache = build_cache(self.test_paths, size=size, root=args.work / "cache")
        self.rows = np.arange(len(self.test_paths))
        self.before_p = self.probabilities(self.base)  # ONNX, as shipped
        self.before = self.before_p >= np.asarray(self.trained.thresholds)

    def probabilities(self, run: Path) -> np.ndarray:
        return engine_probabilities(load_engine(run), self.cache.images, self.rows)

    def scored(self, run: Path) -> dict:
        """An enrolled `run` on the test frames: the new class's F1 and the old classes'
        micro-F1 change against the base, paired, by frame and by sequence."""
        engine = load_engine(run)
        after_p = engine_probabilities(engine, self.cache.images, self.rows)
        after = after_p[:, :3] >= np.asarray(engine.thresholds[:3])
        change = paired_old_change(
            self.y_old, self.before, after, BOOTSTRAP_RESAMPLES, groups=self.groups
        )
        change["max_probability_difference"] = float(np.abs(after_p[:, :3] - self.before_p).max())
        new_decided = after_p[:, 3] >= engine.thresholds[3]
        return {"new_f1": round(micro_scores(self.test_truth, new_decided)[2], 4), "old": change}


def one_character(args, at: Setting) -> dict:
    start = time.perf_counter()
    character = at.character
    folder = args.work / character
    base, trained, feats, truth = at.base, at.trained, at.feats, at.truth
    base_report = json.loads((base / "report.json").read_text())
    test_feats, test_ok = base_features(base, trained, at.test_paths, args, "test")
    assert len(test_ok) == len(at.test_paths)
    test_truth = at.test_truth
    runs = []
    for k in args.ks:
        for seed in range(args.seeds):
            run = simulate_enrolment(
                feats, truth, k=k, seed=seed, test_feats=test_feats, test_truth=test_truth
            )
            head = run.pop("head")
            runs.append(run)
            if k == GOAL_K and seed == 0:
                enrolled = folder / "enrolled"
                write_enrolled_run(
                    base, enrolled, trained, character, head, {"benchmark": "new_character", "k": k}
                )
    scored = at.scored(folder / "enrolled")  # the old classes through the written run
    return {
        "character": character,
        "pool": len(at.pool),
        "pool_positives": int(truth.sum()),
        "test_positives": int(test_truth.sum()),
        "test_frames": len(at.test_paths),
        "base": base_summary(base, base_report),
        "old_classes": scored["old"],
        "enrolled_run_new_f1": scored["new_f1"],
        "runs": runs,
        "seconds": round(time.perf_counter() - start, 1),
    }


def one_finetune(args, at: Setting) -> dict:
    """The fine-tune method's rows for a character: from GOAL_K examples, alone and with the
    answers, per seed, each enrolled run scored on test."""
    character, runs = at.character, []
    for seed in range(args.finetune_seeds):
        folder = args.work / character / f"finetune-k{GOAL_K}-seed{seed}"
        load_before = load_average()[0]
        said = finetune_enrolment(
            at.base, at.pool, at.truth, character=character, k=GOAL_K, seed=seed, folder=folder,
            cache_root=args.work / "cache", steps=args.finetune_steps,
        )  # fmt: skip
        runs.append(
            {
                "seed": seed,
                "load": [load_before, load_average()[0]],  # 1-min load around the enrolments
                **{
                    stage: {
                        **at.scored(folder / stage),
                        "seconds": said[stage]["seconds"],
                        "guard": said[stage]["guard"],
                        "phases": said[stage]["phases"],
                    }
                    for stage in ("alone", "confirmed")
                },
            }
        )
    report = json.loads((at.base / "report.json").read_text())
    return {
        "character": character,
        "k": GOAL_K,
        "confirmations": CONFIRM,
        "base": base_summary(at.base, report),
        "test_frames": len(at.test_paths),
        "runs": runs,
    }


def base_summary(base: Path, report: dict) -> dict:
    return {
        "run": str(base),
        "minutes": round(report["fit_seconds"] / 60, 1),
        "epochs": report["epochs_run"],
        "val_f1": round(report["val_metrics"]["f1_micro"], 4),
    }


def render(args, done: dict, tuned: dict, started: float) -> None:
    test_size = len(load_dataset(args.data).subset("test"))
    ks = sorted({x["k"] for r in done.values() for x in r["runs"]})
    table, goal_rows = [], []
    for character, r in done.items():
        row = {"character": character, "old_change": r["old_classes"]}
        for k in ks:
            runs = [x for x in r["runs"] if x["k"] == k]
            first = [x["steps"][0]["test_f1"] for x in runs]
            last = [x["steps"][-1]["test_f1"] for x in runs]
            row[k] = {
                "alone": round(float(np.mean(first)), 4),
                "alone_range": [min(first), max(first)],
                "confirmed": round(float(np.mean(last)), 4),
                "confirmed_range": [min(last), max(last)],
                "labels": runs[0]["steps"][-1]["labels"],
                "seeds": len(runs),
            }
        goal_rows.append(
            row[GOAL_K]["confirmed"] >= GOAL_F1 and -r["old_classes"]["change"] <= GOAL_LOSS
        )
        table.append(row)
    lines = [
        "# A new character from a few examples (enrolment)",
        "",
        "Each character in turn is withheld from a 3-class base run ("
        + (
            f"trained elsewhere: {args.base_runs}/<character>, its recipe in each record"
            if args.base_runs
            else "ImageNet Lite0 112x192, the `cpu` preset (results/cpu-recipe.md's kept row: "
            "`fast` with label smoothing 0.1, the cosine over "
            f"{args.base_minutes or preset('cpu').max_minutes:g} minutes of fitting) on every "
            "train frame"
            if args.base_recipe == "cpu"
            else "ImageNet Lite0 112x192, `fast` recipe, one epoch over one train frame in "
            f"{args.base_stride}"
        )
        + "), then enrolled "
        "with `fit_new_class` on the base run's pooled features as `enrol` does it (from the "
        "k examples alone: positive-unlabelled; once answers give 5 yes and 5 no: the examples "
        "and answers alone, threshold tuned out of fold; offers half nearest the threshold, half "
        "at random; chosen on validation, results/enrol-choice.md). New class test F1, mean over "
        "seeds (min-max): from k positives alone, and after 50 confirmations a person answered "
        "(labels = k + 50); always-yes: the F1 of calling every frame positive, for scale. Old "
        "classes: micro-F1 on test before and after (the enrolled run at k = 20, seed 0), "
        "paired bootstrap 95% CI of the change.",
        "",
        "| character | base val F1 | always-yes | "
        + " | ".join(f"k={k}: alone | k={k} + {CONFIRM}" for k in ks)
        + " | old micro-F1 before -> after"
        " | change [CI] | old decisions changed |",
        "|---|---|---|" + "---|---|" * len(ks) + "---|---|---|",
    ]
    for row in table:
        r = done[row["character"]]
        cells = " | ".join(
            f"{row[k]['alone']:.3f} ({row[k]['alone_range'][0]:.2f}-{row[k]['alone_range'][1]:.2f})"
            f" | **{row[k]['confirmed']:.3f}** ({row[k]['confirmed_range'][0]:.2f}-"
            f"{row[k]['confirmed_range'][1]:.2f})"
            for k in ks
        )
        old = r["old_classes"]
        rate = r["test_positives"] / r.get("test_frames", test_size)
        row["always_yes_f1"] = round(2 * rate / (1 + rate), 4)
        lines.append(
            f"| {row['character']} | {r['base']['val_f1']:.3f} | {row['always_yes_f1']:.3f} | "
            f"{cells} | {old['before']:.4f} "
            f"-> {old['after']:.4f} | {old['change']:+.5f} [{old['ci95'][0]:+.5f}, "
            f"{old['ci95'][1]:+.5f}]"
            + (
                f", by sequence [{old['ci95_by_sequence'][0]:+.5f}, "
                f"{old['ci95_by_sequence'][1]:+.5f}]"
                if "ci95_by_sequence" in old
                else " (by frame only)"
            )
            + f" | {old['decisions_changed']} |"
        )
    met = all(goal_rows) and len(goal_rows) == len(KRAL_SAKIR_CLASSES)
    missing = [c for c in KRAL_SAKIR_CLASSES if c not in done]
    lines += [
        "",
        f"Not run yet: {', '.join(missing)}." if missing else "Every character has run.",
        "",
        f"Goal: new character F1 >= {GOAL_F1} from {GOAL_K} positives plus at most {CONFIRM} "
        f"confirmations, old classes losing <= {GOAL_LOSS}: "
        + ", ".join(f"{row['character']} {row[GOAL_K]['confirmed']:.3f}" for row in table)
        + f" - **met** for {sum(goal_rows)} of {len(KRAL_SAKIR_CLASSES)} characters"
        + (" (the goal)." if met else " (**not met**)."),
    ]
    lines += finetune_lines(done, tuned)
    commits = sorted({r["commit"][:7] for r in [*done.values(), *tuned.values()] if "commit" in r})
    lines += ["", f"The rows were computed at commit {', '.join(commits) or 'unknown'} (records)."]
    admitted = designed_after_test(args.out / "new-character.json")
    lines += admission_lines(admitted)
    payload = {
        "goals": {"new_f1": GOAL_F1, "k": GOAL_K, "confirmations": CONFIRM, "old_loss": GOAL_LOSS},
        "settings": {
            "pool": args.pool,
            "base_recipe": None if args.base_runs else args.base_recipe,
            "base_minutes": args.base_minutes,
            "base_stride": args.base_stride,
            "confirm_round": ROUND,
            "base_runs": None if args.base_runs is None else str(args.base_runs),
            "test_stride": args.test_stride,
        },
        **admitted,
        "table": table,
        "characters": done,
        "finetune": tuned,
    }
    write_result(
        args.out / "new-character",
        payload,
        "\n".join(lines),
        wall_seconds=time.perf_counter() - started,
        rendered=args.render,  # each run's figures carry the commit that computed them
    )


def finetune_lines(done: dict, tuned: dict) -> list[str]:
    """The fine-tune method's table beside the linear read-out's row at k = GOAL_K, and the
    old characters' goal of lever 4: the lower bound of the paired by-sequence interval of
    their micro-F1 change at least -GOAL_LOSS."""
    if not tuned:
        return ["", "The fine-tune method has not run yet (--finetune-seeds)."]
    lines = [
        "",
        "## Fine-tuning the top of the backbone (`enrol --method finetune`)",
        "",
        f"From the same {GOAL_K} examples as the read-out's first seed, alone and after the "
        f"{CONFIRM} frames it offered were answered (one round, as the command line asks); "
        "each an ordinary run scored on test. Old characters: micro-F1 change on test against "
        "the base (after answers), paired 95% interval by whole sequences. Linear read-out: the "
        f"table above at k = {GOAL_K} (answers in rounds of {ROUND}).",
        "",
        "| character | method | alone | + answers | old change | by-sequence 95% CI | seconds "
        "(alone, + answers) | answers kept |",
        "|---|---|---|---|---|---|---|---|",
    ]
    held = []
    for character, r in tuned.items():
        if character in done:
            linear = done[character]
            runs = [x for x in linear["runs"] if x["k"] == GOAL_K]
            old = linear["old_classes"]
            first = np.mean([x["steps"][0]["test_f1"] for x in runs])
            last = np.mean([x["steps"][-1]["test_f1"] for x in runs])
            lines.append(
                f"| {character} | linear read-out | {first:.3f} | {last:.3f} | "
                f"{old['change']:+.5f} | {_interval(old)} | | |"
            )
        alone = [x["alone"] for x in r["runs"]]
        after = [x["confirmed"] for x in r["runs"]]
        old = after[0]["old"]
        kept = [(x["guard"] or {}).get("kept", "") for x in after]
        held.append(old.get("ci95_by_sequence", [float("nan")])[0] >= -GOAL_LOSS)
        lines.append(
            f"| {character} | fine-tune | {np.mean([x['new_f1'] for x in alone]):.3f} | "
            f"{np.mean([x['new_f1'] for x in after]):.3f} | {old['change']:+.5f} | "
            f"{_interval(old)} | {np.mean([x['seconds'] for x in alone]):.0f}, "
            f"{np.mean([x['seconds'] for x in after]):.0f} | {', '.join(kept)} |"
        )
    lines += [
        "",
        f"Old characters kept (lower bound of the by-sequence interval >= {-GOAL_LOSS}) by the "
        f"fine-tune for {sum(held)} of {len(held)} characters run.",
    ]
    return lines


def _interval(old: dict) -> str:
    low, high = old.get("ci95_by_sequence", old["ci95"])
    return f"[{low:+.5f}, {high:+.5f}]" + ("" if "ci95_by_sequence" in old else " (by frame)")


if __name__ == "__main__":
    main()
