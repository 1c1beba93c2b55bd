"""benchmarks/indexing_gpu.py at a tiny size on this CPU machine (a smoke test, not a
measurement): the staged clip is read back as it was made, the device rows say why they did
not run where there is no GPU, and the CPU rows and the parallel row are measured."""

from __future__ import annotations

import json
import runpy
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "indexing_gpu.py"


def test_the_gpu_indexing_job_runs_on_a_cpu_machine_and_says_what_it_skipped(
    clip, tiny_run, tmp_path
):
    script = runpy.run_path(str(SCRIPT))  # its functions; `main` is not run
    stage = tmp_path / "stage"
    script["stage_clip"](clip, tiny_run, stage)
    staged = script["read_clip"](stage / "gpu-index")
    assert staged.holds == clip.holds and staged.classes == clip.classes
    assert [(s.labels, s.frame_id) for s in staged.frames] == [
        (s.labels, s.frame_id) for s in clip.frames
    ]
    out = tmp_path / "out"
    args = ["run", "--stage", stage, "--sizes", "192x108", "--parallel", "2", "--fps", "10"]
    args += ["--work", tmp_path / "work", "--out", out]
    done = subprocess.run(
        [sys.executable, SCRIPT, *map(str, args)], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((out / "indexing-gpu.json").read_text())
    rows = {(r["decoder"], r["settings"]): r for r in result["rows"]}
    assert set(rows) == {(d, s) for d in ("cpu", "cuda") for s in ("every frame", "defaults")}
    reference = rows["cpu", "every frame"]
    assert reference["frames_decoded"] == round(clip.duration * 10)
    assert reference["time_iou"] > 0 and rows["cpu", "defaults"]["time_iou"] > 0
    if "no usable device" in result["hardware_decoding"]:  # no GPU here: said, not faked
        assert "no usable device" in rows["cuda", "every frame"]["skipped"]
    else:  # a GPU machine: whether NVDEC decoded the stream is recorded
        assert "decoded_on_device" in rows["cuda", "every frame"]
    [together] = result["parallel"]
    assert together["processes"] == 2 and together["video_seconds"] > 2 * clip.duration - 1
    assert result["git_commit"] and "indexing_gpu.py" in result["command"]
