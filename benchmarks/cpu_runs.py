"""The CPU reference runs of issue 2: train on the full train split (validation held out by
sequences), evaluate on the full official test split, publish the figures in results/.

    python benchmarks/cpu_runs.py --only lite0-112x192
    python benchmarks/cpu_runs.py --only baseline-112x192

Each run goes through the real `toontag` CLI; the exact commands are recorded. A finished run
is not trained again (its directory is reused), a killed one resumes from its last epoch.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

from toontag.benchmark.results import write_result
from toontag.evaluation.metrics import by_sequence_text

# Sized for 2 CPU cores (times measured here, in results/); all at 112x192 keep the 16:9 frame.
RUNS = {
    # ImageNet Lite0, full fine-tuning: about 5 minutes an epoch, 3 epochs in about 15.
    "lite0-112x192": "--model efficientnet_lite0 --image-size 112x192 --epochs 3",
    # The same with flips, zoom and colour jitter on the batch and 5 epochs: about 33 minutes,
    # over the 30-minute budget (augmentation costs about a third more per epoch on CPU).
    "lite0-aug-112x192": "--model efficientnet_lite0 --image-size 112x192 --epochs 5 --augment",
    # The alternative: the paper's head on frozen ImageNet features, computed once at 224x224.
    "lite0-frozen-224": "--model efficientnet_lite0 --freeze-backbone --image-size 224x224 "
    "--epochs 50",
    # The paper's CNN from scratch: about 75 s an epoch; lr 1e-3 as only 12 epochs are run.
    "baseline-112x192": "--model baseline --image-size 112x192 --epochs 12 --lr 1e-3",
}
TOONTAG = [sys.executable, "-m", "toontag"]


def run(cmd: list[str]) -> None:
    print("$", shlex.join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def publish(name: str, run_dir: Path, commands: list[str], out: Path, seconds: float) -> None:
    report = json.loads((run_dir / "report.json").read_text())
    config = json.loads((run_dir / "config.json").read_text())
    test = json.loads((run_dir / "metrics-test.json").read_text())
    val = json.loads((run_dir / "metrics-val.json").read_text())
    payload = {
        "name": name,
        "commands": commands,
        "config": config,
        "training": report,
        "split": json.loads((run_dir / "split.json").read_text()),
        "val": {k: val[k] for k in ("images", "loss", "f1_micro", "accuracy", "auc_micro")},
        "test": test,
    }
    ci = test["ci95"]
    scratch = config["model"] == "baseline" or not config["pretrained"]
    init = "random init (from scratch)" if scratch else "ImageNet init"
    lines = [
        f"# {name}: {config['model']} on Kral Sakir, CPU protocol",
        "",
        f"Trained at {config['image_size'][0]}x{config['image_size'][1]} for at most "
        f"{config['max_epochs']} epochs (best epoch {report['best_epoch']} of "
        f"{report['epochs_run']}, {report['fit_seconds'] / 60:.1f} min on {report['device']}), "
        f"lr {config['lr']}, {init}"
        f"{', frozen backbone (head on cached features)' if config['freeze_backbone'] else ''}"
        f"{', flip/zoom/colour augmentation' if config['augment'] else ''}. Validation: "
        f"{payload['split']['val']} ({report['val_images']} images); "
        f"val micro-F1 {val['f1_micro']:.4f}.",
        "",
        "| test metric | value [95% bootstrap CI] |",
        "|---|---|",
        f"| micro-F1 | {test['f1_micro']:.4f} [{ci['f1_micro'][0]:.4f}, {ci['f1_micro'][1]:.4f}]"
        + (
            f", {by_sequence_text(test['ci95_by_sequence']['f1_micro'])} |"
            if "ci95_by_sequence" in test
            else " (interval by frame only) |"
        ),
        f"| accuracy (label-wise) | {test['accuracy']:.4f} "
        f"[{ci['accuracy'][0]:.4f}, {ci['accuracy'][1]:.4f}] |",
        f"| ROC-AUC micro | {test['auc_micro']:.4f} "
        f"[{ci['auc_micro'][0]:.4f}, {ci['auc_micro'][1]:.4f}] |",
        f"| subset accuracy | {test['subset_accuracy']:.4f} |",
        f"| micro precision / recall | {test['precision_micro']:.4f} / "
        f"{test['recall_micro']:.4f} |",
        f"| macro-F1 | {test['f1_macro']:.4f} |",
        f"| BCE loss | {test['loss']:.4f} |",
        f"| images | {test['images']} |",
        "",
        "Per class: see the JSON. Reproduce with:",
        "",
        *[f"    {c}" for c in commands],
    ]
    write_result(out / f"cpu-{name}", payload, "\n".join(lines), wall_seconds=seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=list(RUNS), default=list(RUNS))
    parser.add_argument("--data", default="../shared/data/kral_sakir")
    parser.add_argument("--runs", type=Path, default=Path("runs"))
    parser.add_argument("--out", type=Path, default=Path("results"))
    args = parser.parse_args()
    for name in args.only:
        start = time.perf_counter()
        run_dir = args.runs / name
        train = [*TOONTAG, "train", "--data", args.data, "--out", str(run_dir)]
        train += shlex.split(RUNS[name])
        if not (run_dir / "report.json").is_file():
            resumable = (run_dir / "checkpoints" / "last.ckpt").is_file()
            run([*TOONTAG, "train", "--resume", str(run_dir)] if resumable else train)
        evaluate = [
            [*TOONTAG, "evaluate", str(run_dir), "--data", args.data, "--split", split]
            for split in ("val", "test")
        ]
        for cmd in evaluate:
            run(cmd)
        commands = [shlex.join(["toontag", *c[3:]]) for c in (train, *evaluate)]
        publish(name, run_dir, commands, args.out, time.perf_counter() - start)


if __name__ == "__main__":
    main()
