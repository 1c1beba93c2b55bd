"""Read a labelled dataset: a Kral Sakir style folder tree or a CSV manifest.

Folder layout: ``<root>/[<split>/]<combination>/<id>.<ext>`` where a combination is the
class names present joined by ``_``. Names may themselves contain ``_`` (``kral_sakir``), so
a folder name is parsed against the known class names, never split blindly. The class names
are those of Kral Sakir unless the root holds a ``classes.txt`` (one name a line).

CSV manifest: a header ``path,labels[,split][,unknown][,group][,weight]``; paths relative to
the manifest; labels separated by ``;`` (empty = no character). ``unknown`` names the classes
nobody looked for in that image (added after it was labelled): neither present nor absent, they
are masked out of training's loss. A manifest with ``audit`` (a labelling project's labels.csv)
is split by it: audit frames, drawn at random to check the model, are the test split whatever a
``split`` column says, and without ``split`` every other labelled frame is train. ``group``
names frames every split keeps together and intervals resample whole (a shot); a project's
frames are grouped by pool.csv's shots (groups.py). ``weight`` (default 1) scales a row's loss:
below 1 a weak label, which only trains (weights.py). Row order is taken as capture order. What
Excel writes reads the same: a byte order mark, CRLF, spaces after ``;``, ``;`` between fields.

The classes, first found: the list the caller gives (a trained model's, or ``--classes``), a
``classes.txt`` in the folder or beside the manifest, else Kral Sakir's for a folder and the
labels it uses for a manifest. Against a known list a label outside it is an error naming the
row; labels that define the classes are counted, so that a caller can show them and the likely
misspellings among them before training on them.
"""

from __future__ import annotations

import csv
import difflib
import io
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import numpy as np

from toontag.data.groups import row_groups
from toontag.data.walk import IMAGE_SUFFIXES, listed
from toontag.data.weights import row_weight
from toontag.errors import DataError
from toontag.io import read_text

KRAL_SAKIR_CLASSES = ("kral_sakir", "remzi", "fil_necati", "canan")
KRAL_SAKIR_URL = "https://github.com/candantumer/kral_sakir"
HOW_TO_GET = f"get Kral Sakir with `git clone {KRAL_SAKIR_URL}`"
SPLIT_NAMES = ("train", "val", "test")
PROJECT_FILE = "project.json"  # marks a labelling project (`toontag frames`) ...
PROJECT_LABELS = "labels.csv"  # ... whose labels, a manifest, are its dataset
PROJECT_POOL = "pool.csv"  # ... and whose pool names each frame's shot
FROM_LABELS = "the manifest's labels"  # `classes_from` of a manifest without a class list
CLOSE_NAME = 0.8  # difflib ratio at or over which a name reads as a misspelling of another
MISSPELLING_RARITY = 5  # a close label this many times rarer than another is likely a typo


@dataclass(frozen=True)
class Sample:
    path: Path
    labels: tuple[str, ...]  # class names present, in class order
    split: str | None  # "train", "val", "test" or None when the dataset has no split
    frame_id: int  # capture order: the numeric file stem, else the position in the listing
    unknown: tuple[str, ...] = ()  # classes not looked for in this image: neither 0 nor 1
    weight: float = 1.0  # in training's loss; below 1 a weak label, which only trains


@dataclass(frozen=True)
class LabelledData:
    root: Path
    classes: tuple[str, ...]
    samples: tuple[Sample, ...]
    ignored: tuple[Path, ...] = ()  # files that are not images, reported by `data stats`
    classes_from: str = "the Kral Sakir classes"  # where `classes` came from, for messages
    # One id per sample (int or str) that every split keeps on one side (a shot); None: the
    # data names no groups and is split by sequences (split.py). `groups_from` says whence.
    groups: tuple | None = None
    groups_from: str | None = None

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def splits(self) -> list[str]:
        present = {s.split for s in self.samples}
        return [name for name in (*SPLIT_NAMES, None) if name in present]

    def subset(self, split: str | None) -> LabelledData:
        """The samples of one split, in capture order."""
        return self.select([i for i, s in enumerate(self.samples) if s.split == split])

    def select(self, indices) -> LabelledData:
        groups = None if self.groups is None else tuple(self.groups[i] for i in indices)
        return replace(self, samples=tuple(self.samples[i] for i in indices), groups=groups)

    @cached_property
    def targets(self) -> np.ndarray:
        """(N, C) float32 multi-hot matrix in class order."""
        index = {name: i for i, name in enumerate(self.classes)}
        y = np.zeros((len(self.samples), len(self.classes)), dtype=np.float32)
        for row, sample in enumerate(self.samples):
            y[row, [index[name] for name in sample.labels]] = 1.0
        return y

    @cached_property
    def known(self) -> np.ndarray:
        """(N, C) bool: False where a class's presence in an image is unknown."""
        index = {name: i for i, name in enumerate(self.classes)}
        known = np.ones((len(self.samples), len(self.classes)), dtype=bool)
        for row, sample in enumerate(self.samples):
            known[row, [index[name] for name in sample.unknown]] = False
        return known

    @cached_property
    def weights(self) -> np.ndarray:
        """(N,) float32 loss weights: 1 for a person's label, less for a weak one (weights.py)."""
        return np.array([s.weight for s in self.samples], dtype=np.float32)

    @cached_property
    def masked_targets(self) -> np.ndarray:
        """`targets` with -1 where the entry is unknown: what training fits (masked out)."""
        return np.where(self.known, self.targets, np.float32(-1)).astype(np.float32)

    @cached_property
    def class_counts(self) -> dict[str, int]:
        """Images per class, in class order."""
        return dict(zip(self.classes, self.targets.sum(axis=0).astype(int).tolist(), strict=True))


