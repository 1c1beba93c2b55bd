"""Issue 13 part 2: a CPU recipe for one model trained in <= 30 minutes on 2 cores, its levers
measured one at a time on the validation split; test only for the row kept.

    python benchmarks/cpu_recipe.py --rows ROW [ROW ...]      # train rows (val figures)
    python benchmarks/cpu_recipe.py --test ROW                 # the kept row, on test, once

Rows train in runs/cpu-recipe/<row>/ (a finished row is read back). Writes
results/cpu-recipe.{md,json}; each row keeps the commit and time of the run that trained it.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path

from toontag.benchmark.figures import recipe_table
from toontag.benchmark.provenance import git_commit, load_average, provenance
from toontag.benchmark.results import write_result
from toontag.benchmark.tables import DESIGNED_AFTER_TEST, admission_lines
from toontag.config import parse_settings, preset
from toontag.evaluation.evaluate import evaluate_run
from toontag.io import write_json
from toontag.training.run import train

PRESET = "fast"  # AdamW 5e-4, warm-up then cosine, flip_crop, decisions at 0.5 (config.py)
BASE = ["model=efficientnet_lite0", "image_size=112x192", "batch_size=32", "max_minutes=27"]
ROWS = {  # row -> (what it changes, settings on top of BASE)
    "cosine-flipcrop": ("AdamW 5e-4, cosine over 27 min, flip_crop, channels-last", []),
    "distill": (
        "+ distillation from Lite0 out-of-fold probabilities (weight 0.5)",
        ["soft_labels=results/oof-lite0.csv", "distill_weight=0.5"],
    ),
    "distill-96x160": (
        "+ distillation, 96x160 input (more epochs in the budget)",
        ["soft_labels=results/oof-lite0.csv", "distill_weight=0.5", "image_size=96x160"],
    ),
    "label-smoothing": ("+ label smoothing 0.1", ["label_smoothing=0.1"]),
    "ema": ("+ EMA of weights (0.999)", ["ema_decay=0.999"]),
    "lr-1e-3": ("AdamW 1e-3 instead of 5e-4", ["lr=1e-3"]),
    "lite1-96x160": (
        "EfficientNet-Lite1 at 96x160 (a larger model, a smaller input)",
        ["model=efficientnet_lite1", "image_size=96x160"],
    ),
}
RESULT = Path("results/cpu-recipe.json")


def run_row(name: str, data: Path, runs: Path) -> dict:
    run = runs / name
    if not (run / "report.json").is_file():
        config = preset(PRESET).replace(**parse_settings(BASE + ROWS[name][1]))
        started = datetime.now(UTC).isoformat(timespec="seconds")
        began, load_before = time.perf_counter(), load_average()
        train(config, data=data, run=run, progress=False)
        wall = time.perf_counter() - began
        stamp = provenance(wall_seconds=wall, load_before=load_before)
        write_json(run / "provenance.json", {**stamp, "started": started})
    report = json.loads((run / "report.json").read_text())
    return {
        "row": name,
        "changes": ROWS[name][0],
        "settings": [f"preset={PRESET}", *BASE, *ROWS[name][1]],
        "val_f1_micro": report["val_metrics"]["f1_micro"],
        "minutes": round(report["total_seconds"] / 60, 1),
        "epochs": report["epochs_run"],
        "train_images_per_s": report["train_images_per_s"],
        "provenance": json.loads((run / "provenance.json").read_text()),
    }


def later_tests(runs: Path, rows) -> dict[str, float]:
    """A row not kept has no test figure, unless it was evaluated after the choice for another
    purpose (the label-noise audit scores it): then that figure, shown as such."""
    found = {r["row"]: runs / r["row"] / "metrics-test.json" for r in rows}
    return {row: json.loads(p.read_text())["f1_micro"] for row, p in found.items() if p.is_file()}


def context_lines() -> list[str]:
    """What the table leaves out, from the files that measured it: the distillation teacher's
    cost, and the speed levers measured apart (each with its own file's provenance)."""
    lines = []
    teacher, speed = Path("results/oof-lite0.json"), Path("results/cpu-step-speed.json")
    if teacher.is_file():
        t = json.loads(teacher.read_text())
        lines.append(
            f"The distillation teacher (not counted in the rows' minutes): {t['what']}; "
            f"{t['model']} at {t['image_size']}, {len(t['folds'])} fold runs, "
            f"{t['teacher_cost_seconds'] / 60:.1f} minutes on {t['machine'].get('gpu') or 'CPU'} "
            f"(`{t['command']}`, commit {t['git_commit'][:7]}); `{teacher}`."
        )
    if speed.is_file():
        rows = json.loads(speed.read_text())
        shown = "; ".join(f"{r['variant']} {r['images_per_s']} img/s" for r in rows["rows"])
        lines += [
            "",
            f"Speed levers measured apart (training steps of {rows['model']}, "
            f"`{speed}`, commit {rows['git_commit'][:7]}): {shown}. bf16 autocast and "
            "torch.compile were not given a row: neither is faster on this CPU.",
        ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", nargs="*", default=[], choices=list(ROWS))
    parser.add_argument("--test", choices=list(ROWS))
    parser.add_argument("--data", type=Path, default=Path("../shared/data/kral_sakir"))
    parser.add_argument("--runs", type=Path, default=Path("runs/cpu-recipe"))
    args = parser.parse_args()
    started = time.perf_counter()
    done = {"rows": {}}
    if RESULT.is_file():  # the rows and test of earlier runs, without that file's own stamp
        earlier = json.loads(RESULT.read_text())
        done = {k: earlier[k] for k in ("rows", "kept", DESIGNED_AFTER_TEST) if k in earlier}
    for name in args.rows:
        done["rows"][name] = run_row(name, args.data, args.runs)
        print(json.dumps(done["rows"][name]), flush=True)
    if args.test:
        m = evaluate_run(args.runs / args.test, data=args.data, split="test")
        done["kept"] = {
            "row": args.test,
            "test_f1_micro": m["f1_micro"],
            "ci95": m["ci95"]["f1_micro"],
            "ci95_by_sequence": m["ci95_by_sequence"]["f1_micro"],
            "sequences": m["ci95_by_sequence"]["sequences"],
            "tested": datetime.now(UTC).isoformat(),
            "git_commit": git_commit(Path(__file__).parent),
        }
    rows = done["rows"].values()
    lines = [
        "# A CPU recipe: one EfficientNet-Lite0, <= 30 minutes on 2 cores",
        "",
        "Levers measured on the validation split (10% of train by sequences); the test split "
        f"only for the row kept. Every row: the `{PRESET}` preset, " + ", ".join(BASE) + ".",
        "",
        *recipe_table(done, later_tests(args.runs, rows)),
        "",
        *context_lines(),
        *admission_lines(done),
    ]
    write_result(
        RESULT.with_suffix(""),
        done,
        "\n".join(lines),
        wall_seconds=time.perf_counter() - started,
        rendered=not (args.rows or args.test),
    )


if __name__ == "__main__":
    main()
