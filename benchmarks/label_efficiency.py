"""Label efficiency on Kral Sakir: test micro-F1 against the number of labels a person gave.

    python benchmarks/label_efficiency.py            # hours on 2 CPU cores; resumes
    python benchmarks/label_efficiency.py --render   # the result files from what has finished
    python benchmarks/label_efficiency.py --orders orders.json --shard 0/6 --records r0.jsonl
        # one of 6 processes sharing a GPU: the trained rows only, in the picking orders the
        # full run saved (the head rows and the active orders need the cached pool features)

A person is simulated by the true labels of the train split, which is the pool (its labels
withheld until asked for); test frames are never in it. A budget of N labels holds the common
validation sample first: for each seed a fixed random sample of the pool, one frame from each
of 20% of N shots (runs of consecutive frame ids) drawn in a seeded order, the same frames for
every variant and policy, whose shots no policy ever picks. The rest of the budget is the first
frames a policy picks for training, in batches of 25 from the pool outside those shots:
`random` (a seeded permutation) or `active` (the label server's queue: coverage batches until
the head has fitted, then uncertainty near each class's threshold, kept diverse; the head
refitted after every batch). Every human label a variant uses is among the budget's:

- ``head``: the label server's head (logistic regression on cached ImageNet Lite0 features at
  112x192) fitted on the picked frames, thresholds from out-of-fold predictions among them.
- ``finetune``: `toontag train` on the picked frames, validated on the common sample (best
  checkpoint, thresholds tuned there): ImageNet Lite0 at 112x192, the `fast` recipe (AdamW
  5e-4, warm-up and cosine, flips and crops), about 4,800 images seen.
- ``selftrain``: that fine-tuned run as the teacher of `train_with_unlabelled`: up to 3,000
  confident pseudo-labels from the pool outside the budget and the validation shots, a student
  with the same recipe (about 3 epochs over labels + pseudo-labels), the teacher's validation
  frames (the common sample) for validation.
- ``+adapted`` (a lever on any of them): the backbone adapted to the show first, once per
  pool (`toontag label adapt`: shot-contrastive training of its top on every pool frame,
  unlabelled, `--adapt-steps`): the head's features are that backbone's, a fine-tune
  starts from it, and the `active` policy picks on its features.
- ``+propagate``: the picked frames' answers extend to the other frames of their shots
  (`labelling/propagate.py`; never into a validation shot) where the label page's head, fitted
  on the picked frames on the run's features, agrees or the frame is a still copy: weak rows
  at half weight, counted in no budget, never validating; the run sees as many images as a
  self-trained student (about 3 epochs), not 15 epochs of the grown set.
- ``consistency``: the same, but the 3,000 pool frames (drawn at random) join the student's
  training with every class unknown and a FixMatch-style consistency loss (weight 1, decisions
  at 0.95 on the weak view; `--set consistency=1`) instead of the teacher's pseudo-labels.

Settings are those above (the result file says which were fixed after a test figure had
been seen). At each budget the variant and policy are chosen by
micro-F1 at 0.5 on the common sample only (mean over seeds; a cell that lacks a seed, or whose
runs were validated on their own frames before the common sample existed, is shown, not
chosen), never test; every trained model is then evaluated once on the test split (3,344
frames; 95% bootstrap CIs). A cell of the table holds the runs of one device at one commit;
runs elsewhere are another cell. Each finished run is one line of ``WORK/records.jsonl`` with
its own commit and device; a rerun skips those lines.
Writes results/label-efficiency.json, .md and .png.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from toontag.benchmark.efficiency import (
    COMMON,
    choose,
    record_key,
    summarise,
    trained_at,
    unchosen,
)
from toontag.benchmark.harness import write_manifest
from toontag.benchmark.results import keep_record, read_records, started_commit, write_result
from toontag.benchmark.simulated import (
    common_validation,
    pick_order,
    runs_of_ids,
    validation_size,
)
from toontag.benchmark.tables import admission_lines, designed_after_test
from toontag.config import TrainConfig, preset
from toontag.data.cache import build_cache
from toontag.data.dataset import KRAL_SAKIR_CLASSES, load_dataset
from toontag.data.groups import frame_groups
from toontag.data.split import SOURCE_SIZE, thumbnails
from toontag.evaluation.metrics import fmt, micro_scores, multilabel_metrics
from toontag.labelling.adapted import adapt_pool, adapted_weights
from toontag.labelling.features import pool_features
from toontag.labelling.head import fit_head
from toontag.labelling.propagate import propagate
from toontag.labelling.recommended import PSEUDO_LIMIT
from toontag.labelling.unlabelled import train_with_unlabelled
from toontag.labelling.weak_manifest import weak_recipe
from toontag.models.engine import engine_probabilities, load_engine
from toontag.runs import mark_run
from toontag.training.adapt import AdaptSettings
from toontag.training.run import device_name, train_or_resume

BATCH = 25  # frames per labelling batch
HEAD_BUDGETS = (25, 50, 100, 200, 400, 800)
TUNE_BUDGETS = (50, 100, 200, 400)
SELF_BUDGETS = (100, 400)
SELF_POLICY = "active"  # fixed in advance: self-training starts from the active runs
POLICIES = ("random", "active")
LABELS = preset("labels")  # `train --data PROJECT`'s recipe
IMAGE_SIZE = LABELS.image_size
SEEN = LABELS.images_seen  # images a fine-tuning run sees (>= 15 epochs)
STUDENT_SEEN = weak_recipe(LABELS).images_seen  # a self-trained student's, a weak run's
TRAINED = ("finetune", "selftrain", "consistency")
ADAPTED = "adapted"  # a lever: "finetune+adapted" starts from the pool's show-adapted backbone
PROPAGATE = "propagate"  # a lever: the picked frames' answers extend within their shots
CORES_BUSY = 1.0  # half this machine's cores: a load above it means other work ran beside
ADAPT_STEPS = 64  # the pool's adaptation (once, seed 0): 64 steps of 256 shot pairs, ~10 min
HEAD_RESAMPLES = 200  # bootstrap resamples of a head row's CI (17 s per 1,000 here)
GOAL = 0.95  # test micro-F1 at <= 400 labels
ALL_LABELS = "results/cpu-lite0-112x192.json"  # fine-tuning on every train label (issue 13)
PUBLISHED = Path("results/label-efficiency.json")  # what it admits is carried into a rendering


def recipe(seed: int, weights: Path | None = None, *, weak: bool = False) -> TrainConfig:
    """The fixed recipe, `train --data PROJECT`'s ("labels": 4,800 images seen, 15 epochs
    at least; with weak or pseudo-labelled rows twice that, 3 epochs at least); `weights`:
    start from that backbone (the adapted one), not ImageNet's."""
    config = preset("labels").replace(seed=seed, weights=None if weights is None else str(weights))
    return weak_recipe(config) if weak else config