def closest_name(name: str, names) -> str | None:
    """The one of `names` that `name` most likely misspells, or None."""
    found = difflib.get_close_matches(name, [n for n in names if n != name], 1, CLOSE_NAME)
    return found[0] if found else None


def likely_misspellings(counts: dict[str, int]) -> dict[str, str]:
    """Labels that look like a typo of a much more frequent one: ``{"remzzi": "remzi"}``."""
    out = {}
    for name, n in counts.items():
        common = [other for other, m in counts.items() if m >= MISSPELLING_RARITY * max(n, 1)]
        close = closest_name(name, common)
        if close is not None:
            out[name] = close
    return out


def read_class_list(text: str) -> tuple[str, ...]:
    """Class names from ``a,b,c`` or from a file naming one a line (like ``classes.txt``)."""
    path = Path(text)
    if path.is_file():
        return _read_names(path)
    return _distinct([name.strip() for name in text.split(",") if name.strip()], text)


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


def load_dataset(
    source: Path | str, *, classes=None, classes_from: str = "the given class list"
) -> LabelledData:
    """Read a folder tree or a CSV manifest; raises `DataError` naming what is wrong.

    `classes`, when given (a trained model's, say), are the known classes, in their order:
    they replace ``classes.txt`` and a label outside them is an error citing `classes_from`.
    """
    source = Path(source)
    if not source.exists():
        raise DataError(f"{source}: no such dataset folder or manifest ({HOW_TO_GET})")
    if source.is_dir() and (source / PROJECT_FILE).is_file():
        source = source / PROJECT_LABELS  # a labelling project: its labels are the dataset
    known = None
    if classes is not None:
        known = (_distinct(list(classes), classes_from), classes_from)
    if not source.is_dir():  # a file, or a FIFO or device that reading refuses in one line
        if source.suffix.lower() != ".csv":
            raise DataError(f"{source}: a dataset is a folder or a .csv manifest (path,labels)")
        return _load_manifest(source, known or _classes_txt(source.parent))
    return _load_folder(source, known or _classes_txt(source))


def _distinct(names: list[str], where) -> tuple[str, ...]:
    if not names or len(set(names)) != len(names):
        raise DataError(f"{where}: needs one distinct class name per line (or a,b,c)")
    return tuple(names)


def _read_names(listing: Path) -> tuple[str, ...]:
    lines = read_text(listing, encoding="utf-8-sig").splitlines()
    return _distinct([line.strip() for line in lines if line.strip()], listing)


def _classes_txt(folder: Path) -> tuple[tuple[str, ...], str] | None:
    """The names in ``folder/classes.txt`` and where they came from, if it exists."""
    listing = folder / "classes.txt"
    return (_read_names(listing), str(listing)) if listing.exists() else None


def frame_id_of(path: Path, position: int) -> int:
    """Capture order: a frame's numeric file stem, else its `position` in the listing."""
    return int(path.stem) if path.stem.isdigit() else position


def _load_folder(root: Path, known) -> LabelledData:
    classes, classes_from = known or (KRAL_SAKIR_CLASSES, LabelledData.classes_from)
    subdirs = listed(root)[0]  # hidden ones passed over
    split_dirs = [p for p in subdirs if p.name in SPLIT_NAMES]
    groups = [(p.name, p) for p in split_dirs] if split_dirs else [(None, root)]
    samples, ignored = [], []
    for split, folder in groups:
        for combo_dir in listed(folder)[0]:
            labels = parse_combination(combo_dir.name, classes)
            if labels is None:
                raise DataError(
                    f"{combo_dir}: folder name is not a combination of the known classes "
                    f"({', '.join(classes)}, from {classes_from}) joined by '_'; rename it "
                    f"or list the classes in {root / 'classes.txt'}"
                )
            for file in listed(combo_dir)[1]:
                if file.suffix.lower() in IMAGE_SUFFIXES:
                    samples.append(Sample(file, labels, split, frame_id_of(file, len(samples))))
                else:
                    ignored.append(file)
    if not samples:
        raise DataError(
            f"{root}: no images found; expected <split>/<combination>/<id>.jpg "
            "(e.g. train/kral_sakir_remzi/17.jpg) or a CSV manifest"
        )
    samples.sort(key=lambda s: (s.frame_id, str(s.path)))
    return LabelledData(root, classes, tuple(samples), tuple(ignored), classes_from)


