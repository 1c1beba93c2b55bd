"""How the command line reports errors (issue 10 items 0 and 21): a user's mistake is one line
(exit 1, or 2 for a malformed command line); a bug is one line saying so, with the traceback
kept in a log file (exit 70) or shown with --debug; a missing dataset says how to get it."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from tests.test_cli_sweep import cli


def crash(*args, **kwargs):
    raise ZeroDivisionError("a bug")


@pytest.fixture
def logs(tmp_path, monkeypatch):
    monkeypatch.setenv("TOONTAG_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.delenv("TOONTAG_DEBUG", raising=False)
    return tmp_path / "logs"


def test_a_bug_is_one_line_with_the_traceback_in_a_log_file(monkeypatch, logs):
    monkeypatch.setattr("toontag.models.list_models", crash)
    code, out, err = cli(["models"])
    assert code == 70
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "internal error, a bug in toontag: ZeroDivisionError: a bug" in err
    [log] = logs.iterdir()
    assert str(log) in err
    text = log.read_text()
    assert "toontag models" in text and "Traceback" in text and "def crash" not in text
    assert "raise ZeroDivisionError" in text


def test_debug_shows_the_traceback_instead(monkeypatch, logs):
    monkeypatch.setattr("toontag.models.list_models", crash)
    code, _, err = cli(["--debug", "models"])
    assert code == 70
    assert "Traceback" in err and "ZeroDivisionError: a bug" in err
    assert not logs.exists()


def test_a_user_error_is_not_called_a_bug(logs, tmp_path):
    code, _, err = cli(["timeline", "1", "--db", tmp_path / "none.db"])
    assert code == 1 and err.startswith("error:") and "bug" not in err
    assert not logs.exists()


def test_a_malformed_command_line_is_one_line_exit_2(logs):
    code, _, err = cli(["train", "--epochs", "many"])
    assert code == 2
    assert err.count("\n") == 1
    assert "'--epochs'" in err and "see toontag train --help" in err


def test_a_file_the_system_refuses_is_named(logs, tmp_path, small_manifest):
    (tmp_path / "taken").mkdir()
    code, _, err = cli(["data", "stats", small_manifest, "--no-check", "--json", tmp_path])
    assert code == 1 and err.count("\n") == 1
    assert re.match(rf"error: .*{re.escape(str(tmp_path))}", err)


def test_markup_in_a_message_is_printed_as_is(logs, tmp_path):
    code, _, err = cli(["timeline", "1", "--db", tmp_path / "[red]x[/].db"])
    assert code == 1 and "[red]x[/].db" in err


def test_without_any_dataset_the_error_says_how_to_get_it(logs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # neither ./kral_sakir nor ../shared/data/kral_sakir here
    monkeypatch.delenv("TOONTAG_DATA", raising=False)
    code, _, err = cli(["data", "stats", "--no-check"])
    assert code == 1 and err.count("\n") == 1
    assert "--data PATH" in err and "TOONTAG_DATA" in err
    assert "git clone https://github.com/candantumer/kral_sakir" in err


def test_the_dataset_is_found_the_same_way_by_every_command(
    logs, tmp_path, monkeypatch, small_manifest
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TOONTAG_DATA", str(small_manifest))
    code, out, _ = cli(["data", "stats", "--no-check"])
    assert code == 0 and str(small_manifest) in out.replace("\n", "")
    monkeypatch.delenv("TOONTAG_DATA")
    shutil.copy(small_manifest, tmp_path / "elsewhere.csv")
    (tmp_path / "kral_sakir").mkdir()  # the README's clone location wins over nothing
    code, _, err = cli(["data", "stats", "--no-check"])
    assert code == 1 and "kral_sakir" in err  # found, and then reported as empty


def test_evaluate_defaults_to_the_data_the_run_was_trained_on(
    logs, tmp_path, monkeypatch, tiny_run
):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TOONTAG_DATA", raising=False)
    code, out, err = cli(["evaluate", run, "--resamples", "10"])
    assert code == 0, err
    assert (run / "metrics-test.json").is_file()


def test_a_runs_recorded_data_that_is_not_there_is_named(logs, tmp_path, monkeypatch, tiny_run):
    """A run from before absolute paths were recorded, evaluated from another folder: the
    error names the path it recorded, not only the defaults looked in."""
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    split = json.loads((run / "split.json").read_text())
    (run / "split.json").write_text(json.dumps({**split, "data": "frames.csv"}))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TOONTAG_DATA", raising=False)
    code, _, err = cli(["evaluate", run, "--resamples", "10"])
    assert code == 1 and err.count("\n") == 1
    assert f"{run}'s recorded frames.csv is not there" in err