def folder_name(variant: str, policy: str, budget: int, seed: int) -> str:
    """A run's folder under WORK: one per levers, policy, budget and seed, holding the
    fine-tuned run (`teacher`) and the self-trained students that start from it."""
    extra = "".join(f"-{lever}" for lever in sorted(levers(variant)))
    return f"{policy}-{budget}-s{seed}-{COMMON}{extra}"


def test_figures(metrics: dict) -> dict:
    figures = {
        "test_f1": round(metrics["f1_micro"], 4),
        "test_ci95": [round(v, 4) for v in metrics["ci95"]["f1_micro"]],
    }
    if "ci95_by_sequence" in metrics:  # whole test sequences resampled: the honest interval
        by_sequence = metrics["ci95_by_sequence"]
        figures["test_ci95_by_sequence"] = [round(v, 4) for v in by_sequence["f1_micro"]]
        figures["test_sequences"] = by_sequence["sequences"]
    return figures


def test_groups(data) -> np.ndarray:
    """Each test frame's sequence over the dataset's whole timeline, in the test split's order
    (`data.groups.frame_groups`): what the test intervals resample."""
    return frame_groups(data, np.flatnonzero([s.split == "test" for s in data.samples]))


def test_metrics(run: Path, test_part, cache: Path, seed: int, groups=None) -> dict:
    """The run on the test split, once: ONNX Runtime (the shipped CPU engine) at the run's
    thresholds, 95% bootstrap CIs."""
    engine = load_engine(run)
    images = build_cache([s.path for s in test_part.samples], size=engine.image_size, root=cache)
    assert len(images.ok) == len(test_part) and tuple(engine.classes) == KRAL_SAKIR_CLASSES
    probs = engine_probabilities(engine, images.images, images.ok)
    return multilabel_metrics(
        test_part.targets, probs, KRAL_SAKIR_CLASSES, engine.thresholds, seed=seed, groups=groups
    )


