"""Every toontag CLI command's output on a small slice of the data, normalised, so that the
output before and after a refactor can be compared (issue 23).

    python benchmarks/cli_outputs.py capture --src SRC --world DIR --out FILE.json
    python benchmarks/cli_outputs.py compare BEFORE.json AFTER.json [--strict]

`capture` runs each command of COMMANDS (tests/test_cli_sweep.py's BASES, some output-format
variants, and `--help` of every command) as `PYTHONPATH=SRC python -m toontag ...`, and records
its argv, exit code, stdout, stderr and the files it wrote, normalised by RULES.

The world, DIR, holds the shared inputs. It is built when missing, by the library of the SRC
given to that first capture (its CLI trains the run), and reused by every later capture, so
before and after read the same run:
  small.csv  every 40th train and test frame (tests/conftest.py's small_manifest): the run's data
  m.csv      every 300th train and test frame (the sweep's world): the data of the commands
  run/       the paper's CNN at 32x48, 2 epochs, lr 1e-3, by the CLI's `train` on small.csv
  oof.csv, reviewed.csv, v.mp4 (make_clip of test frames, seconds=4), db.sqlite (v.mp4 indexed),
  project/ (`frames` of v.mp4), images/ (3 frames of m.csv)
DIR/out is wiped at the start of each capture, so absolute paths repeat. Each command runs in
DIR/out/<slug> (its working directory) with its own copies of run/ and db.sqlite there when it
uses them: what a command writes into the run (evaluate's metrics and predictions) is
recorded and never reaches another command. Recorded files: those new or changed under
DIR/out/<slug>; text ones (TEXT) with their normalised content, others by name only.
Every command runs with COLUMNS=100, NO_COLOR, HF_HUB_OFFLINE=1, TOONTAG_DATA set to the dataset
and TOONTAG_CACHE, TOONTAG_LOG_DIR inside DIR/out (a fresh cache each capture).
`serve` and `label serve` start servers that never end: they are captured as `--help` only.
Delete DIR to build the world again (a different run: then capture before and after again).
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from toontag.benchmark.provenance import git_commit
from toontag.benchmark.results import write_result

PYTHON = Path(sys.executable)  # the venv toontag's dependencies are in
REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("TOONTAG_DATA", REPO.parent / "shared" / "data" / "kral_sakir"))
TEXT = {".json", ".csv", ".md", ".txt", ".html", ".edl", ".xml", ".otio", ".srt", ".vtt", ".log"}
BUILT, BUILDING = ".built", ".building"  # the world is whole / is being made
NUM = r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?"

# (pattern, replacement), applied in order to stdout, stderr and each text file once the paths
# (world, venv, repo, dataset, temporary folder) are {world} {venv} {repo} {data} {tmp}.
RULES = [
    # images inlined in HTML: a hash of their content (same pixels, same hash)
    (r"data:image/(\w+);base64,([\w+/=]+)", lambda m: f"data:image/{m[1]};sha256:{_hash(m[2])}"),
    # ISO-8601 timestamps (provenance "finished", a project's "created" and "added")
    (r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?", "{time}"),
    # compact stamps in file names (crash-20250101-120000-xxxx.log)
    (r"\b\d{8}-\d{6}(?:-\w+)?", "{stamp}"),
    # git commits of the provenance, dirty or not; Python's random temporary names
    (r"\b[0-9a-f]{40}(?:\+dirty)?\b", "{commit}"),
    (r"\btmp[a-z0-9_]{8}\b", "{tmpname}"),
    # JSON timings, a number or an object of them: "seconds", "*_seconds" (fit_, total_, wall_),
    # "wall_*", "*_per_s", "elapsed*"; "duration" is a video's length, data, and stays
    (r'("(?:\w*seconds|wall_\w*|\w*_per_s|elapsed\w*)"): (?:' + NUM + r"|\{[^{}]*\})", r"\1: {t}"),
    # a time taken: "in 1.2 s", "in 3s", "done in 35 s", "took 2 min", "wall time 0.4 s"
    (r"\b(in|took|wall time) " + NUM + r" ?(?:s|ms|min|seconds|minutes)\b", r"\1 {t}"),
    # wall-clock seconds printed whole before a comma, bracket or line end ("val loss 0.69,
    # 12 s", "(video 0 s, index 1 s)"); a data length has a decimal (4.0 s) or goes on (5 s of)
    (r"(?<![\d.])\b\d+ s(?=[,)]|$)", "{t} s"),
    # rates: images/s, img/s, it/s, s/it, frames/s, "12x real time"
    (NUM + r" ?(images/s|img/s|it/s|s/it|frames/s)", r"{rate} \1"),
    (r"\b\d+x real time", "{rate}x real time"),
    # elapsed clocks (0:00:05), not a subtitle's 00:00:01,500 nor a search's 00:00:07.000
    (r"(?<![\d:])\d+:\d\d:\d\d(?![,.\d:])", "{clock}"),
    # load averages
    (r"load average: [\d., ]+", "load average: {load}"),
    # toontag's own version in provenance ("toontag": "0.1.0", "toontag 0.1.0")
    (r'("?toontag"?:? ?"?)\d+\.\d+\.\d+\w*', r"\1{version}"),
]
RULES = [(re.compile(pattern, re.MULTILINE), repl) for pattern, repl in RULES]
# a progress bar's line (rich's, toontag's or Lightning's: "name ━━━━ 3/3 0:00:01 ..."), and
# the lines it wrapped onto, are dropped; a table's borders (┏━━┳━━┓) have no count
PROGRESS = re.compile(r"━.*\d+/\d+")
WRAPPED = re.compile(r"^ {20,}\S")

# slug -> argv after `toontag`; {run} {db}: the command's own copies, {out}: its folder,
# {w}: the world, {data}: the dataset, {image} {image2}: frames in the world's images/.
COMMANDS = {
    "data-stats": "data stats {w}/m.csv --no-check",
    "data-stats-json": "data stats {w}/m.csv --json {out}/stats.json",
    "data-audit": "data audit {w}/m.csv --results {out}/results",
    "data-suspects": "data suspects {w}/m.csv --oof {w}/oof.csv --no-twins --results {out}/results",
    "data-correct": "data correct {w}/m.csv {w}/reviewed.csv --out {out}/corrected.csv",
    "data-video": "data video {data} --out {out}/v.mp4 --seconds 1",
    "models": "models",
    "train": "train --data {w}/m.csv --out {out}/run --model baseline --image-size 32x48 "
    "--epochs 1 --no-pretrained",
    "evaluate": "evaluate {run} --data {w}/m.csv --resamples 10",
    "evaluate-split-test": "evaluate {run} --data {w}/m.csv --split test --resamples 10",
    "evaluate-split-val": "evaluate {run} --data {w}/m.csv --split val --resamples 10",
    "predict": "predict {run} {image}",
    "predict-json": "predict {run} {w}/images --json",
    "predict-csv": "predict {run} {w}/images --csv {out}/table.csv",
    "predict-sidecar": "predict {run} {out}/images --sidecar",
    "explain": "explain {run} {image} --out {out}/explain",
    "report": "report {run} --data {w}/m.csv --out {out}/report",
    "export": "export {run} --out {out}/model.onnx",
    "enrol": "enrol {run} --character newcomer --out {out}/enrolled --examples {image} "
    "--examples {image2} --confirm 3",
    "ensemble": "ensemble {run} {run} --out {out}/ensemble",
    "benchmark": "benchmark --report-only --runs {out}/runs --results {out}/results",
    "index": "index {run} {w}/v.mp4 --db {out}/index.db",
    "index-json": "index {run} {w}/v.mp4 --db {out}/index.db --json",
    "videos": "videos --db {db}",
    "videos-json-report": "videos --db {db} --json --report {out}/library",
    "search": "search remzi --db {db}",
    "search-two": "search 'remzi and necati' --db {db}",
    "search-json": "search 'sakir or canan' --db {db} --json",
    "search-csv": "search 'sakir and not canan' --db {db} --csv",
    "timeline": "timeline 1 --db {db}",
    "timeline-vtt": "timeline v.mp4 --db {db} --format vtt",
    "timeline-csv": "timeline 1 --db {db} --format csv",
    "timeline-json": "timeline 1 --db {db} --format json",
    "timeline-edl": "timeline 1 --db {db} --format edl --out {out}/t.edl",
    "timeline-fcp-xml": "timeline 1 --db {db} --format fcp-xml --out {out}/t.xml",
    "frames": "frames {w}/v.mp4 --out {out}/project",
    "frames-json": "frames {w}/v.mp4 --out {out}/project --json",
    "demo": "demo --data {data} --work {out}/work --run {run} --seconds 5",
}
HELP = ["", "data", "label", "label serve", "serve"]  # besides every command of COMMANDS
for _argv in COMMANDS.values():
    _words = _argv.split()
    HELP.append(" ".join(_words[:2] if _words[0] == "data" else _words[:1]))
for _name in dict.fromkeys(HELP):
    COMMANDS[f"help-{_name.replace(' ', '-') or 'toontag'}"] = f"{_name} --help".strip()


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def normalise(text: str, paths: dict[str, str]) -> str:
    for path, name in paths.items():
        text = text.replace(path, name)
    for pattern, repl in RULES:
        text = pattern.sub(repl, text)
    lines, dropped = [], False
    for line in text.splitlines():
        dropped = bool(PROGRESS.search(line) or (dropped and WRAPPED.match(line)))
        if not dropped:
            lines.append(line.rstrip())  # runs of whitespace at line ends go
    return "\n".join(lines)


def path_names(world: Path, src: Path) -> dict[str, str]:
    """Each absolute path the output may hold -> its placeholder, longest first."""
    names = {
        str(world): "{world}",
        str(world.resolve()): "{world}",
        sys.prefix: "{venv}",
        str(src.resolve().parent): "{repo}",
        str(DATA): "{data}",
        str(DATA.resolve()): "{data}",
        str(Path(os.environ.get("TMPDIR", "/tmp"))): "{tmp}",
    }
    return dict(sorted(names.items(), key=lambda item: -len(item[0])))


def environment(src: Path, scratch: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOONTAG", "PYTHON"))}
    return env | {
        "PYTHONPATH": str(src),
        "PYTHONHASHSEED": "0",
        "COLUMNS": "100",  # help and tables wrap the same way every time
        "NO_COLOR": "1",
        "HF_HUB_OFFLINE": "1",
        "TOONTAG_DATA": str(DATA),
        "TOONTAG_CACHE": str(scratch / ".cache"),
        "TOONTAG_LOG_DIR": str(scratch / ".logs"),
    }


def fill(template: str, **values) -> list[str]:
    """A command's words, each with its {placeholders} filled (paths may hold spaces)."""
    return [word.format(**values) for word in shlex.split(template)]


