"""The real `toontag` command, run in-process through its entry point."""

import json
import sys

import pytest

from toontag.cli import main, parse_size


def run_cli(monkeypatch, capsys, *args):
    monkeypatch.setattr(sys, "argv", ["toontag", *map(str, args)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    captured = capsys.readouterr()
    return exit_info.value.code or 0, captured.out, captured.err


@pytest.mark.parametrize("command", [[], ["data", "stats"], ["train"], ["evaluate"], ["predict"]])
def test_every_command_explains_itself(monkeypatch, capsys, command):
    code, out, _ = run_cli(monkeypatch, capsys, *command, "--help")
    assert code == 0 and "Usage: toontag" in out


def test_data_stats_prints_the_papers_tables(monkeypatch, capsys, kral_sakir, tmp_path):
    code, out, _ = run_cli(
        monkeypatch,
        capsys,
        "data",
        "stats",
        kral_sakir,
        "--no-check",
        "--json",
        tmp_path / "s.json",
    )
    assert code == 0
    assert "13,381" in out and "7,464" in out and "kral_sakir_remzi_fil_necati_canan" in out
    stats = json.loads((tmp_path / "s.json").read_text())
    assert stats["splits"]["test"]["images"] == 3344


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["data", "stats", "/no/such/folder"], "/no/such/folder: no such dataset"),
        (
            ["train", "--data", "{data}", "--out", "{tmp}/r", "--model", "densenet12"],
            "unknown model 'densenet12'",
        ),
        (["evaluate", "{tmp}", "--data", "{data}"], "not a finished toontag run"),
        (["train", "--resume", "{tmp}", "--data", "{data}"], "nothing to resume"),
        (
            ["train", "--data", "{data}", "--out", "{tmp}/r", "--preset", "quick"],
            "unknown preset 'quick'; known: paper, fast",
        ),
        (
            ["train", "--data", "{data}", "--out", "{tmp}/r", "--set", "lr=fast"],
            "--set 'lr=fast': 'fast' is not a valid float",
        ),
    ],
)
def test_errors_are_one_line_and_exit_1(
    monkeypatch, capsys, tmp_path, small_manifest, args, message
):
    args = [a.format(data=small_manifest, tmp=tmp_path) for a in args]
    code, _, err = run_cli(monkeypatch, capsys, *args)
    assert code == 1
    last = err.strip().splitlines()[-1]
    assert last.startswith("error:") and message in last and "Traceback" not in err


def test_train_evaluate_predict_end_to_end(monkeypatch, capsys, small_manifest, tmp_path, dataset):
    run = tmp_path / "run"
    code, out, _ = run_cli(
        monkeypatch,
        capsys,
        "train",
        "--data",
        small_manifest,
        "--out",
        run,
        "--model",
        "baseline",
        "--image-size",
        "32x48",
        "--epochs",
        "1",
        "--no-pretrained",
        "--preset",
        "fast",
        "--lr",
        "1e-3",
    )
    assert code == 0 and "trained" in out
    config = json.loads((run / "config.json").read_text())  # the preset, then the options
    assert (config["optimizer"], config["schedule"], config["augment"]) == (
        "adamw",
        "cosine",
        "flip_crop",
    )
    assert (config["lr"], config["max_epochs"], config["dropout"]) == (1e-3, 1, 0.1)
    code, out, _ = run_cli(
        monkeypatch, capsys, "evaluate", run, "--data", small_manifest, "--resamples", "20"
    )
    assert code == 0 and "micro-F1" in out and (run / "metrics-test.json").is_file()
    image = dataset.samples[0].path
    code, out, _ = run_cli(monkeypatch, capsys, "predict", run, image, "--json")
    result = json.loads(out)
    assert code == 0 and result[0]["path"] == str(image) and len(result[0]["probabilities"]) == 4
    code, out, _ = run_cli(monkeypatch, capsys, "predict", run, tmp_path / "missing.jpg")
    assert code == 1 and "missing.jpg: file not found" in out


def test_parse_size():
    assert parse_size("224") == (224, 224) and parse_size("112x192") == (112, 192)
