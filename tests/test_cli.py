"""The real `toontag` command, run in-process through its entry point."""

import json
import re
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


def test_help_lists_every_command_in_the_order_users_know(monkeypatch, capsys):
    """The modules group the commands differently from `toontag --help`: HELP_ORDER keeps
    the list as it was, and names every command, so that none falls to the end unnoticed."""
    from toontag.cli._app import HELP_ORDER

    code, out, _ = run_cli(monkeypatch, capsys, "--help")
    listed = re.findall(r"^│ ([a-z]+) ", out, flags=re.MULTILINE)
    assert code == 0 and listed == [*HELP_ORDER, "data", "label"]


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
    code, _, err = run_cli(monkeypatch, capsys, "predict", run, tmp_path / "missing.jpg")
    assert code == 1 and f"error: {tmp_path / 'missing.jpg'}: file not found\n" in err


def test_parse_size():
    assert parse_size("224") == (224, 224) and parse_size("112x192") == (112, 192)


def typo_manifest(manifest, out):
    """`manifest` with the first 'remzi' label misspelt 'remzzi'; returns it and that line."""
    import csv

    with manifest.open(newline="") as f:
        rows = list(csv.DictReader(f))
    row = next(i for i, r in enumerate(rows) if "remzi" in r["labels"].split(";"))
    rows[row]["labels"] = rows[row]["labels"].replace("remzi", "remzzi")
    with out.open("w", newline="") as f:
        writer = csv.DictWriter(f, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return out, row + 2  # the header is line 1


def test_evaluate_names_a_label_the_model_does_not_know(
    monkeypatch, capsys, tiny_run, small_manifest, tmp_path
):
    manifest, line = typo_manifest(small_manifest, tmp_path / "typo.csv")
    code, _, err = run_cli(monkeypatch, capsys, "evaluate", tiny_run, "--data", manifest)
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert err.startswith("error:") and f"typo.csv:{line}: unknown label 'remzzi'" in err
    assert "did you mean 'remzi'?" in err and "from the model in" in err


def test_evaluate_refuses_a_second_look_at_test_in_one_line_and_retest_records_it(
    monkeypatch, capsys, tiny_run, small_manifest, tmp_path
):
    import shutil

    run = shutil.copytree(tiny_run, tmp_path / "run")
    args = ["evaluate", run, "--data", small_manifest, "--resamples", "10"]
    code, out, _ = run_cli(monkeypatch, capsys, *args)
    assert code == 0 and "look" not in out
    code, out, err = run_cli(monkeypatch, capsys, *args)
    assert code == 1 and out == "" and len(err.strip().splitlines()) == 1
    assert err.startswith(f"error: {run} was evaluated on this test data at ")
    assert err.rstrip().endswith("; pass --retest to look again (recorded)")
    code, out, _ = run_cli(monkeypatch, capsys, *args, "--retest")
    assert code == 0 and f"look 2 at this test data, recorded in {run / 'test-looks.json'}" in out
    assert json.loads((run / "metrics-test.json").read_text())["test_look"] == 2
    code, _, _ = run_cli(monkeypatch, capsys, *args, "--split", "val")  # validation: free
    assert code == 0


def test_evaluate_names_the_files_of_other_data_and_says_what_it_replaces(
    monkeypatch, capsys, tiny_run, small_manifest, tmp_path
):
    """Issue 28: an evaluation on other data than the run's own silently overwrote the
    metrics of the earlier one; now it writes files named after the data, and one line says
    when the files of another dataset of the same name are replaced."""
    import shutil

    from tests.conftest import write_manifest
    from toontag.data.dataset import load_dataset

    run = shutil.copytree(tiny_run, tmp_path / "run")
    test = load_dataset(small_manifest).subset("test").samples
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
    first = write_manifest(tmp_path / "a" / "other.csv", test[::2])
    second = write_manifest(tmp_path / "b" / "other.csv", test[1::2])
    args = ["evaluate", run, "--resamples", "10"]
    code, out, _ = run_cli(monkeypatch, capsys, *args, "--data", small_manifest)
    assert (
        code == 0 and f"written: {run / 'metrics-test.json'} and .md, predictions-test.csv" in out
    )
    code, out, _ = run_cli(monkeypatch, capsys, *args, "--data", first)
    assert code == 0 and f"written: {run / 'metrics-test-other.json'}" in out
    assert "replaced" not in out
    assert json.loads((run / "metrics-test.json").read_text())["data"] == str(small_manifest)
    code, out, _ = run_cli(monkeypatch, capsys, *args, "--data", second)
    assert code == 0 and f"replaced the evaluation of {first} in those files" in out


def test_evaluate_says_how_many_entries_were_unknown(
    monkeypatch, capsys, tiny_run, small_manifest, tmp_path
):
    """Before issue 28 a split with classes marked unknown was refused; now it is scored
    without them, and the output and the metrics file count them."""
    import shutil

    from tests.conftest import write_manifest
    from toontag.data.dataset import load_dataset

    def unknown(i, sample):  # every 4th test frame: one class it does not show
        absent = [c for c in ("canan", "remzi", "kral_sakir") if c not in sample.labels]
        return absent[:1] if i % 4 == 0 else []

    run = shutil.copytree(tiny_run, tmp_path / "run")
    test = load_dataset(small_manifest).subset("test").samples
    manifest = write_manifest(tmp_path / "unsure.csv", test, unknown=unknown)
    unknown_entries = sum(len(unknown(i, s)) for i, s in enumerate(test))
    code, out, _ = run_cli(
        monkeypatch, capsys, "evaluate", run, "--data", manifest, "--resamples", "10"
    )
    written = json.loads((run / "metrics-test-unsure.json").read_text())
    assert code == 0 and written["unknown_entries"] == unknown_entries > 10
    assert f"{unknown_entries} entries marked unknown: left out of these figures" in out


def test_data_stats_checks_labels_against_classes(monkeypatch, capsys, small_manifest, tmp_path):
    manifest, line = typo_manifest(small_manifest, tmp_path / "typo.csv")
    args = ["data", "stats", manifest, "--no-check", "--classes"]
    code, _, err = run_cli(monkeypatch, capsys, *args, "kral_sakir,remzi,fil_necati,canan")
    assert code == 1 and f"typo.csv:{line}: unknown label 'remzzi'" in err and "--classes" in err
    code, out, _ = run_cli(monkeypatch, capsys, "data", "stats", manifest, "--no-check")
    assert code == 0 and "warning: label 'remzzi' (1 images) looks like a misspelling" in out


def test_train_shows_a_manifests_classes_and_likely_typos_first(
    monkeypatch, capsys, small_manifest, tmp_path
):
    """Printed before anything else happens: here the model name is then refused."""
    manifest, _ = typo_manifest(small_manifest, tmp_path / "typo.csv")
    args = ["train", "--data", manifest, "--out", tmp_path / "r", "--model", "densenet12"]
    code, out, err = run_cli(monkeypatch, capsys, *args)
    assert code == 1 and "unknown model 'densenet12'" in err
    assert "classes from the manifest's labels (images): canan" in out and ", remzzi 1\n" in out
    assert "'remzzi' (1 images) looks like a misspelling of 'remzi'" in out


def test_train_prints_no_lightning_banner_or_advertising(small_manifest, tmp_path):
    """Lightning's device banner and its litlogger tip are silenced in every command that
    trains; toontag's own lines remain."""
    import subprocess

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "toontag",
            "train",
            "--data",
            str(small_manifest),
            "--out",
            str(tmp_path / "run"),
            "--model",
            "baseline",
            "--image-size",
            "32x48",
            "--epochs",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    said = done.stdout + done.stderr
    assert done.returncode == 0, said[-2000:]
    assert "litlogger" not in said and "GPU available" not in said and "Tip:" not in said
    assert (tmp_path / "run" / "model.json").is_file()


def test_compare_a_run_with_itself(monkeypatch, capsys, tiny_run, small_manifest, tmp_path):
    """`toontag compare RUN RUN`: the same model on the same frames differs by 0, [0, 0]."""
    import shutil

    run = shutil.copytree(tiny_run, tmp_path / "run")
    args = ["compare", run, run, "--data", small_manifest, "--resamples", "20"]
    code, out, _ = run_cli(monkeypatch, capsys, *args, "--json")
    c = json.loads(out)
    assert code == 0 and c["difference"] == 0.0 and c["sequences"] <= c["images"] == 84
    assert c["difference_ci95_by_sequence"] == [0.0, 0.0] == c["difference_ci95"]
    code, out, _ = run_cli(monkeypatch, capsys, *args)
    assert code == 0 and f"(84 images, {c['sequences']} sequences): +0.0000, paired 95%" in out
    assert "interval by sequence [+0.0000, +0.0000] (no difference shown)" in out
