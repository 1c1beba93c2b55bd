"""How long `toontag demo` takes on a fresh folder, and again when it reuses what it made.

    python benchmarks/demo_time.py [--data ../shared/data/kral_sakir]

Runs the command a new user types, in a new process, twice on one new folder: first from
nothing (training, the video, the index, the search), then again (everything reused). Records
each step's seconds (from the demo's own demo.json), the process's wall time with start-up,
the run's validation micro-F1, the query and how many ranges it found. Writes
results/demo.json and .md, and results/serve-demo.png: the search page over the demo's index
(headless Chromium), its query searched and a lane clicked.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from toontag.benchmark.harness import toontag_command
from toontag.benchmark.results import write_result
from toontag.data.location import find_data


def demo(data: Path, work: Path) -> dict:
    done, wall = toontag_command(["demo", "--data", data, "--work", work])
    written = json.loads((work / "demo.json").read_text())
    return {"process_seconds": round(wall, 1), **written, "stdout": done.stdout[-1500:]}


def screenshot(db: Path, query: str, out: Path) -> None:
    """The search page over the demo's index, as `toontag serve` serves it: `query` searched
    and the playhead moved by a click on the first character's lane at 60% of the video."""
    from playwright.sync_api import sync_playwright

    from toontag.explain.browser import ARGS, chromium
    from toontag.serve.app import create_app
    from toontag.serve.local import running

    with running(create_app(db)) as (host, port), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 760})
        page.goto(f"http://{host}:{port}/")
        page.wait_for_selector("#library tbody tr")
        page.fill("#q", query)
        page.press("#q", "Enter")
        page.wait_for_selector(".lanes .axis")
        page.wait_for_function(
            "[...document.querySelectorAll('.hit img')].every(i => i.complete && i.naturalWidth)"
        )
        track = page.locator(".lane[data-character] .track").first.bounding_box()
        page.mouse.click(track["x"] + 0.6 * track["width"], track["y"] + track["height"] / 2)
        page.wait_for_function("document.querySelector('.playhead').style.display === 'block'")
        page.wait_for_timeout(1500)  # a frame decoded under the playhead
        page.screenshot(path=str(out))
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=Path("results"))
    args = parser.parse_args()
    started = time.perf_counter()
    data = find_data(args.data)
    with tempfile.TemporaryDirectory(prefix="toontag-demo-") as work:
        work = Path(work) / "toontag-demo"
        first = demo(data, work)
        print(first["stdout"], flush=True)
        again = demo(data, work)
        report = json.loads((Path(first["run"]) / "report.json").read_text())
        screenshot(Path(first["db"]), first["query"], args.out / "serve-demo.png")
    rows = [("first run", first), ("again (reused)", again)]
    lines = [
        "# `toontag demo`: the first-run path, timed",
        "",
        f"`toontag demo --data {args.data or data} --work DIR` on a new folder, then again on "
        "the same folder; each a new process. Steps as the demo times them (seconds); the "
        "process includes start-up.",
        "",
        "| call | model | video | index | search | process |",
        "|---|---:|---:|---:|---:|---:|",
        *(
            f"| {name} | {r['seconds'].get('model', 0):.1f} | {r['seconds']['video']:.1f} | "
            f"{r['seconds']['index']:.1f} | {r['seconds']['search']:.1f} | "
            f"{r['process_seconds']:.1f} |"
            for name, r in rows
        ),
        "",
        f"The model: {report['model']} on {report['train_images']} training frames, "
        f"{report['epochs_run']} epochs, validated on {report['val_images']} frames: validation "
        f"micro-F1 {report['val_metrics']['f1_micro']:.3f} (at 0.5; a demo, not a benchmark). "
        f"The search {first['query']!r} found {first['ranges']} ranges in the one-minute "
        "video made of training-split sequences kept out of its training.",
        "",
        "![The search page over the demo's index](serve-demo.png)",
    ]
    payload = {
        "data": str(args.data or data),
        "calls": [{k: v for k, v in r.items() if k != "stdout"} | {"call": n} for n, r in rows],
        "model_report": {
            k: report[k]
            for k in (
                "model",
                "train_images",
                "val_images",
                "epochs_run",
                "val_metrics",
                "fit_seconds",
                "total_seconds",
                "device",
            )
        },
        "first_stdout": first["stdout"],
    }
    write_result(
        args.out / "demo", payload, "\n".join(lines), wall_seconds=time.perf_counter() - started
    )


if __name__ == "__main__":
    main()