def toontag(argv: list[str], env: dict, cwd: Path) -> subprocess.CompletedProcess:
    command = [str(PYTHON), "-m", "toontag", *argv]
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=1800)


def build_world(world: Path, src: Path) -> None:
    """The shared inputs (see the module's docstring), made with the installed toontag (the
    data and clip helpers it uses are the same before and after a refactor); `src` is noted."""
    import csv

    from toontag.data.dataset import load_dataset
    from toontag.video.synth import make_clip, write_clip

    if world.exists() and any(world.iterdir()) and not (world / BUILDING).exists():
        sys.exit(f"{world} holds other files: name a new folder for the world")
    shutil.rmtree(world, ignore_errors=True)  # what a failed build left
    world.mkdir(parents=True)
    (world / BUILDING).touch()
    dataset = load_dataset(DATA)

    def manifest(name: str, step: int) -> list:
        samples = [s for s in dataset.samples if s.split == "train"][::step]
        samples += [s for s in dataset.samples if s.split == "test"][::step]
        with (world / name).open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["path", "labels", "split"])
            writer.writerows([s.path, ";".join(s.labels), s.split] for s in samples)
        return samples

    manifest("small.csv", 40)
    samples = manifest("m.csv", 300)
    with (world / "oof.csv").open("w", newline="") as f:  # wrong on every 7th frame
        writer = csv.writer(f)
        writer.writerow(["path", "labels", *(f"p_{c}" for c in dataset.classes)])
        for i, s in enumerate(samples):
            probs = [0.9 if (c in s.labels) != (i % 7 == 0) else 0.1 for c in dataset.classes]
            writer.writerow([s.path, ";".join(s.labels), *probs])
    first = samples[0]
    (world / "reviewed.csv").write_text(
        f"path,labels,corrected\n{first.path},{';'.join(first.labels)},-\n"
    )
    (world / "images").mkdir()
    for s in samples[:3]:
        shutil.copy2(s.path, world / "images" / f"{s.path.parent.name}-{s.path.name}")
    clip = make_clip(dataset.subset("test"), seconds=4, hold=0.5, seed=3)
    write_clip(clip, world / "v.mp4", fps=10)
    env = environment(src, world / "build")
    for template in (
        "train --data {w}/small.csv --out {w}/run --model baseline --image-size 32x48 "
        "--epochs 2 --lr 1e-3 --no-pretrained",
        "index {w}/run {w}/v.mp4 --db {w}/db.sqlite",
        "frames {w}/v.mp4 --out {w}/project",
    ):
        done = toontag(fill(template, w=world), env, world)
        if done.returncode != 0:
            sys.exit(f"world: toontag {template} failed:\n{done.stderr[-3000:]}")
    shutil.rmtree(world / "build")
    (world / BUILT).write_text(f"built by the toontag of {src}\n")
    (world / BUILDING).unlink()


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    files = (p for p in folder.rglob("*") if p.is_file())
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.stat().st_size) for p in files}


