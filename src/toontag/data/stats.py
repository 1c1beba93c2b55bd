"""`data stats`: the paper's Tables 2 and 4 for any dataset, and the problems worth fixing
before training (unreadable files, converted images, duplicates by content hash)."""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from pathlib import Path

from toontag.data.dataset import LabelledData
from toontag.data.images import open_rgb
from toontag.errors import BadImageError, FileError
from toontag.io import open_regular
from toontag.parallel import map_chunks

CHUNK = 128


def _scan_chunk(paths: list[Path]) -> list[tuple[str, str | None, str | None]]:
    """(sha1 of the bytes, decode error, conversion note) per path."""
    out = []
    for path in paths:
        try:
            with open_regular(path) as f:
                digest = hashlib.sha1(f.read()).hexdigest()
        except OSError as e:
            out.append(("", f"cannot read ({e.strerror})", None))
            continue
        except FileError as e:
            out.append(("", e.reason, None))
            continue
        try:
            _, note = open_rgb(path)
            out.append((digest, None, note))
        except BadImageError as e:
            out.append((digest, e.reason, None))
    return out


def scan_images(paths: list[Path]) -> list[tuple[str, str | None, str | None]]:
    """Hash and fully decode every file on all cores."""
    tasks = [paths[i : i + CHUNK] for i in range(0, len(paths), CHUNK)]
    results = map_chunks(_scan_chunk, tasks, [len(t) for t in tasks], description="checking")
    return [row for chunk in results for row in chunk]


def dataset_stats(data: LabelledData, *, check: bool = True) -> dict:
    """Counts per split (images, per character, per combination, per number of characters)
    and, with `check`, the problems found by decoding and hashing every file."""
    rank = {c: i for i, c in enumerate(data.classes)}
    # Combinations by number of characters, then in class order, as the paper lists them.
    order = sorted({s.labels for s in data.samples}, key=lambda t: (len(t), [rank[c] for c in t]))
    splits: dict[str, dict] = {}
    for split in data.splits:
        samples = data.subset(split).samples
        counts = Counter(s.labels for s in samples)
        splits[split or "all"] = {
            "images": len(samples),
            "characters": {c: sum(c in s.labels for s in samples) for c in data.classes},
            "combinations": {"_".join(t) or "(none)": counts[t] for t in order},
            "by_count": dict(sorted(Counter(len(s.labels) for s in samples).items())),
        }
    stats = {"root": str(data.root), "classes": list(data.classes), "splits": splits}
    problems: dict[str, list] = {"ignored_files": [str(p) for p in data.ignored]}
    if check:
        paths = [s.path for s in data.samples]
        by_hash = defaultdict(list)
        problems |= {"unreadable": [], "converted": []}
        for path, (digest, error, note) in zip(paths, scan_images(paths), strict=True):
            if error:
                problems["unreadable"].append({"path": str(path), "reason": error})
            if note:
                problems["converted"].append({"path": str(path), "note": note})
            if digest:
                by_hash[digest].append(str(path))
        problems["duplicates"] = [group for group in by_hash.values() if len(group) > 1]
    stats["problems"] = problems
    return stats