def finetune(
    run: Path, train, validation, seed: int, cache: Path, weights=None, weak: bool = False
) -> dict:
    """`toontag train` on the `train` samples, validated on the `validation` ones, from the
    backbone in `weights` where given. With `weak` rows among `train` (propagated) the run sees
    as many images as a self-trained student (`STUDENT_SEEN`, 3 epochs at least), not 15
    epochs of them all."""
    samples = [replace(s, split="train") for s in train] + [
        replace(s, split="val") for s in validation
    ]
    manifest = write_manifest(run.parent / f"{run.name}.csv", samples)
    config = recipe(seed, weights, weak=weak)
    return train_or_resume(
        config, data=manifest, run=run, cache_root=cache, progress=False, classes=KRAL_SAKIR_CLASSES
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/kral_sakir"))
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache/toontag/labelling")
    parser.add_argument("--work", type=Path, default=Path.home() / ".cache/toontag/label-eff")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--render", action="store_true", help="only write the result files")
    parser.add_argument("--variants", default=",".join(TRAINED), help="trained variants to run")
    parser.add_argument(
        "--orders",
        type=Path,
        help="the picking orders: read if it exists "
        "(then only trained rows run), else written once they are picked",
    )
    parser.add_argument("--shard", default="0/1", help="I/N: process I's share of the trained rows")
    parser.add_argument("--budgets", help="only these budgets (comma-separated), e.g. 100,400")
    parser.add_argument("--policies", default=",".join(POLICIES), help="picking policies to run")
    parser.add_argument(
        "--adapt-steps",
        type=int,
        default=ADAPT_STEPS,
        help="steps of the pool's show-adapted backbone (+adapted variants): a count, not a "
        "time, so that a busy machine adapts it as far",
    )
    parser.add_argument(
        "--records",
        type=Path,
        help="append finished rows here "
        "(default WORK/records.jsonl, which is read for the rows done either way)",
    )
    parser.add_argument(
        "--again",
        action="store_true",
        help="rerun the selected trained rows at this commit where their records are of "
        "another (so that one cell holds all its seeds); the new records' keys name their "
        "commit and the older rows stay in the table",
    )
    parser.add_argument("--out", type=Path, default=Path("results"))
    args = parser.parse_args()
    started = time.perf_counter()
    data = load_dataset(args.data)
    train_part, test_part = data.subset("train"), data.subset("test")
    args.work.mkdir(parents=True, exist_ok=True)
    records_path = args.records or args.work / "records.jsonl"
    done = read_records(args.work / "records.jsonl", "key") | read_records(records_path, "key")
    if PUBLISHED.is_file():  # rows published before (elsewhere): shown beside this machine's
        published = json.loads(PUBLISHED.read_text())
        adaptation = [published["adaptation"]] if published.get("adaptation") else []
        done = {r["key"]: r for r in published.get("runs", []) + adaptation} | done
    if not args.render:
        args.test_groups = test_groups(data)
        run_all(args, train_part, test_part, done, records_path)
    render(args, done, len(train_part), len(test_part), started)


def wanted(args, name: str, everything) -> list:
    """`everything` filtered by the comma-separated option `name` (all when it is unset)."""
    value = getattr(args, name)
    if not value:
        return list(everything)
    picked = {type(next(iter(everything)))(v) for v in value.split(",")}
    return [v for v in everything if v in picked]


def levers(variant: str) -> set[str]:
    """The levers a variant adds to its method: "finetune+adapted" -> {"adapted"}."""
    return set(variant.split("+")[1:])


def run_all(args, train_part, test_part, done: dict, records_path: Path) -> None:
    def keep(record: dict) -> None:
        load = round(os.getloadavg()[0], 2)  # a run's seconds are its own only when it is low
        done[record["key"]] = keep_record(records_path, record, device=device_name(), load=load)

    ids = [s.frame_id for s in train_part.samples]
    groups = runs_of_ids(np.array(ids))
    validations = {
        seed: common_validation(groups, largest_budget=max(HEAD_BUDGETS), seed=seed)
        for seed in range(args.seeds)
    }
    frames = {str(seed): v.frames.tolist() for seed, v in validations.items()}
    kinds = {"imagenet": None}
    if any(ADAPTED in levers(v) for v in args.variants.split(",")):
        kinds["adapted"] = adapted_backbone(args, train_part, groups, done, keep)
    orders = {}
    if args.orders and args.orders.is_file():
        saved = json.loads(args.orders.read_text())
        if saved["pool_ids"] != ids or saved.get("validation") != frames:
            raise SystemExit(f"{args.orders}: made for another pool or validation sample")
        orders["imagenet"] = {
            (policy, seed): np.array(saved["orders"][f"{policy}/{seed}"])
            for policy in POLICIES
            for seed in range(args.seeds)
        }
    for kind, weights in kinds.items():
        if kind not in orders:
            orders[kind] = pick_head_rows(
                args, train_part, test_part, done, keep, groups, validations, kind, weights
            )
    if args.orders and not args.orders.is_file():
        picked = {f"{p}/{s}": order.tolist() for (p, s), order in orders["imagenet"].items()}
        args.orders.write_text(
            json.dumps({"pool_ids": ids, "validation": frames, "orders": picked})
        )
    train_rows(args, train_part, test_part, done, keep, orders, validations, kinds, groups)


def adapted_backbone(args, train_part, groups, done: dict, keep) -> Path:
    """The pool's show-adapted backbone (made once, seed 0, `--adapt-steps` of training on
    every pool frame, unlabelled; the test split is not in the pool), kept in WORK/adapted;
    its making is a record of its own."""
    out = args.work / "adapted"
    weights = adapted_weights(out)
    if weights is not None and "adapt/pool" in done:
        return weights
    info = adapt_pool(
        [s.path for s in train_part.samples],
        groups,
        cache=args.cache,
        out=out,
        image_size=IMAGE_SIZE,
        settings=AdaptSettings(max_steps=args.adapt_steps, seed=0),
    )
    keep({"key": "adapt/pool", "variant": "adapt", **info})
    return adapted_weights(out)


def pick_head_rows(
    args, train_part, test_part, done: dict, keep, groups, validations, kind: str, weights
) -> dict:
    """Each policy's and seed's picking order (outside the validation shots) on `kind`
    features (ImageNet's, or the adapted backbone's in `weights`), and the head rows over the
    budgets, validated on the common sample."""
    features = pool_features([s.path for s in train_part.samples], args.cache, weights=weights)
    features = features.features
    test_paths = [s.path for s in test_part.samples]
    test_features = pool_features(test_paths, args.cache, weights=weights).features
    variant = "head" if weights is None else f"head+{ADAPTED}"
    targets = train_part.targets
    largest = max(HEAD_BUDGETS)
    orders = {}
    for seed in range(args.seeds):
        validation = validations[seed]
        for policy in wanted(args, "policies", POLICIES):
            start = time.perf_counter()
            orders[policy, seed] = pick_order(
                policy,
                features,
                targets,
                groups,
                allowed=~validation.reserved,
                budget=largest - validation_size(largest),
                batch=BATCH,
                seed=seed,
            )
            pick_s = time.perf_counter() - start
            for budget in wanted(args, "budgets", HEAD_BUDGETS):
                key = record_key(variant, policy, budget, seed)
                if key in done:
                    continue
                val, rows = validation.split(orders[policy, seed], budget)
                head = fit_head(features, rows, targets[rows], groups=groups[rows], seed=seed)
                decided = head.probabilities(features[val]) >= 0.5
                metrics = multilabel_metrics(
                    test_part.targets,
                    head.probabilities(test_features),
                    KRAL_SAKIR_CLASSES,
                    head.thresholds,
                    resamples=HEAD_RESAMPLES,
                    seed=seed,
                    groups=args.test_groups,
                )
                keep(
                    {
                        "key": key,
                        "variant": variant,
                        "policy": policy,
                        "budget": budget,
                        "seed": seed,
                        "validation": COMMON,
                        "val_images": len(val),
                        "val_f1": round(micro_scores(targets[val], decided)[2], 4),
                        "oof_estimate": head.estimate and head.estimate.f1_micro,
                        "pick_seconds": round(pick_s, 1),
                        **test_figures(metrics),
                    }
                )
    reference = f"{variant}/all"
    if reference not in done and not args.budgets:  # every label, nothing held out, not chosen
        everything = np.arange(len(targets))
        head = fit_head(features, everything, targets, groups=groups)
        metrics = multilabel_metrics(
            test_part.targets,
            head.probabilities(test_features),
            KRAL_SAKIR_CLASSES,
            head.thresholds,
        )
        keep(
            {
                "key": reference,
                "variant": variant,
                "policy": "all",
                "budget": len(targets),
                "seed": 0,
                **test_figures(metrics),
            }
        )
    return orders


def train_rows(
    args, train_part, test_part, done: dict, keep, orders: dict, validations, kinds: dict, groups
) -> None:
    """The fine-tuned and self-trained rows; a shard takes whole (policy, budget, seed) folders,
    so a self-trained row and its teacher's fine-tuned row run in one process."""
    # The order of the runs: the headline budget first, so that a cut-off keeps the most.
    plan = []
    budgets = wanted(args, "budgets", TUNE_BUDGETS)
    policies = wanted(args, "policies", POLICIES)
    for budget in sorted(budgets, key=lambda b: (b != max(budgets), b)):
        for seed in range(args.seeds):
            for variant in args.variants.split(","):
                method = variant.split("+")[0]
                if method == "finetune":
                    plan += [(variant, policy, budget, seed) for policy in policies]
                elif method in TRAINED and (budget in SELF_BUDGETS or args.budgets):
                    plan += [(variant, p, budget, seed) for p in policies if p == SELF_POLICY]
    plan = [row for row in plan if run_key(args, *row) not in done]
    shard, shards = map(int, args.shard.split("/"))
    mine = shard_folders(plan, shards)[shard]
    cache = args.work / "cache"
    for variant, policy, budget, seed in plan:
        if folder_name(variant, policy, budget, seed) not in mine:
            continue
        start = time.perf_counter()
        kind = "adapted" if ADAPTED in levers(variant) else "imagenet"
        weights = kinds[kind]
        val, rows = validations[seed].split(orders[kind][policy, seed], budget)
        train = [train_part.samples[r] for r in rows]
        validation = [train_part.samples[r] for r in val]
        weak = {}
        if PROPAGATE in levers(variant):
            train, weak = propagated(args, train_part, rows, validations[seed], groups, weights)
        folder = args.work / folder_name(variant, policy, budget, seed)
        method = variant.split("+")[0]
        if method == "finetune":
            run = folder / "teacher"  # the self-trained student's teacher, when there is one
            report = finetune(run, train, validation, seed, cache, weights, weak=bool(weak))
        else:
            teacher = folder / "teacher"
            mark_run(folder)  # the students' run, holding their teacher and its manifest
            # the finetune row's run
            finetune(teacher, train, validation, seed, cache, weights, weak=bool(weak))
            # Unlabelled: the pool outside the budget and the validation shots, so that no
            # student trains on a shot-mate of a frame it is chosen by.
            outside = ~validations[seed].reserved
            outside[rows] = False
            pool = [train_part.samples[r].path for r in np.flatnonzero(outside)]
            student = recipe(seed, weights, weak=True)
            private = folder / "cache"  # the pseudo-labelled frames' caches, deleted after
            run = folder
            if method == "consistency":  # FixMatch-style; the same teacher gives validation
                student = student.replace(consistency=1.0)
                run = folder / "consistency"
            report = train_with_unlabelled(
                student,
                data=teacher.parent / "teacher.csv",
                run=run,
                teacher=teacher,
                unlabelled=pool,
                student=student,
                limit=PSEUDO_LIMIT,
                cache_root=private,
                progress=False,
                classes=KRAL_SAKIR_CLASSES,
            )
            shutil.rmtree(private, ignore_errors=True)
        metrics = test_metrics(run, test_part, cache, seed, args.test_groups)
        record = {
            "key": run_key(args, variant, policy, budget, seed),
            "variant": variant,
            "policy": policy,
            "budget": budget,
            "seed": seed,
            "validation": COMMON,
            "val_f1": round(report["val_metrics"]["f1_micro"], 4),
            "train_images": report["train_images"],
            "val_images": report["val_images"],
            "epochs": report["epochs_run"],
            "fit_seconds": report["fit_seconds"],
            "seconds": round(time.perf_counter() - start, 1),
            **test_figures(metrics),
        }
        if weak:
            record["propagation"] = weak
        if method in ("selftrain", "consistency"):
            record["pseudo_labels"] = report["pseudo_labels"]
        keep(record)


def run_key(args, variant: str, policy: str, budget: int, seed: int) -> str:
    """A trained row's record key; with `--again`, one that names this process's commit."""
    key = record_key(variant, policy, budget, seed)
    return f"{key}@{started_commit()[:12]}" if args.again else key


@functools.cache
def pool_thumbnails(paths: tuple, cache: Path) -> np.ndarray:
    """The pool's 14x24 thumbnails for the still rule: made once a process, not once a run."""
    return thumbnails(build_cache(list(paths), size=SOURCE_SIZE, root=cache).images)


def propagated(args, train_part, rows, validation, groups, weights) -> tuple[list, dict]:
    """The picked samples and their weak shot-mates (`labelling/propagate.py`): the answers
    of `rows` extended within their shots (never into a validation shot) where the label
    page's head, fitted on `rows` alone on the run's features, agrees or the frame is a still
    copy; the weak ones with their weight, and what `propagate` says it added."""
    paths = [s.path for s in train_part.samples]
    features = pool_features(paths, args.cache, weights=weights).features
    targets = train_part.targets
    head = fit_head(features, rows, targets[rows], groups=groups[rows], seed=0)
    decisions = head.probabilities(features) >= np.asarray(head.thresholds)
    thumbs = pool_thumbnails(tuple(paths), args.work / "cache")
    weak = propagate(
        groups,
        rows,
        targets[rows],
        np.ones_like(targets[rows], dtype=bool),
        decisions,
        times=np.array([s.frame_id for s in train_part.samples]),
        thumbs=thumbs,
        exclude_groups=np.unique(groups[validation.reserved]),
    )
    names = KRAL_SAKIR_CLASSES
    extra = [
        replace(
            train_part.samples[r],
            labels=tuple(c for c, t in zip(names, target, strict=True) if t > 0.5),
            weight=float(w),
        )
        for r, target, w in zip(weak.rows, weak.targets, weak.weights, strict=True)
    ]
    return [train_part.samples[r] for r in rows] + extra, weak.summary(groups)


def shard_folders(plan: list, shards: int) -> list[set]:
    """The run folders (`folder_name`) of `plan` dealt out to `shards` processes, the
    costliest first to the least loaded (a self-trained row costs about twice a fine-tuned one;
    small budgets run more epochs). Every process computes the same deal from the same plan."""
    cost: dict = {}
    for variant, policy, budget, seed in plan:
        epochs = LABELS.for_rows(budget - validation_size(budget)).max_epochs
        runs = 1 + epochs / 60 if variant.startswith("finetune") else 2.5
        folder = folder_name(variant, policy, budget, seed)
        cost[folder] = cost.get(folder, 0) + runs
    loads, deal = [0.0] * shards, [set() for _ in range(shards)]
    for folder in sorted(cost, key=lambda f: -cost[f]):  # stable: plan order among equals
        least = loads.index(min(loads))
        deal[least].add(folder)
        loads[least] += cost[folder]
    return deal


def render(args, done: dict, pool_size: int, test_size: int, started: float) -> None:
    args.out.mkdir(parents=True, exist_ok=True)
    records = [r for r in done.values() if r.get("variant") != "adapt"]
    adapt = done.get("adapt/pool")
    summary = summarise(records)
    chosen = choose(summary, seeds=args.seeds)
    all_labels = json.loads(Path(ALL_LABELS).read_text()) if Path(ALL_LABELS).is_file() else None
    headline = [s for s in summary if s["chosen"] and s["budget"] <= 400]
    met = [s for s in headline if s["test_f1"] >= GOAL]
    lines = [
        "# Label efficiency on Kral Sakir",
        "",
        f"A person simulated by the true labels: the pool is the train split ({pool_size:,} "
        f"frames), the test split ({test_size:,} frames) is never in it and is touched once per "
        "trained model. A budget counts every label used (training, validation, thresholds): "
        f"{validation_size(100)} in 100 are the common validation sample (per seed, the same "
        "frames for every variant and policy, one frame per shot, their shots never picked to "
        "train). Mean test micro-F1 over seeds (min-max), and the 95% bootstrap CI of seed 0. "
        "Validation micro-F1 (at 0.5, on the common sample) is what the variant and policy at "
        "a budget are chosen by; **bold** = chosen. In brackets: runs validated on their own "
        "frames, before the common sample (a trained run on 20% of its own policy's frames, "
        "the head on its out-of-fold estimate), which differ between policies: shown, never "
        "chosen by. A row is one cell: the runs of one device at one commit (runs of a "
        "variant elsewhere are another row). See the script's docstring for the variants and "
        "their fixed settings. Trained rows ran on this 2-core CPU machine in fp32 or, sharing "
        "one GPU 8 processes at a time, on an H200 in bf16 autocast (same recipe and epochs; "
        "`benchmarks/gpu_label_efficiency.sh`). A self-trained row's teacher is its budget's "
        "active fine-tuned run, retrained where that ran elsewhere.",
        "",
        "| budget | variant | policy | seeds | val micro-F1 | **test micro-F1** | min-max | "
        "CI (seed 0) | chosen | ran on | commit |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summary:
        test = f"**{s['test_f1']:.4f}**" if s["chosen"] else f"{s['test_f1']:.4f}"
        val = fmt(s["val_f1"]) if s["own_val_f1"] is None else f"({fmt(s['own_val_f1'])})"
        lines.append(
            f"| {s['budget']:,} | {s['variant']} | {s['policy']} | {s['seeds']} | "
            f"{val} | {test} | "
            f"{s['test_f1_min']:.4f}-{s['test_f1_max']:.4f} | "
            f"{seed0_interval(s)} | "
            f"{'yes' if s['chosen'] else unchosen(s, args.seeds)} | "
            f"{s['ran_on']} | `{s['commit'][:7]}` |"
        )
    if all_labels:
        lines += [
            "",
            f"Every train label ({pool_size:,}), fine-tuned (re-rendered from `{ALL_LABELS}`, "
            f"computed by `{all_labels['command']}` at commit `{all_labels['git_commit'][:12]}`): "
            f"test micro-F1 {all_labels['test']['f1_micro']:.4f}.",
        ]
    lines += [
        "",
        f"Goal: >= {GOAL} test micro-F1 with at most 400 labels for the chosen variant: "
        + (
            ", ".join(
                f"{s['budget']} labels {s['variant']}/{s['policy']} {s['test_f1']:.4f}"
                for s in headline
            )
            or "no chosen variant yet"
        )
        + (" - **met**." if met else " - **not met**."),
    ]
    untrained = [b for b in sorted(chosen) if not trained_at(summary, b, seeds=args.seeds)]
    if untrained:
        lines += [
            "",
            f"At {', '.join(map(str, untrained))} labels no trained variant has all "
            f"{args.seeds} seeds at one commit yet: the choice there is among the label "
            "server's head rows only.",
        ]
    again = [(r, done.get(r["key"].split("@")[0])) for r in done.values() if "@" in r["key"]]
    again = [(r, before) for r, before in again if before is not None]
    if again:
        same = sum((r["val_f1"], r["test_f1"]) == (b["val_f1"], b["test_f1"]) for r, b in again)
        lines += [
            "",
            f"{len(again)} run(s) of the three-seed cells repeat a one-seed screening run of "
            f"another commit (`--again`: one cell holds all its seeds); {same} gave the same "
            "validation and test micro-F1. The screening's test figures had been published "
            "before the three-seed runs; which variants those run was decided by the "
            "screening's validation figures.",
        ]
    restamped = [r for r in done.values() if r.get("restamped")]
    if restamped:
        lines += ["", f"{len(restamped)} record(s): {restamped[0]['restamped']}."]
    if adapt:
        lines += [
            "",
            f"The `+adapted` rows' backbone: adapted once to the pool's {adapt['frames']:,} "
            f"frames in {adapt['shots']:,} shots, unlabelled (`training/adapt.py`): maps "
            f"{adapt['maps_seconds'] / 60:.1f} min, then {adapt['steps']} steps in "
            f"{adapt['train_seconds'] / 60:.1f} min ({adapt['seconds'] / 60:.1f} min in all) on "
            f"{adapt['device']} at commit `{adapt['commit'][:7]}` (1-minute load "
            f"{adapt['load']:.1f} as it finished: timed beside other work when above "
            f"{CORES_BUSY}); counted in no budget.",
        ]
    admitted = designed_after_test(PUBLISHED)
    lines += admission_lines(admitted)
    plot(args.out / "label-efficiency.png", summary, all_labels)
    payload = {
        "goal": GOAL,
        "pool_frames": pool_size,
        "test_frames": test_size,
        "settings": {
            "batch": BATCH,
            "image_size": IMAGE_SIZE,
            "seen": SEEN,
            "student_seen": STUDENT_SEEN,
            "pseudo_limit": PSEUDO_LIMIT,
            "self_policy": SELF_POLICY,
            "recipe": "labels preset, validated on the common sample",
            "validation": "common sample: 20% of each budget, one frame per shot, per seed",
        },
        "chosen": {str(b): [s["variant"], s["policy"]] for b, s in chosen.items()},
        **admitted,
        "summary": summary,
        "adaptation": adapt,  # the +adapted rows' backbone: how it was made, by which run
        "runs": sorted(records, key=lambda r: r["key"]),
        "all_labels": all_labels
        and {k: all_labels[k] for k in ("command", "git_commit", "finished")}
        | {"test_f1": all_labels["test"]["f1_micro"]},
    }
    write_result(
        args.out / "label-efficiency",
        payload,
        "\n".join(lines),
        wall_seconds=time.perf_counter() - started,
        rendered=args.render,  # each run's figures carry the commit that computed them
    )


def seed0_interval(cell: dict) -> str:
    """Seed 0's test interval as the table shows it: by sequence where the run resampled whole
    sequences, else by frame (too narrow: frames of a shot are near-duplicates)."""
    if "test_ci95_by_sequence" in cell:
        low, high = cell["test_ci95_by_sequence"]
        return f"[{low:.4f}, {high:.4f}] by {cell['sequences']:,} sequences"
    ci = cell["ci95_seed0"]
    return f"[{ci[0]:.4f}, {ci[1]:.4f}] by frame only" if ci else "-"


def plot(path: Path, summary: list[dict], all_labels: dict | None) -> None:
    """Test micro-F1 against the budget: a colour per variant and policy, a line through its
    cells of one device and one commit (runs elsewhere are a line, or a dot, of their own)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    styles = {"head": ":", "finetune": "-", "selftrain": "--", "consistency": "-."}
    colours = iter(plt.rcParams["axes.prop_cycle"].by_key()["color"] * 4)
    lines: dict = {}
    for s in summary:
        key = (s["variant"], s["policy"])
        lines.setdefault(key, {}).setdefault((s["ran_on"], s["commit"]), []).append(s)
    for (variant, policy), series in sorted(lines.items()):
        if policy == "all":
            continue
        style = styles.get(variant.split("+")[0], "-")
        marker = "o" if policy == "random" else "s"
        colour, label = next(colours), f"{variant}, {policy}"
        for cells in series.values():
            xs = [s["budget"] for s in cells]
            ys = [s["test_f1"] for s in cells]
            ax.plot(xs, ys, style, marker=marker, color=colour, label=label)
            label = "_nolegend_"
    if all_labels:
        ax.axhline(
            all_labels["test"]["f1_micro"],
            color="grey",
            lw=0.8,
            label="fine-tuned, every train label",
        )
    ax.axhline(GOAL, color="red", lw=0.8, ls="-.", label=f"goal {GOAL}")
    ax.set_xscale("log")
    ax.set_xlabel("labels (budget)")
    ax.set_ylabel("test micro-F1 (mean over a cell's seeds)")
    ax.set_title("Kral Sakir: label efficiency")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
