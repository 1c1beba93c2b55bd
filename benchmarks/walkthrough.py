"""The README's walkthrough, run end to end: episodes -> pool -> labels -> model -> index -> search.

    python benchmarks/walkthrough.py [--labels 200] [--work DIR]

The episodes are made with `toontag data video` from training-split frames (nothing of test
leaks into the demo). Each step is the CLI command a user types, run as a subprocess, except the
labelling: a simulated person drives the label server's HTTP API the way the page does (the next
batch, the suggestion, the answer; a character added the first time it is seen) and answers
from the episodes' true timelines. Training is the README's recommended command (`train --data
PROJECT`, what validation chose in results/label-efficiency.md), and the model is then scored
once on Kral Sakir's test split (frames no episode shows). Writes results/walkthrough.json and
.md: the commands, the labels it took, each step's wall time, the test micro-F1 with its
interval by sequence and the search's answer.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import time
from pathlib import Path

from toontag.benchmark.harness import toontag_command
from toontag.benchmark.results import write_result
from toontag.evaluation.metrics import by_sequence_text
from toontag.runs import evaluation_files

EPISODES = ((0, 300), (1, 300))  # (seed, seconds) of each episode
QUERY = "remzi and fil_necati"


def toontag(*args, log: list) -> str:
    """Run `toontag ARGS`, record the command and its wall time, return its stdout."""
    command = shlex.join(["toontag", *map(str, args)])
    done, seconds = toontag_command(args)
    seconds = round(seconds, 1)
    log.append({"command": command, "seconds": seconds, "exit": done.returncode})
    print(f"$ {command}  ({seconds} s)\n{done.stdout[-2000:]}", flush=True)
    return done.stdout


def reuse_or_run(output: Path, args: tuple, log: list) -> None:
    """Run `toontag ARGS` unless `output` exists from an earlier run (logged as reused)."""
    if output.is_file():
        command = shlex.join(["toontag", *map(str, args)])
        log.append({"command": command, "seconds": None, "exit": 0, "reused": True})
    else:
        toontag(*args, log=log)


def truth_of(project: Path) -> dict[str, tuple[str, ...]]:
    """Each pool frame's true characters, from its episode's truth.json at the frame's time."""
    from toontag.labelling.project import Project
    from toontag.video.synth import truth_path

    project_ = Project.open(project)
    truths, labels = {}, {}
    for frame in project_.read_pool():
        source = (project / frame.source).resolve()
        if source not in truths:
            truths[source] = json.loads(truth_path(source).read_text())
        truth = truths[source]
        index = min(int(frame.time / truth["hold"]), len(truth["frames"]) - 1)
        labels[frame.path] = tuple(truth["frames"][index]["labels"])
    return labels


