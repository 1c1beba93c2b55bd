"""Pack the dataset and the offline Lite weights into gzipped tars that each fit one device
call (64 MiB a call, the working tree included), for `benchmarks/gpu_job.py` on a GPU machine:

    python benchmarks/gpu_stage.py --data ../shared/data/kral_sakir --parts 5   # -> stage/

Each part unpacks under /root (``data/kral_sakir/...`` and ``site/<package>/...``); the
weights packages go on ``PYTHONPATH`` there.
"""

from __future__ import annotations

import argparse
import importlib
import tarfile
from pathlib import Path

from toontag.models.lite import OFFLINE_WEIGHTS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/kral_sakir"))
    parser.add_argument("--parts", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("stage"))
    args = parser.parse_args()
    items = []  # (size, archive name, path): weights first, one per part
    for package in OFFLINE_WEIGHTS.values():
        folder = Path(importlib.import_module(package.replace("-", "_")).__file__).parent
        files = [f for f in folder.rglob("*") if f.is_file() and "__pycache__" not in f.parts]
        items.append(
            [(f.stat().st_size, f"site/{folder.name}/{f.relative_to(folder)}", f) for f in files]
        )
    data = sorted(f for f in args.data.rglob("*") if f.is_file())
    total = sum(sum(s for s, _, _ in group) for group in items) + sum(
        f.stat().st_size for f in data
    )
    per_part = total / args.parts
    parts: list[list] = [[] for _ in range(args.parts)]
    for i, group in enumerate(items):
        parts[i % args.parts] += group
    i = 0
    for f in data:
        while (
            sum(s for s, _, _ in parts[i]) + f.stat().st_size > per_part * 1.01
            and i < args.parts - 1
        ):
            i += 1
        parts[i].append((f.stat().st_size, f"data/{args.data.name}/{f.relative_to(args.data)}", f))
    args.out.mkdir(exist_ok=True)
    for k, part in enumerate(parts, 1):
        path = args.out / f"part{k}.tgz"
        with tarfile.open(path, "w:gz", compresslevel=1) as tar:
            for _, name, f in part:
                tar.add(f, arcname=name)
        print(f"{path}: {len(part)} files, {path.stat().st_size / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
