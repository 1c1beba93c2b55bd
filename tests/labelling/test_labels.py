"""A project's label store (labels.py): rewrites that stay fast at ten thousand labels, and
characters added later read as unknown for the frames answered before them."""

from __future__ import annotations

import time

from toontag.data.dataset import load_dataset
from toontag.labelling.labels import LabelStore
from toontag.labelling.project import Project


def test_a_rewrite_of_ten_thousand_labels_takes_milliseconds(tmp_path):
    root = tmp_path / "p"
    Project.open(root, create=True)
    rows = "".join(
        f"frames/x/{i:06d}.jpg,a;b,0,{i + 1},2024-01-01T00:00:00+00:00\n" for i in range(10_000)
    )
    (root / "labels.csv").write_text("path,labels,audit,revision,updated\n" + rows)
    (root / "classes.txt").write_text("a\nb\n")
    store = LabelStore(Project.open(root))
    started = time.perf_counter()
    for i in range(10):
        store.answer(f"frames/x/{i:06d}.jpg", ["a"], seen=0)
    each = (time.perf_counter() - started) / 10
    print(f"an answer with 10,000 rows: {each * 1000:.1f} ms")
    assert each < 0.5 and len(LabelStore(Project.open(root)).answers) == 10_000


def test_a_character_added_later_is_unknown_for_frames_answered_before(tmp_path):
    """Frames answered before "necati" existed were never looked at for him: labels.csv says
    so, `train` reads those entries as unknown (masked), and a new answer clears it."""
    root = tmp_path / "p"
    Project.open(root, create=True)
    store = LabelStore(Project.open(root))
    store.add_class("remzi")
    store.answer("frames/x/1.jpg", ["remzi"], seen=0)
    store.answer("frames/x/2.jpg", [], seen=0)
    store.add_class("necati")
    store.answer("frames/x/3.jpg", ["necati"], seen=0)
    reread = LabelStore(Project.open(root))
    assert {p: a.unknown for p, a in reread.answers.items()} == {
        "frames/x/1.jpg": ("necati",),
        "frames/x/2.jpg": ("necati",),
        "frames/x/3.jpg": (),
    }
    data = load_dataset(root / "labels.csv", classes=reread.classes)
    assert data.known.tolist() == [[True, False], [True, False], [True, True]]
    reread.answer("frames/x/2.jpg", ["necati"], seen=0)
    assert LabelStore(Project.open(root)).answers["frames/x/2.jpg"].unknown == ()
