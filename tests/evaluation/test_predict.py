"""Tagging folders of stills: what is found, the table, the sidecars, batches and refusals."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from tests.test_cli import run_cli
from toontag.data.images import load_resized
from toontag.evaluation.predict import find_images, sidecar, tag_images
from toontag.models.engine import load_engine
from toontag.models.trained import load_trained


@pytest.fixture
def stills(dataset, tmp_path):
    """A folder of frames as people keep them: nested, with a broken file, a macOS '._'
    companion, a text file and an empty sub-folder. Returns it and the images in it."""
    folder = tmp_path / "stills"
    images = []
    for i, sample in enumerate(dataset.samples[::1500]):
        place = folder / ("episode 1" if i % 2 else "episode 2/act [b]") / f"f{i}.jpg"
        place.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(sample.path, place)
        images.append(place)
    (folder / "episode 1" / "broken.jpg").write_bytes(b"\xff\xd8 cut short")
    (folder / "episode 1" / "._f1.jpg").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    (folder / "notes.txt").write_text("not an image")
    (folder / "empty").mkdir()
    return folder, sorted([*images, folder / "episode 1" / "broken.jpg"])


def test_a_folder_is_tagged_recursively_into_a_table_json_and_sidecars(
    monkeypatch, capsys, tiny_run, stills, tmp_path
):
    folder, images = stills
    table = tmp_path / "tags.csv"
    code, out, err = run_cli(
        monkeypatch,
        capsys,
        "predict",
        tiny_run,
        folder,
        folder / "empty",
        "--csv",
        table,
        "--json",
        "--sidecar",
    )
    assert code == 1  # the broken file and the empty folder are listed, the rest tagged
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    broken = folder / "episode 1" / "broken.jpg"
    assert errors == [
        f"error: {folder / 'empty'}: no image files in this folder",
        f"error: {broken}: not a readable image",
    ]
    results = json.loads(out)
    assert [r["path"] for r in results[1:]] == [str(p) for p in images]  # hidden, .txt skipped
    engine = load_engine(tiny_run)
    # what to expect, from the run's files and PyTorch, not from what predict printed
    written = json.loads((tiny_run / "model.json").read_text())
    classes, thresholds = written["classes"], written["thresholds"]
    trained = load_trained(tiny_run)
    rows = list(csv.DictReader(table.open()))
    # probability columns named as in evaluate's predictions (p_<class>), before issue 28 bare
    assert list(rows[0]) == ["path", "characters", *(f"p_{c}" for c in classes), "note", "error"]
    assert [r["path"] for r in rows] == [r["path"] for r in results]
    decided = 0
    for row, result in zip(rows, results, strict=True):
        if "error" in result:
            assert row["error"] == result["error"] and row["characters"] == ""
            assert not sidecar(result["path"]).exists()
            continue
        pixels = torch.from_numpy(load_resized(result["path"], trained.image_size)[0][None])
        with torch.no_grad():
            expected = trained.model.probabilities(pixels)[0].numpy()
        probs = result["probabilities"]
        assert list(probs) == classes
        assert np.allclose(list(probs.values()), expected, atol=2e-4)
        clear = np.abs(expected - thresholds) > 1e-3  # engines' rounding cannot cross these
        wanted = [c for c, p, t in zip(classes, expected, thresholds, strict=True) if p >= t]
        got = result["characters"]
        assert got == [c for c in classes if c in got]  # in the run's class order
        assert [c in got for c, ok in zip(classes, clear, strict=True) if ok] == [
            c in wanted for c, ok in zip(classes, clear, strict=True) if ok
        ]
        decided += int(clear.sum())
        assert row["characters"] == ";".join(got)
        assert [float(row[f"p_{c}"]) for c in classes] == list(probs.values())
        side = json.loads(sidecar(result["path"]).read_text())
        assert side["image"] == result["path"].rsplit("/", 1)[1]
        assert (side["characters"], side["probabilities"]) == (got, probs)
        assert side["model_id"] == engine.model_id
        assert side["thresholds"] == {
            c: round(t, 4) for c, t in zip(classes, thresholds, strict=True)
        }
    assert decided >= 0.9 * len(classes) * (len(results) - 2)  # nearly every decision checked
    assert len(set(thresholds)) > 1  # tuned per class: a mix-up of classes would show
    assert f"tagged {len(images) - 1} of {len(images)} images" in err  # folders not counted
    assert "images/s" in err


def test_an_unreadable_folder_is_listed_and_the_rest_tagged(
    monkeypatch, capsys, tiny_run, stills, refuse_listing
):
    folder, images = stills
    locked = folder / "episode 2"
    refuse_listing(locked)
    code, out, err = run_cli(monkeypatch, capsys, "predict", tiny_run, folder, "--json")
    assert code == 1
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert errors[0] == f"error: {locked}: cannot read this folder (permission denied)"
    tagged = [r["path"] for r in json.loads(out)[1:]]
    assert tagged == [str(p) for p in images if locked not in p.parents]
    reason = "cannot read this folder (permission denied)"
    assert find_images([locked]) == ([], [{"path": str(locked), "error": reason}])  # not empty


def test_batches_and_engines_agree_and_keep_the_order(tiny_run, stills):
    _, images = stills
    onnx = load_engine(tiny_run, "onnx")
    one = list(tag_images(onnx, images, batch_size=1))
    many = list(tag_images(onnx, images, batch_size=3))
    torch_results = list(tag_images(load_engine(tiny_run, "torch"), images))
    assert one == many and [r["path"] for r in one] == [str(p) for p in images]
    for a, b in zip(one, torch_results, strict=True):
        assert ("error" in a) == ("error" in b)
        if "error" not in a:
            left, right = list(a["probabilities"].values()), list(b["probabilities"].values())
            assert np.allclose(left, right, atol=2e-4)


def test_a_folder_as_the_table_is_refused_before_any_work(monkeypatch, capsys, tiny_run, stills):
    folder, _ = stills
    code, out, err = run_cli(monkeypatch, capsys, "predict", tiny_run, folder, "--csv", folder)
    assert code == 1 and out == "" and "tagging" not in err
    assert err.strip().splitlines() == [
        f"error: {folder}: is a folder; --csv names the file to write"
    ]
    assert not list(folder.rglob("*.json"))


def test_the_table_escapes_control_characters_in_image_names(
    monkeypatch, capsys, tiny_run, dataset, tmp_path
):
    """An image named with a newline and ESC is one row of one line in `--csv`, its name
    escaped (the JSON on stdout escapes it by itself)."""
    folder = tmp_path / "stills"
    folder.mkdir()
    odd = folder / "a\nforged,row\x1b[31m.jpg"
    shutil.copy(dataset.samples[0].path, odd)
    table = tmp_path / "tags.csv"
    code, out, _ = run_cli(monkeypatch, capsys, "predict", tiny_run, folder, "--csv", table)
    text = table.read_text()
    assert code == 0 and len(text.splitlines()) == 2 and "\x1b" not in text
    [row] = list(csv.DictReader(text.splitlines()))
    assert row["path"] == str(folder / "a\\nforged,row\\x1b[31m.jpg")


def test_a_fifo_or_a_symlink_as_the_table_is_refused_and_left_as_it_was(
    monkeypatch, capsys, tiny_run, stills, tmp_path
):
    """Before: `--csv F` renamed a new table onto F, so a FIFO (or, as root, a device) became a
    regular file and a symlink was replaced, its target left empty (issue 26, item 1)."""
    import os
    import stat

    folder, _ = stills
    target = tmp_path / "mine.csv"
    target.write_text("the user's own\n")
    os.mkfifo(tmp_path / "pipe.csv")
    (tmp_path / "link.csv").symlink_to(target)
    for name, kind in (("pipe.csv", "a FIFO"), ("link.csv", "a symlink")):
        code, out, err = run_cli(
            monkeypatch, capsys, "predict", tiny_run, folder, "--csv", tmp_path / name
        )
        assert code == 1 and out == "" and "tagging" not in err  # before any work
        assert err.startswith(f"error: {tmp_path / name}: is {kind}, not a regular file; ")
    assert stat.S_ISFIFO(os.lstat(tmp_path / "pipe.csv").st_mode)
    assert (tmp_path / "link.csv").readlink() == target
    assert target.read_text() == "the user's own\n"


def test_a_fifo_named_like_an_image_is_one_line_given_or_found(
    monkeypatch, capsys, tiny_run, stills
):
    """Before: `predict RUN pipe.jpg` opened the FIFO and waited for a writer forever; inside a
    folder it was passed over without a word (issue 26, item 2)."""
    import os

    from tests.conftest import within

    folder, images = stills
    fifo = folder / "episode 1" / "pipe.jpg"
    os.mkfifo(fifo)
    for given in ([fifo], [folder]):
        code, out, err = within(
            120,
            lambda given=given: run_cli(monkeypatch, capsys, "predict", tiny_run, *given, "--json"),
            fifos=[fifo],
        )
        assert code == 1
        assert f"error: {fifo}: not a regular file (a FIFO)" in err.splitlines()
    tagged = [r["path"] for r in json.loads(out) if "error" not in r]
    assert tagged == [str(p) for p in images if p.name != "broken.jpg"]


def test_a_stills_black_bars_are_cropped_before_the_model_looks_unless_told_not_to(tmp_path):
    board = Image.new("RGB", (320, 240))
    board.paste(Image.new("RGB", (320, 180), (200, 120, 60)), (0, 30))  # 16:9 in 4:3
    path = tmp_path / "boxed.png"
    board.save(path)

    class Engine:
        classes, thresholds, image_size, picture_aspect = ("a",), (0.5,), (18, 32), 16 / 9

        def probabilities(self, pixels):
            self.seen = pixels
            return np.full((len(pixels), 1), 0.9)

    engine = Engine()
    [result] = tag_images(engine, [path])
    assert result["note"] == "letterbox cropped" and engine.seen[0].min() > 50
    [result] = tag_images(engine, [path], borders=False)
    assert "note" not in result and engine.seen[0][:2].max() < 40
