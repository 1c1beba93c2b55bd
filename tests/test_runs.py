"""The run directory's format (toontag.runs), read without building a model."""

from __future__ import annotations

import shutil

import pytest

from toontag.errors import RunError
from toontag.runs import (
    MARK,
    MODEL_INFO,
    SPLIT,
    WEIGHTS,
    check_finished,
    check_new_run,
    ensemble_members,
    is_ensemble,
    mark_run,
    model_id,
    read_config,
    read_model_info,
    read_split,
    run_data,
    write_ensemble_members,
)


def test_a_finished_run_reads_back_its_config_classes_and_split(tiny_run, small_manifest):
    check_finished(tiny_run)
    assert read_config(tiny_run).model == "baseline"
    info = read_model_info(tiny_run)
    assert len(info["classes"]) == len(info["thresholds"]) and info["image_size"] == [32, 48]
    assert run_data(tiny_run) == small_manifest
    assert read_split(tiny_run)["val_images"]


def test_the_model_id_follows_the_weights_and_model_json(tiny_run, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_run, copy)
    assert model_id(copy) == model_id(tiny_run)
    (copy / MODEL_INFO).write_text((copy / MODEL_INFO).read_text().replace("]", ", 0.0]", 1))
    assert model_id(copy) != model_id(tiny_run)


def test_what_a_run_lacks_is_named(tiny_run, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_run, broken)
    (broken / WEIGHTS).unlink()
    with pytest.raises(RunError, match=f"{WEIGHTS} is missing"):
        check_finished(broken)
    (broken / SPLIT).unlink()
    with pytest.raises(RunError, match="no split.json"):
        read_split(broken)
    assert run_data(broken) is None
    with pytest.raises(RunError, match="model.json is missing"):
        read_model_info(tmp_path)


def test_an_ensemble_lists_its_members(tiny_run, tmp_path):
    out = tmp_path / "ensemble"
    out.mkdir()
    write_ensemble_members(out, [tiny_run, tiny_run])
    assert is_ensemble(out) and not is_ensemble(tiny_run)
    assert ensemble_members(out) == [tiny_run.resolve()] * 2


def test_a_new_run_goes_only_where_no_file_is_the_users(tmp_path):
    """Absent, empty or marked as toontag's (`mark_run`): a new run may be written; a folder
    holding anything else is refused, naming what it holds (issue 26, item 7)."""
    check_new_run(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    check_new_run(tmp_path / "empty")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / ".DS_Store").write_bytes(b"")
    check_new_run(mine)  # hidden names are never written over
    for name in ("config.json", "notes.txt", "photos", "z.csv"):
        (mine / name).write_text("the user's own")
    with pytest.raises(RunError) as refused:
        check_new_run(mine)
    assert str(refused.value) == (
        f"{mine}: holds files toontag did not write (config.json, notes.txt, photos, ...); "
        "choose another --out (a new or empty folder)"
    )
    mark_run(tmp_path / "killed")  # what a run killed early leaves
    (tmp_path / "killed" / "config.json").write_text("{}")
    check_new_run(tmp_path / "killed")
    assert (tmp_path / "killed" / MARK).is_file()


def test_an_ensemble_is_not_written_over_the_users_files(tiny_run, tmp_path):
    from toontag.models.trained import write_ensemble

    out = tmp_path / "mine"
    out.mkdir()
    (out / "model.json").write_text("the user's own")
    with pytest.raises(RunError, match="holds files toontag did not write"):
        write_ensemble(out, [tiny_run, tiny_run])
    assert (out / "model.json").read_text() == "the user's own"
    write_ensemble(tmp_path / "new", [tiny_run, tiny_run])
    write_ensemble(tmp_path / "new", [tiny_run, tiny_run])  # its own files: written again