def capture(src: Path, world: Path, out: Path) -> None:
    src, world = src.resolve(), world.absolute()
    if not (world / BUILT).exists():
        print(f"building the world in {world}", flush=True)
        build_world(world, src)
    scratch = world / "out"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    env, paths = environment(src, scratch), path_names(world, src)
    check = [str(PYTHON), "-c", "import toontag; print(toontag.__file__)"]
    imported = subprocess.run(check, env=env, capture_output=True, text=True).stdout.strip()
    if not Path(imported).is_relative_to(src):  # an installed toontag would shadow SRC
        sys.exit(f"python -m toontag imports {imported or 'nothing'}, not the one in {src}")
    images = sorted(str(p) for p in (world / "images").iterdir())
    started, results = time.perf_counter(), {}
    for slug, template in COMMANDS.items():
        folder = scratch / slug
        folder.mkdir()
        values = {"w": str(world), "out": str(folder), "data": str(DATA)}
        values |= {"run": str(folder / "run"), "db": str(folder / "db.sqlite")}
        values |= {"image": images[0], "image2": images[1]}
        if "{run}" in template:
            shutil.copytree(world / "run", folder / "run")
        if "{db}" in template:
            shutil.copy2(world / "db.sqlite", folder / "db.sqlite")
        if "{out}/images" in template:
            shutil.copytree(world / "images", folder / "images")
        argv = fill(template, **values)
        before, began = snapshot(folder), time.perf_counter()
        try:
            done = toontag(argv, env, folder)
            code, stdout, stderr = done.returncode, done.stdout, done.stderr
        except subprocess.TimeoutExpired as e:
            code, stdout, stderr = "timeout", str(e.stdout), str(e.stderr)
        seconds = time.perf_counter() - began
        files = {}
        for name, stamp in sorted(snapshot(folder).items()):
            if before.get(name) != stamp:
                text = Path(name).suffix in TEXT
                content = (folder / name).read_text(errors="replace") if text else None
                files[name] = None if content is None else normalise(content, paths)
        results[slug] = {
            "argv": [normalise(a, paths) for a in argv],
            "exit": code,
            "stdout": normalise(stdout, paths),
            "stderr": normalise(stderr, paths),
            "files": files,
            "seconds": round(seconds, 1),  # not compared
        }
        print(f"{slug:24s} exit {code}  {seconds:6.1f} s", flush=True)
    total = time.perf_counter() - started
    meta = {"src": str(src), "commit": git_commit(src), "imported": imported, "world": str(world)}
    meta["seconds"] = round(total)
    out.write_text(json.dumps({"meta": meta, "commands": results}, indent=1) + "\n")
    print(f"{len(results)} commands in {total:.0f} s: {out}")