def _manifest_rows(manifest: Path) -> csv.DictReader:
    """A reader over the manifest's rows, fields named in lower case, whatever wrote it."""
    try:
        text = read_text(manifest, encoding="utf-8-sig")  # the BOM Excel puts first
    except UnicodeDecodeError as e:
        raise DataError(
            f"{manifest}: not UTF-8 (byte {e.start}); save it as 'CSV UTF-8' in Excel"
        ) from None
    header = text.split("\n", 1)[0]
    for delimiter in (",", ";", "\t"):  # Excel separates fields by ';' in many languages
        fields = [f.strip().lower() for f in next(csv.reader([header], delimiter=delimiter))]
        if {"path", "labels"} <= set(fields):
            reader = csv.DictReader(
                io.StringIO(text, newline=""), fieldnames=fields, delimiter=delimiter
            )
            next(reader.reader)  # the header, named above
            return reader
    raise DataError(f"{manifest}: the header must be path,labels[,split][,unknown]")


def _load_manifest(manifest: Path, known) -> LabelledData:
    reader = _manifest_rows(manifest)
    parsed, listed, named, weights = [], [], [], []  # rows; paths as written; groups; weights
    for row in reader:
        line = reader.line_num
        labels = split_names(row["labels"])
        unknown = split_names(row.get("unknown"))
        if set(labels) & set(unknown):
            both = sorted(set(labels) & set(unknown))[0]
            raise DataError(f"{manifest}:{line}: {both!r} is both a label and unknown")
        split = (row.get("split") or "").strip() or None
        if (row.get("audit") or "").strip() == "1":
            split = "test"  # a labelling project's audit frame: never fitted, whatever `split` says
        elif "split" not in row and "audit" in row:
            split = "train"
        if split is not None and split not in SPLIT_NAMES:
            raise DataError(f"{manifest}:{line}: split {split!r} is not one of {SPLIT_NAMES}")
        if not (row["path"] or "").strip():
            raise DataError(f"{manifest}:{line}: the row names no image")
        parsed.append((line, manifest.parent / row["path"].strip(), labels, split, unknown))
        listed.append(row["path"].strip())
        named.append((row.get("group") or "").strip())
        weights.append(row_weight(row.get("weight"), f"{manifest}:{line}"))
    if not parsed:
        raise DataError(f"{manifest}: the manifest lists no images")
    if known is None:
        classes = tuple(sorted({name for _, _, labels, *_ in parsed for name in labels}))
        classes_from = FROM_LABELS
        if not classes:
            raise DataError(f"{manifest}: no row has a label")
    else:
        classes, classes_from = known
    for line, _, labels, _, unknown in parsed:  # from the labels, only an unknown name can miss
        for label in (*labels, *unknown):
            if label not in classes:
                raise _unknown_label(f"{manifest}:{line}", label, classes, classes_from)
    samples = tuple(
        Sample(
            path,
            tuple(c for c in classes if c in labels),
            split,
            position,
            tuple(c for c in classes if c in unknown),
            weights[position],
        )
        for position, (_, path, labels, split, unknown) in enumerate(parsed)
    )
    project = manifest.name == PROJECT_LABELS and (manifest.parent / PROJECT_FILE).is_file()
    groups, groups_from = row_groups(
        named, listed, manifest.parent / PROJECT_POOL if project else None
    )
    return LabelledData(
        manifest.parent,
        classes,
        samples,
        classes_from=classes_from,
        groups=groups,
        groups_from=groups_from,
    )


def split_names(field: str | None) -> tuple[str, ...]:
    """The ``;``-separated names of a manifest field (spaces around them dropped)."""
    return tuple(x.strip() for x in (field or "").split(";") if x.strip())


def _unknown_label(where: str, label: str, classes, classes_from: str) -> DataError:
    close = closest_name(label, classes)
    guess = f" (did you mean {close!r}?)" if close else ""
    return DataError(
        f"{where}: unknown label {label!r}{guess}; the known classes, from {classes_from}, "
        f"are: {', '.join(classes)}"
    )