def label(project: Path, budget: int, log: list) -> dict:
    """A simulated person labels `budget` frames through the label server's API."""
    from fastapi.testclient import TestClient

    from toontag.serve.labelling import create_label_app

    truth = truth_of(project)
    app = create_label_app(project)
    start = time.perf_counter()
    confirmed = changed = 0
    with TestClient(app, base_url="http://localhost") as client:  # runs the lifespan
        while app.state.session.learner.features is None:  # the page waits for the features too
            if app.state.session.learner.error:
                raise SystemExit(f"label server: {app.state.session.learner.error}")
            time.sleep(0.2)
        pool = app.state.session.pool
        answered = 0
        while answered < budget:
            frames = client.get("/api/next").json()["frames"]
            if not frames:
                break
            classes = client.get("/api/state").json()["classes"]
            for frame in frames[: budget - answered]:
                labels = list(truth[pool[frame["id"]].path])
                for name in labels:
                    if name not in classes:
                        client.post("/api/classes", json={"name": name}).raise_for_status()
                        classes.append(name)
                suggestion = frame["suggestion"]
                if suggestion is not None:
                    ticked = sorted(c for c, s in suggestion.items() if s["ticked"])
                    confirmed += ticked == sorted(labels)
                    changed += ticked != sorted(labels)
                client.post(
                    "/api/answers",
                    json={
                        "frame": frame["id"],
                        "labels": labels,
                        "seen": frame["revision"],
                    },
                ).raise_for_status()
                answered += 1
        state = client.get("/api/state").json()
    seconds = round(time.perf_counter() - start, 1)
    log.append(
        {
            "command": f"toontag label serve {project}  (simulated person, {answered} "
            "answers through the page's API)",
            "seconds": seconds,
            "exit": 0,
        }
    )
    return {
        "answers": answered,
        "suggestions_confirmed_as_is": confirmed,
        "suggestions_corrected": changed,
        "counts": state["counts"],
        "model": state["model"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/kral_sakir"))
    parser.add_argument("--labels", type=int, default=400)
    parser.add_argument("--work", type=Path, default=Path.home() / ".cache/toontag/walkthrough")
    parser.add_argument("--out", type=Path, default=Path("results"))
    parser.add_argument("--fresh", action="store_true", help="make the episodes and pool again")
    args = parser.parse_args()
    started = time.perf_counter()
    work = args.work
    if args.fresh:
        shutil.rmtree(work, ignore_errors=True)
    episodes, project, run, db = (
        work / "episodes",
        work / "myshow",
        work / "runs/myshow",
        work / "myshow.db",
    )
    log: list = []
    for seed, seconds in EPISODES:
        episode = episodes / f"ep{seed + 1}.mp4"
        make = (
            "data",
            "video",
            args.data,
            "--split",
            "train",
            "--seed",
            seed,
            "--seconds",
            seconds,
            "--out",
            episode,
        )
        reuse_or_run(episode, make, log)  # the same seed makes the same video
    reuse_or_run(project / "pool.csv", ("frames", episodes, "--out", project), log)
    for stale in ("labels.csv", "classes.txt"):  # a new labelling session, a new model
        (project / stale).unlink(missing_ok=True)
    shutil.rmtree(work / "runs", ignore_errors=True)
    db.unlink(missing_ok=True)
    labelled = label(project, args.labels, log)
    toontag("train", "--data", project, "--out", run, log=log)  # the recommended path
    toontag("evaluate", run, "--data", args.data, "--split", "test", log=log)
    test = json.loads(evaluation_files(run, args.data, "test").metrics.read_text())
    toontag("index", run, episodes, "--db", db, log=log)
    found = toontag("search", QUERY, "--db", db, "--json", log=log)
    ranges = json.loads(found)
    pool = sum(1 for _ in (project / "pool.csv").open()) - 1
    lines = [
        "# Walkthrough: your own cartoon, end to end",
        "",
        f"Two episodes made from training-split frames ({sum(s for _, s in EPISODES)} s), "
        f"a pool of {pool} candidate frames, **{labelled['answers']} labels** given by a "
        "simulated person through the label server's API (answers from the episodes' true "
        "timelines), a model, an index and a search.",
        "",
        "| step | wall time (s) |",
        "|---|---|",
        *(
            f"| `{s['command']}` | {s['seconds'] or 'made by an earlier run, reused'} |"
            for s in log
        ),
        "",
        f"Labels per character: {labelled['counts']}. Of the frames shown with a suggestion, "
        f"{labelled['suggestions_confirmed_as_is']} were confirmed as they were and "
        f"{labelled['suggestions_corrected']} corrected.",
        "",
        f"The model on Kral Sakir's test split ({test['images']} frames no episode shows): "
        f"micro-F1 {test['f1_micro']:.4f}, 95% interval "
        f"{by_sequence_text(test['ci95_by_sequence']['f1_micro'])} "
        f"({test['ci95_by_sequence']['sequences']} sequences). The benchmarks' figures, with "
        "seeds and the common validation set: results/label-efficiency.md.",
        "",
        f'`toontag search "{QUERY}"` found {len(ranges["hits"])} ranges.',
    ]
    payload = {
        "episodes": [{"seed": s, "seconds": t} for s, t in EPISODES],
        "pool": pool,
        "labelling": labelled,
        "steps": log,
        "test": {
            k: test[k]
            for k in ("images", "f1_micro", "ci95", "ci95_by_sequence", "thresholds")
            if k in test
        },
        "query": QUERY,
        "ranges": ranges,
    }
    write_result(
        args.out / "walkthrough",
        payload,
        "\n".join(lines),
        wall_seconds=time.perf_counter() - started,
    )


if __name__ == "__main__":
    main()
