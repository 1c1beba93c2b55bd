"""How long adapting the backbone to a show takes on this machine, and where the time goes.

    python benchmarks/adapt_time.py --data ../shared/data/kral_sakir --work /tmp/adapt-time

The pool is Kral Sakir's train split (13,381 frames; shots = runs of consecutive frame ids);
the adaptation is the label-efficiency benchmark's (`labelling/adapted.py`: maps at the cut in
two views, then 64 steps of 256 shot pairs), computed from scratch (an empty cache under
WORK). Writes results/adapt-time.json and .md; the issue's budget is 20 minutes on 2 cores for
about 10,000 frames, once per project.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

import numpy as np

from toontag.benchmark.results import write_result
from toontag.benchmark.simulated import runs_of_ids
from toontag.data.dataset import load_dataset
from toontag.labelling.adapted import adapt_pool
from toontag.training.adapt import AdaptSettings

STEPS = 64  # as benchmarks/label_efficiency.py's ADAPT_STEPS
BUDGET_MINUTES = 20.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/kral_sakir"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/adapt-time"))
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--out", type=Path, default=Path("results"))
    args = parser.parse_args()
    load_before = list(os.getloadavg())
    started = time.perf_counter()
    pool = load_dataset(args.data).subset("train")
    shutil.rmtree(args.work, ignore_errors=True)  # from scratch: the maps are part of the time
    info = adapt_pool(
        [s.path for s in pool.samples],
        runs_of_ids(np.array([s.frame_id for s in pool.samples])),
        cache=args.work / "cache",
        out=args.work / "adapted",
        settings=AdaptSettings(max_steps=args.steps, seed=0),
    )
    minutes = info["seconds"] / 60
    lines = [
        "# Adapting the backbone to a show: time on this machine",
        "",
        f"Kral Sakir's train split as the pool: {info['frames']:,} frames in {info['shots']:,} "
        f"shots, from scratch. Feature maps at the cut (two views a frame): "
        f"{info['maps_seconds'] / 60:.1f} min; {info['steps']} steps of 256 shot pairs: "
        f"{info['train_seconds'] / 60:.1f} min; in all {minutes:.1f} min, against the budget of "
        f"{BUDGET_MINUTES:.0f} min for about 10,000 frames "
        + ("(**within it**)." if minutes <= BUDGET_MINUTES else "(**over it**)."),
    ]
    write_result(
        args.out / "adapt-time",
        {"budget_minutes": BUDGET_MINUTES, "adaptation": info},
        "\n".join(lines),
        wall_seconds=time.perf_counter() - started,
        load_before=load_before,
    )


if __name__ == "__main__":
    main()
