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


def test_only_the_audit_record_makes_an_answer_an_audit_answer(tmp_path):
    """Frames offered as audit frames are in audit.csv before they are shown; every answer to
    one is an audit answer (an undo and a re-answer too), an answer to any other frame is not,
    and a second store on the project (a restart) reads the same."""
    root = tmp_path / "p"
    Project.open(root, create=True)
    store = LabelStore(Project.open(root))
    store.add_class("remzi")
    store.answer("frames/x/2.jpg", [], seen=0)
    assert store.offer_audit(["frames/x/1.jpg", "frames/x/2.jpg"]) == ["frames/x/1.jpg"]
    assert "frames/x/1.jpg" in LabelStore(Project.open(root)).audits  # on disk already
    assert store.answer("frames/x/1.jpg", ["remzi"], seen=0).answer.audit
    assert not store.answers["frames/x/2.jpg"].audit
    assert store.undo("frames/x/1.jpg") is None
    assert store.answer("frames/x/1.jpg", [], seen=0).answer.audit
    store.answer("frames/x/1.jpg", ["remzi"], seen=0)
    assert store.undo("frames/x/1.jpg").audit
    again = LabelStore(Project.open(root))
    assert {p: a.audit for p, a in again.answers.items()} == {
        "frames/x/1.jpg": True,
        "frames/x/2.jpg": False,
    }
    assert again.adopted == 0
    data = load_dataset(root / "labels.csv", classes=again.classes)
    assert [(s.path.name, s.split) for s in data.samples] == [("2.jpg", "train"), ("1.jpg", "test")]


def test_audit_flags_an_earlier_page_wrote_are_kept_and_said_once(tmp_path, caplog):
    """A labels.csv whose audit=1 came from the page (before the server kept a record): those
    frames stay audit frames, join the record when the store opens, and that is said once."""
    root = tmp_path / "p"
    Project.open(root, create=True)
    rows = ["frames/x/1.jpg,remzi,1,1,", "frames/x/2.jpg,,0,2,", "frames/x/3.jpg,,1,3,"]
    (root / "labels.csv").write_text("path,labels,audit,revision,updated\n" + "\n".join(rows))
    (root / "classes.txt").write_text("remzi\n")
    with caplog.at_level("WARNING", logger="toontag.labelling.labels"):
        store = LabelStore(Project.open(root))
    assert store.adopted == 2 and "2 frames marked audit" in caplog.text
    assert set(store.audits.offered) == {"frames/x/1.jpg", "frames/x/3.jpg"}
    assert store.answer("frames/x/1.jpg", [], seen=1).answer.audit
    caplog.clear()
    with caplog.at_level("WARNING", logger="toontag.labelling.labels"):
        again = LabelStore(Project.open(root))
    assert again.adopted == 0 and not caplog.text
    assert [a.audit for a in again.answers.values()] == [True, False, True]
