"""Every command, every argument, hostile values (issue 10 item 9).

For each command a cheap invocation that works is the base; each case swaps one argument for
a hostile value (numbers past any range, Unicode digits, NaN, a folder where a file goes, a
path under a regular file, a missing or garbage file, empty text) and the command must answer
with one `error:` line on stderr and exit 1 (or 2 for the argument parser's usage errors):
never a traceback, and never the "bug" exit (70) of an unexpected exception. Every parameter
of every command is covered: a new command or option fails `test_every_parameter_is_swept`
until its kind is known here.
"""

from __future__ import annotations

import csv
import itertools
import shutil
import sys
from pathlib import Path

import pytest
import typer.main

from toontag.cli import app, main

BIG = "99999999999999999999"
INTS = [BIG, "-" + BIG, "²", "1.5"]
FLOATS = ["nan", "inf", "-inf", "1e999", "²"]
TEXTS = ["", "²", "\u202e" + "x" * 3000]
INPUTS = ["{missing}", "{folder}", "{empty}", "{garbage}", "{under_file}"]
OUT_FILES = ["{under_file}", "{folder}"]
OUT_DIRS = ["{under_file}", "{garbage}"]

# The kind of each parameter that is not plain int/float/str: an input file or folder, an
# output file or an output folder. Flags have no value to spoil.
KINDS = {
    "data": INPUTS,
    "run": INPUTS,
    "run_a": INPUTS,
    "run_b": INPUTS,
    "runs": INPUTS,
    "images": INPUTS,
    "videos": INPUTS,
    "sources": INPUTS,
    "weights": INPUTS,
    "resume": INPUTS,
    "oof": INPUTS,
    "predictions": INPUTS,
    "reviewed": INPUTS,
    "project": INPUTS,
    "unlabelled": INPUTS,
    "examples": INPUTS,
    "negatives": INPUTS,
    "confirmed": INPUTS,
    "db": INPUTS,  # an output of index, where a missing or empty file is a new index
    "out_file": OUT_FILES,
    "csv_file": OUT_FILES,
    "json_out": OUT_FILES,
    "manifest": OUT_FILES,
    "out_dir": OUT_DIRS,
    "work": OUT_DIRS,
    "report": OUT_DIRS,
    "results": OUT_DIRS,
    "cache": OUT_DIRS,
}
# (command, parameter) whose value may be any text: nothing to spoil.
FREE_TEXT = {("benchmark", "note")}
# (command, parameter, value) that are valid on purpose, with the reason.
VALID = {
    ("benchmark", "runs", "{missing}"): "a new folder for the rows' runs",
    ("benchmark", "runs", "{folder}"): "an empty folder: no finished row, all reported missing",
    ("index", "db", "{missing}"): "a new index",
    ("benchmark", "data", "{folder}"): "--report-only (the base) reads no data",
    ("benchmark", "data", "{empty}"): "--report-only (the base) reads no data",
    ("benchmark", "data", "{garbage}"): "--report-only (the base) reads no data",
    ("index", "db", "{empty}"): "an empty file is an empty SQLite database: a new index",
    ("enrol", "negatives", "{folder}"): "an empty folder adds no negatives",
    ("enrol", "character", "²"): "a digit of any script may name a character",
}

BASES = {
    "data stats": ["{manifest}", "--no-check"],
    "data audit": ["{manifest}", "--results", "{new}"],
    "data suspects": ["{manifest}", "--oof", "{oof}", "--no-twins", "--results", "{new}"],
    "data correct": ["{manifest}", "{reviewed}", "--out", "{new}.csv"],
    "data video": ["{kral_sakir}", "--out", "{new}.mp4", "--seconds", "1"],
    "models": [],
    "train": [
        "--data",
        "{manifest}",
        "--out",
        "{new}",
        "--model",
        "baseline",
        "--image-size",
        "32x48",
        "--epochs",
        "1",
        "--no-pretrained",
    ],
    # The shared run is evaluated on test case after case: each a look asked for again, so
    # that every case fails on its hostile value, never on the refusal of a second look.
    "evaluate": ["{run}", "--data", "{manifest}", "--resamples", "10", "--retest"],
    "compare": ["{run}", "{run}", "--data", "{manifest}", "--resamples", "10"],
    "predict": ["{run}", "{image}"],
    "explain": ["{run}", "{image}", "--out", "{new}"],
    "report": ["{run}", "--data", "{manifest}", "--out", "{new}", "--retest"],
    "export": ["{run}", "--out", "{new}.onnx"],
    "enrol": [
        "{run}",
        "--character",
        "newcomer",
        "--out",
        "{new}",
        "--examples",
        "{image}",
        "--examples",
        "{image2}",
        "--confirm",
        "3",
    ],
    "ensemble": ["{run}", "{run}", "--out", "{new}"],
    "benchmark": ["--report-only", "--runs", "{new}", "--results", "{new}"],
    "index": ["{run}", "{video}", "--db", "{new}.db"],
    "videos": ["--db", "{db}"],
    "search": ["remzi", "--db", "{db}"],
    "timeline": ["1", "--db", "{db}"],
    "serve": ["--db", "{db}"],
    "frames": ["{video}", "--out", "{new}"],
    "label serve": ["{project}"],
    "label adapt": ["{project}", "--minutes", "0.1"],
    "demo": ["--data", "{kral_sakir}", "--work", "{new}", "--run", "{run}", "--seconds", "5"],
}


