"""Read a labelled dataset: a Kral Sakir style folder tree or a CSV manifest.

Folder layout: ``<root>/[<split>/]<combination>/<id>.<ext>`` where a combination is the
class names present joined by ``_``. Names may themselves contain ``_`` (``kral_sakir``), so
a folder name is parsed against the known class names, never split blindly. The class names
are those of Kral Sakir unless the root holds a ``classes.txt`` (one name a line).

CSV manifest: a header ``path,labels[,split]``; paths relative to the manifest; labels
separated by ``;`` (empty = no character). Row order is taken as capture order.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import numpy as np

from toontag.data.images import IMAGE_SUFFIXES
from toontag.errors import DataError

KRAL_SAKIR_CLASSES = ("kral_sakir", "remzi", "fil_necati", "canan")
SPLIT_NAMES = ("train", "val", "test")


@dataclass(frozen=True)
class Sample:
    path: Path
    labels: tuple[str, ...]  # class names present, in class order
    split: str | None  # "train", "val", "test" or None when the dataset has no split
    frame_id: int  # capture order: the numeric file stem, else the position in the listing


@dataclass(frozen=True)
class LabelledData:
    root: Path
    classes: tuple[str, ...]
    samples: tuple[Sample, ...]
    ignored: tuple[Path, ...] = ()  # files that are not images, reported by `data stats`

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def splits(self) -> list[str]:
        present = {s.split for s in self.samples}
        return [name for name in (*SPLIT_NAMES, None) if name in present]

    def subset(self, split: str | None) -> LabelledData:
        """The samples of one split, in capture order."""
        return replace(self, samples=tuple(s for s in self.samples if s.split == split))

    def select(self, indices) -> LabelledData:
        return replace(self, samples=tuple(self.samples[i] for i in indices))

    @cached_property
    def targets(self) -> np.ndarray:
        """(N, C) float32 multi-hot matrix in class order."""
        index = {name: i for i, name in enumerate(self.classes)}
        y = np.zeros((len(self.samples), len(self.classes)), dtype=np.float32)
        for row, sample in enumerate(self.samples):
            y[row, [index[name] for name in sample.labels]] = 1.0
        return y


def parse_combination(name: str, classes: tuple[str, ...]) -> tuple[str, ...] | None:
    """Split a folder name like ``kral_sakir_fil_necati`` into known class names, or None."""
    tokens = name.split("_")
    by_tokens = sorted((tuple(c.split("_")) for c in classes), key=len, reverse=True)

    def match(start: int) -> list[tuple[str, ...]] | None:
        if start == len(tokens):
            return []
        for cls in by_tokens:
            if tuple(tokens[start : start + len(cls)]) == cls:
                rest = match(start + len(cls))
                if rest is not None:
                    return [cls, *rest]
        return None

    found = match(0)
    if not found:
        return None
    names = {"_".join(t) for t in found}
    if len(names) != len(found):
        return None  # a character named twice is a typo, not a combination
    return tuple(c for c in classes if c in names)


def listed_path(root: Path, text: str) -> Path:
    """The resolved file a listing (a predictions CSV, an out-of-fold file) names: an absolute
    path, one relative to the working directory, or one relative to the dataset's root."""
    path = Path(text)
    return (path if path.is_absolute() or path.exists() else Path(root) / path).resolve()


def load_dataset(source: Path | str) -> LabelledData:
    """Read a folder tree or a CSV manifest; raises `DataError` naming what is wrong."""
    source = Path(source)
    if not source.exists():
        raise DataError(f"{source}: no such dataset folder or manifest")
    if source.is_file():
        if source.suffix.lower() != ".csv":
            raise DataError(f"{source}: a dataset is a folder or a .csv manifest (path,labels)")
        return _load_manifest(source)
    return _load_folder(source)


def _read_classes(root: Path) -> tuple[str, ...]:
    listing = root / "classes.txt"
    if not listing.exists():
        return KRAL_SAKIR_CLASSES
    names = tuple(line.strip() for line in listing.read_text().splitlines() if line.strip())
    if not names or len(set(names)) != len(names):
        raise DataError(f"{listing}: needs one distinct class name per line")
    return names


def _frame_id(path: Path, position: int) -> int:
    return int(path.stem) if path.stem.isdigit() else position


def _load_folder(root: Path) -> LabelledData:
    classes = _read_classes(root)
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    split_dirs = [p for p in subdirs if p.name in SPLIT_NAMES]
    groups = [(p.name, p) for p in split_dirs] if split_dirs else [(None, root)]
    samples, ignored = [], []
    for split, folder in groups:
        for combo_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
            labels = parse_combination(combo_dir.name, classes)
            if labels is None:
                raise DataError(
                    f"{combo_dir}: folder name is not a combination of the known classes "
                    f"({', '.join(classes)}) joined by '_'; rename it or list the classes "
                    f"in {root / 'classes.txt'}"
                )
            for file in sorted(combo_dir.iterdir()):
                if file.suffix.lower() in IMAGE_SUFFIXES:
                    samples.append(Sample(file, labels, split, _frame_id(file, len(samples))))
                elif file.is_file():
                    ignored.append(file)
    if not samples:
        raise DataError(
            f"{root}: no images found; expected <split>/<combination>/<id>.jpg "
            "(e.g. train/kral_sakir_remzi/17.jpg) or a CSV manifest"
        )
    samples.sort(key=lambda s: (s.frame_id, str(s.path)))
    return LabelledData(root, classes, tuple(samples), tuple(ignored))


def _load_manifest(manifest: Path) -> LabelledData:
    with manifest.open(newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not {"path", "labels"} <= set(reader.fieldnames):
            raise DataError(f"{manifest}: the header must be path,labels[,split]")
        rows = list(reader)
    if not rows:
        raise DataError(f"{manifest}: the manifest lists no images")
    parsed = []
    for line, row in enumerate(rows, start=2):
        labels = tuple(x.strip() for x in (row["labels"] or "").split(";") if x.strip())
        split = (row.get("split") or "").strip() or None
        if split is not None and split not in SPLIT_NAMES:
            raise DataError(f"{manifest}:{line}: split {split!r} is not one of {SPLIT_NAMES}")
        parsed.append((manifest.parent / row["path"].strip(), labels, split))
    classes = tuple(sorted({name for _, labels, _ in parsed for name in labels}))
    if not classes:
        raise DataError(f"{manifest}: no row has a label")
    samples = tuple(
        Sample(path, tuple(c for c in classes if c in labels), split, position)
        for position, (path, labels, split) in enumerate(parsed)
    )
    return LabelledData(manifest.parent, classes, samples)
