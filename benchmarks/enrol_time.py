"""How long `enrol --method finetune` takes: one enrolment of canan into a base run that never
saw her, its wall time and where it went, printed as JSON with the machine and its load.

    python benchmarks/enrol_time.py                          # a base trained first (~1 minute)
    python benchmarks/enrol_time.py --base RUN --unlabelled 3000 --answers 50

The base (unless --base): Lite0 at 112x192, one epoch over every 40th Kral Sakir frame with
canan's labels dropped, kept in --work. The case: 20 canan frames of the train split as
examples, --answers truthful answers (half yes, half no) and --unlabelled train frames as the
unlabelled (0: the base's own training frames, as `enrol` takes them). The decoded frames are
cached in a fresh folder, so decoding is timed too.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from toontag.benchmark.harness import write_manifest
from toontag.benchmark.provenance import load_average, provenance
from toontag.config import TrainConfig
from toontag.data.dataset import KRAL_SAKIR_CLASSES, Sample, load_dataset
from toontag.labelling.confirm import Confirmed
from toontag.labelling.enrol_finetune import enrol_finetuned
from toontag.training.run import train_or_resume


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/kral_sakir"))
    parser.add_argument("--work", type=Path, default=Path.home() / ".cache/toontag/enrol-time")
    parser.add_argument("--base", type=Path, default=None, help="a run without canan")
    parser.add_argument("--unlabelled", type=int, default=0)
    parser.add_argument("--answers", type=int, default=30)
    args = parser.parse_args()
    load_before = load_average()
    data = load_dataset(args.data)
    base = args.base or base_run(data, args.work)
    train = [s for s in data.samples if s.split == "train"]
    canan = [s.path for s in train if "canan" in s.labels]
    others = [s.path for s in train if "canan" not in s.labels]
    half = args.answers // 2
    answers = Confirmed(canan[33::200][:half], others[11::250][: args.answers - half])
    rng = np.random.default_rng(1)
    background = [train[i].path for i in sorted(rng.permutation(len(train))[: args.unlabelled])]
    out = args.work / "enrolled"
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    done = enrol_finetuned(
        base, character="canan", examples=canan[7::150][:20], out=out,
        confirmed=answers if args.answers else None, background=background or None,
        cache_root=Path(tempfile.mkdtemp(prefix="enrol-time-")),
    )  # fmt: skip
    wall = time.perf_counter() - started
    case = {"examples": 20, "answers": args.answers, "unlabelled": done["unlabelled"]}
    print(
        json.dumps(
            {
                "case": case,
                "seconds": round(wall, 1),
                "frames_seconds": done["frames_seconds"],  # decoding, maps, base outputs
                "fit_seconds": sum(p["fit_seconds"] for p in done["phases"]),  # linear starts
                "training_seconds": sum(p["seconds"] for p in done["phases"]),
                "phases": done["phases"],
                "base": str(base),
                **provenance(wall_seconds=wall, load_before=load_before),
            },
            indent=2,
        )
    )


def base_run(data, work: Path) -> Path:
    """A Lite0 run at 112x192 that never heard of canan (trained once, then reused)."""
    samples = [
        Sample(s.path, tuple(c for c in s.labels if c != "canan"), s.split, s.frame_id)
        for s in data.samples[::40]
    ]
    work.mkdir(parents=True, exist_ok=True)
    manifest = write_manifest(work / "base.csv", samples)
    config = TrainConfig(image_size=(112, 192), max_epochs=1, lr=1e-3, seed=0)
    old = tuple(c for c in KRAL_SAKIR_CLASSES if c != "canan")
    train_or_resume(config, data=manifest, run=work / "base", progress=False, classes=old)
    return work / "base"


if __name__ == "__main__":
    main()
