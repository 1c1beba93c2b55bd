"""Each frame's group, the unit intervals resample: the sequence rule on real test frames, a
manifest's `group` column, a labelling project's shots."""

import shutil

import numpy as np
import pytest

from toontag.data.dataset import load_dataset
from toontag.data.groups import frame_groups
from toontag.data.images import load_resized
from toontag.data.split import CUT_THRESHOLD, SOURCE_SIZE, frame_jumps, thumbnails


@pytest.fixture(scope="module")
def test_frames(dataset):
    """The first 160 test frames in capture order (ids 1 to 355): mostly single frames, with
    sequences of 2 to 6 frames among them."""
    return dataset.subset("test").select(range(160))


def same(groups: np.ndarray) -> np.ndarray:
    """Which pairs of frames share a group."""
    return groups[:, None] == groups[None, :]


def test_groups_follow_the_sequence_rule_on_real_frames(test_frames):
    rows = np.arange(len(test_frames))
    groups = frame_groups(test_frames, rows)
    ids = np.array([s.frame_id for s in test_frames.samples])
    by_id = dict(zip(ids.tolist(), groups.tolist(), strict=True))
    # Known sequences: frames 1-6 of one continuous shot, 91-94 another; 95 and 96 follow each
    # other but a cut lies between them.
    assert len({by_id[i] for i in range(1, 7)}) == 1 and len({by_id[i] for i in range(91, 95)}) == 1
    assert len({by_id[1], by_id[7], by_id[91], by_id[95], by_id[96]}) == 5
    # The rule itself: neighbours share a group exactly when their ids are consecutive and their
    # thumbnails (decoded here, apart from the cache) stay within the cut threshold.
    pixels = np.stack([load_resized(s.path, SOURCE_SIZE)[0] for s in test_frames.samples])
    joined = frame_jumps(ids, thumbnails(pixels)) <= CUT_THRESHOLD
    assert np.array_equal(groups[1:] == groups[:-1], joined)
    assert np.array_equal(groups, np.sort(groups)) and groups[0] == 0  # numbered in order
    assert 100 < groups.max() + 1 < len(rows)


def test_a_frames_group_does_not_depend_on_the_rows_asked_or_their_order(test_frames):
    rows = np.arange(len(test_frames))
    groups = frame_groups(test_frames, rows)
    shuffled = np.random.default_rng(0).permutation(rows)
    assert np.array_equal(frame_groups(test_frames, shuffled), groups[shuffled])
    # Every other frame: two of them stay together when the frame between them (of the same
    # shot) is not asked for, as frames of another split between two test frames would be.
    every_other = rows[::2]
    assert np.array_equal(same(frame_groups(test_frames, every_other)), same(groups[every_other]))


def test_a_manifest_group_column_is_taken_as_it_is(test_frames, tmp_path):
    """Rows with a `group` share it wherever they lie; rows left empty follow the rule, as
    a manifest without the column does."""
    from tests.conftest import write_manifest

    lines = ["path,labels,group"]
    for i, s in enumerate(test_frames.samples[:20]):
        lines.append(f"{s.path},{';'.join(s.labels)},{'far' if i in (0, 19) else ''}")
    (tmp_path / "m.csv").write_text("\n".join(lines) + "\n")
    data = load_dataset(tmp_path / "m.csv")
    assert data.groups[0] == data.groups[19] == "far" and data.groups[1] != "far"
    groups = frame_groups(data, np.arange(20))
    assert groups[0] == groups[19] and groups[0] not in groups[1:19]
    plain = load_dataset(write_manifest(tmp_path / "plain.csv", test_frames.samples[1:19]))
    assert plain.groups is None
    assert np.array_equal(same(groups[1:19]), same(frame_groups(plain, np.arange(18))))


def test_a_projects_groups_are_its_pools_shots(dataset, tmp_path):
    """Frames of one shot share a group however far apart labels.csv lists them; a still
    image is its own group unless the rule joins it to its neighbour (an identical copy)."""
    project = tmp_path / "show"
    (project / "frames").mkdir(parents=True)
    (project / "project.json").write_text('{"format": 1}')
    picked = dataset.subset("test").samples
    files = {
        "a.jpg": picked[0].path,  # video shot 3
        "b.jpg": picked[40].path,  # video shot 3
        "c.jpg": picked[80].path,  # video shot 4
        "d.jpg": picked[120].path,  # video, shot unknown
        "s1.jpg": picked[150].path,  # still
        "s2.jpg": picked[150].path,  # the same still again
        "s3.jpg": picked[10].path,  # another still
    }
    for name, source in files.items():
        shutil.copy(source, project / "frames" / name)
    pool = ["path,source,time,shot,reason,width,height"]
    pool += [f"frames/{n},v.mp4,1.0,3,shot,320,180" for n in ("a.jpg", "b.jpg")]
    pool += ["frames/c.jpg,v.mp4,2.0,4,shot,320,180", "frames/d.jpg,v.mp4,3.0,,regular,320,180"]
    pool += [f"frames/{n},{n},,,image,320,180" for n in ("s1.jpg", "s2.jpg", "s3.jpg")]
    (project / "pool.csv").write_text("\n".join(pool) + "\n")
    order = ["a.jpg", "c.jpg", "s1.jpg", "s2.jpg", "b.jpg", "s3.jpg", "d.jpg"]
    labels = ["path,labels"] + [f"frames/{n},kral_sakir" for n in order]
    (project / "labels.csv").write_text("\n".join(labels) + "\n")
    data = load_dataset(project)
    g = dict(zip(order, frame_groups(data, np.arange(len(order))).tolist(), strict=True))
    assert g["a.jpg"] == g["b.jpg"] and len({g["a.jpg"], g["c.jpg"], g["d.jpg"]}) == 3
    assert g["s1.jpg"] == g["s2.jpg"] and g["s3.jpg"] != g["s1.jpg"]
    assert len(set(g.values())) == 5


def test_splits_that_number_their_frames_alike_are_separate_timelines(dataset, tmp_path):
    """train/1.jpg, 2.jpg and test/1.jpg, 2.jpg: two videos, each pair one shot (copies of one
    frame); taken as one timeline they would interleave and no pair would stay together."""
    pictures = {"train": dataset.samples[0].path, "test": dataset.samples[5000].path}
    for split, source in pictures.items():
        (tmp_path / split / "kral_sakir").mkdir(parents=True)
        for stem in ("1", "2"):
            shutil.copy(source, tmp_path / split / "kral_sakir" / f"{stem}.jpg")
    data = load_dataset(tmp_path)
    groups = frame_groups(data, np.arange(4))
    by_split = {
        s: {g for x, g in zip(data.samples, groups, strict=True) if x.split == s} for s in pictures
    }
    assert len(by_split["train"]) == len(by_split["test"]) == 1
    assert by_split["train"] != by_split["test"]
