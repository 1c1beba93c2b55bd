"""An ensemble of finished runs (mean probability), evaluated on val and test.

    python benchmarks/ensemble.py --name cpu-lite0-aug+baseline \
        runs/lite0-aug-112x192 runs/benchmark/cpu/baseline

Writes results/ensemble-<name>.json and .md: the ensemble's and each member's test figures.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from toontag.benchmark.results import write_result
from toontag.evaluation.evaluate import evaluate_run
from toontag.evaluation.metrics import by_sequence_text
from toontag.models.trained import write_ensemble


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--name", required=True)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/kral_sakir"))
    parser.add_argument("--out", type=Path, default=Path("results"))
    args = parser.parse_args()
    started = time.perf_counter()
    ens = Path("runs") / f"ensemble-{args.name}"
    trained = write_ensemble(ens, args.runs)
    test = evaluate_run(ens, data=args.data, split="test")
    members = {}
    for run in args.runs:
        m = json.loads((run / "metrics-test.json").read_text())
        members[str(run)] = m.get("at_0.5", m)  # members at the same 0.5 rule
    lo, hi = test["ci95"]["f1_micro"]
    seq = test["ci95_by_sequence"]
    lines = [
        f"# Ensemble {args.name}: {trained.config.model}",
        "",
        "Mean of the members' probabilities, every class decided at 0.5; the authors' test "
        f"split ({test['images']} images in {seq['sequences']} sequences), 95% "
        "percentile-bootstrap intervals resampling images, and by sequence whole sequences.",
        "",
        "| model | test micro-F1 [95% CI] | subset accuracy | AUC micro |",
        "|---|---|---|---|",
        f"| **ensemble** | **{test['f1_micro']:.4f}** [{lo:.4f}, {hi:.4f}], "
        f"{by_sequence_text(seq['f1_micro'])} | "
        f"{test['subset_accuracy']:.4f} | {test['auc_micro']:.4f} |",
        *(
            f"| {run} | {m['f1_micro']:.4f} [{m['ci95']['f1_micro'][0]:.4f}, "
            f"{m['ci95']['f1_micro'][1]:.4f}]"
            + (
                f", {by_sequence_text(m['ci95_by_sequence']['f1_micro'])}"
                if "ci95_by_sequence" in m
                else " (interval by frame only)"
            )
            + f" | {m['subset_accuracy']:.4f} | "
            f"{m['auc_micro']:.4f} |"
            for run, m in members.items()
        ),
    ]
    payload = {
        "name": args.name,
        "members": [str(r) for r in args.runs],
        "test": test,
        "members_test": members,
    }
    write_result(
        args.out / f"ensemble-{args.name}",
        payload,
        "\n".join(lines),
        wall_seconds=time.perf_counter() - started,
    )


if __name__ == "__main__":
    main()