def commands():
    def walk(command, path=()):
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                yield from walk(sub, (*path, name))
        else:
            yield " ".join(path), command

    return dict(walk(typer.main.get_command(app)))


def scalar(param) -> str:
    """'int', 'float', 'str' or 'Path' for a parameter, or for each value of a repeated one."""
    kind = param.bare_type()
    return kind[5:-1] if kind.startswith("list[") else kind


def hostile_values(name: str, param) -> list[str]:
    if param.name in KINDS:
        return KINDS[param.name]
    if (name, param.name) in FREE_TEXT or getattr(param, "is_flag", False):
        return []
    return {"int": INTS, "float": FLOATS}.get(scalar(param), TEXTS)


def cases():
    for name, command in commands().items():
        for param in command.params:
            for value in hostile_values(name, param):
                if (name, param.name, value) not in VALID:
                    yield name, param, value


def test_every_parameter_is_swept():
    """A parameter the sweep does not know (a new path option, say) fails here first."""
    assert set(BASES) == set(commands())
    for name, command in commands().items():
        for param in command.params:
            flag = getattr(param, "is_flag", False)
            known = param.name in KINDS or flag or (name, param.name) in FREE_TEXT
            assert known or scalar(param) in ("int", "float", "str"), (name, param.name)


@pytest.fixture(scope="module")
def world(tmp_path_factory, dataset, kral_sakir, tiny_run, clip):
    """Small, valid inputs for every base invocation."""
    from tests.conftest import write_manifest
    from toontag.video.synth import make_clip, write_clip

    root = tmp_path_factory.mktemp("sweep")
    samples = [s for s in dataset.samples if s.split == "train"][::300]
    samples += [s for s in dataset.samples if s.split == "test"][::300]
    manifest = write_manifest(root / "m.csv", samples)
    run = root / "run"
    shutil.copytree(tiny_run, run)
    oof = root / "oof.csv"
    with oof.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "labels", *(f"p_{c}" for c in dataset.classes)])
        for i, s in enumerate(samples):
            probs = [0.9 if (c in s.labels) != (i % 7 == 0) else 0.1 for c in dataset.classes]
            writer.writerow([s.path, ";".join(s.labels), *probs])
    reviewed = root / "reviewed.csv"
    reviewed.write_text(
        f"path,labels,corrected\n{samples[0].path},{';'.join(samples[0].labels)},-\n"
    )
    video = root / "v.mp4"
    write_clip(make_clip(dataset.subset("test"), seconds=4, hold=0.5, seed=3), video, fps=10)
    (root / "folder").mkdir()
    (root / "empty").write_bytes(b"")
    (root / "garbage").write_bytes(b"\x00\xffnot what you think" * 50)
    values = {
        "manifest": manifest,
        "run": run,
        "oof": oof,
        "reviewed": reviewed,
        "video": video,
        "image": samples[0].path,
        "image2": samples[1].path,
        "kral_sakir": kral_sakir,
        "missing": root / "missing" / "x",
        "folder": root / "folder",
        "empty": root / "empty",
        "garbage": root / "garbage",
        "under_file": root / "garbage" / "x",
    }
    code = cli(["index", run, video, "--db", root / "db.sqlite"])[0]
    assert code == 0
    values["db"] = root / "db.sqlite"
    assert cli(["frames", video, "--out", root / "project"])[0] == 0
    values["project"] = root / "project"
    return values, root


def cli(args) -> tuple[int, str, str]:
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = ["toontag", *map(str, args)]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main()
            except SystemExit as e:
                code = e.code or 0
    finally:
        sys.argv = argv
    return code, out.getvalue(), err.getvalue()


def invocation(name: str, param, value: str, values: dict, root: Path) -> list[str]:
    """The base invocation of `name` (positional arguments first, in declaration order) with
    `param` set to `value`; a variadic argument's values become the one hostile value."""
    counter = itertools.count()

    def fill(text: str) -> str:
        text = text.replace("{new}", str(root / f"new{next(counter)}"))
        return text.format(**values)

    args = [fill(a) for a in BASES[name]]
    hostile = fill(value)
    if param.param_type_name == "argument":
        params = COMMANDS[name].params
        at = [p.name for p in params if p.param_type_name == "argument"].index(param.name)
        ends = next((i for i, a in enumerate(args) if a.startswith("-")), len(args))
        stop = ends if param.nargs == -1 else at + 1
        args[at:stop] = [hostile]
    elif param.opts[0] in args:
        args[args.index(param.opts[0]) + 1] = hostile
    else:
        args += [param.opts[0], hostile]
    return [*name.split(), *args]


COMMANDS = commands()
ALL = list(cases())


@pytest.mark.parametrize(
    ("name", "param", "value"), ALL, ids=[f"{n}-{p.name}-{v[:12]}" for n, p, v in ALL]
)
def test_hostile_argument_is_one_line(name, param, value, world, monkeypatch, tmp_path):
    values, root = world
    monkeypatch.setenv("TOONTAG_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setattr("toontag.serve.local.serve", lambda *a: None)  # serve must not block
    args = invocation(name, param, value, values, tmp_path)
    code, _, err = cli(args)
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert "Traceback" not in err, (args, err[-2000:])
    assert code in (1, 2), (args, code, err[-500:])
    assert len(errors) == 1, (args, err[-1000:])