def fields(entry: dict) -> dict[str, list[str]]:
    """The compared fields of one command, as lines (its timing left out)."""
    found = {"argv": [shlex.join(entry["argv"])], "exit": [str(entry["exit"])]}
    found |= {field: entry[field].splitlines() for field in ("stdout", "stderr")}
    for name, content in entry["files"].items():
        found[f"file {name}"] = ["(binary)"] if content is None else content.splitlines()
    return found


def compare(before_file: Path, after_file: Path, strict: bool, report: Path | None) -> int:
    """Print each command "same" or its diff, and a summary; `report`: also a result file (the
    captures' sources and commits, the summary and every diff)."""
    started = time.perf_counter()
    captures = [json.loads(f.read_text()) for f in (before_file, after_file)]
    before, after = (c["commands"] for c in captures)
    slugs = list(dict.fromkeys([*before, *after]))
    lines, differ = [], 0
    for slug in slugs:
        if slug not in before or slug not in after:
            lines.append(
                f"{slug}: differs (captured only {'before' if slug in before else 'after'})"
            )
            differ += 1
            continue
        old, new = fields(before[slug]), fields(after[slug])
        diff = []
        for field in dict.fromkeys([*old, *new]):
            a, b = old.get(field, ["(none)"]), new.get(field, ["(none)"])
            diff += difflib.unified_diff(a, b, f"before {field}", f"after {field}", lineterm="")
        differ += bool(diff)
        lines.append(f"{slug}: " + ("same" if not diff else "differs"))
        lines += [f"    {line}" for line in diff]
    summary = f"{len(slugs)} commands: {len(slugs) - differ} same, {differ} differ"
    print("\n".join([*lines, summary]))
    if report is not None:
        metas = [
            {**c["meta"], "file": str(f)}
            for c, f in zip(captures, (before_file, after_file), strict=True)
        ]
        for meta in metas:  # captures made before the commit was recorded: ask the tree
            meta.setdefault("commit", git_commit(Path(meta["src"])))
        sources = [
            f"- {w}: `{m['src']}` at commit `{m['commit']}`"
            for w, m in zip(("before", "after"), metas, strict=True)
        ]
        markdown = "\n".join(
            [
                "# CLI outputs before and after",
                "",
                *sources,
                "",
                f"**{summary}**",
                "",
                "```",
                *lines,
                "```",
                "",
            ]
        )
        payload = {"before": metas[0], "after": metas[1], "summary": summary, "lines": lines}
        write_result(report, payload, markdown, wall_seconds=time.perf_counter() - started)
    return 1 if strict and differ else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    cap = commands.add_parser("capture", help="run every command, write the normalised output")
    cap.add_argument("--src", type=Path, required=True, help="the toontag source tree (src)")
    cap.add_argument("--world", type=Path, required=True, help="shared inputs (made if missing)")
    cap.add_argument("--out", type=Path, required=True, help="the JSON file to write")
    cmp = commands.add_parser("compare", help="per command: same, or a diff")
    cmp.add_argument("before", type=Path)
    cmp.add_argument("after", type=Path)
    cmp.add_argument("--strict", action="store_true", help="exit 1 when any command differs")
    cmp.add_argument("--report", type=Path, help="also write REPORT.json and REPORT.md")
    args = parser.parse_args()
    if args.command == "capture":
        capture(args.src, args.world, args.out)
    else:
        sys.exit(compare(args.before, args.after, args.strict, args.report))


if __name__ == "__main__":
    main()
