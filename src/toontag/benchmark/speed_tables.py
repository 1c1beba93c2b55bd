"""The tables of benchmarks/indexing_speed.py: its result file rendered in Markdown, and what
its lever rows decide by rules fixed before they ran (`choices`)."""

from __future__ import annotations

SAMPLE_FPS = 2.0  # frames sampled per second, as `index` ships
RATIO_GOAL = 1.25  # index wall time over decoding alone
STILL_LEVELS = (0.1, 0.3, 1.0)  # candidate `still` tolerances, % of pixels changed (levers)
STILL_OFF = "still: every sample tagged"  # the lever the still levels are measured against
ENGINE_NAMES = {"onnx": "ONNX Runtime", "torch": "PyTorch"}

# each stage's CPU seconds under the five headings
CPU_STAGES = {
    "decode": "decode",
    "shot input (shrink)": "shot detection",
    "shot detection": "shot detection",
    "model input": "model input",
    "inference": "inference",
}


REFERENCE = "every frame"  # the levers' base: every frame decoded, no midway samples
REFERENCE_SETTINGS = {"skim": None, "busy": False}  # the rules below were written against it
UNCHANGED = 0.0005  # time IoU a change of the same decisions may lose on a video (rounding)
DECODE_HOLD = 0.005  # time IoU a decoding scheme may lose on a video and still be the default
BUSY = "busy samples"  # the lever that tags midway between samples that disagree
BUSY_GAIN, BUSY_COST = 0.001, 0.10  # its mean time IoU gain to be the default; wall time cost
# the schemes that decode fewer frames (levers of benchmarks/indexing_speed.py)
DECODE_SCHEMES = (
    "decode: reference frames only",
    "decode: keyframes only",
    "skim: changes",
    "skim: cuts",
    "skim: changes, reference frames",
    "skim: changes, busy samples",
)


def choices(rows: list[dict]) -> dict:
    """What the lever rows decide, by rules fixed before they ran, on the validation-made
    videos, each lever against `REFERENCE` (every frame decoded, no midway samples): the
    shot input from the decoder's planes could replace swscale's copy only where it loses no
    time IoU (`UNCHANGED`) on any video; `still` takes the level that tags the
    fewest frames among those that lose no time IoU against every sample tagged (`STILL_OFF`)
    and keep 99.5% of its decisions on every video (none: every sample tagged); a decoding
    scheme holds where it keeps time IoU within `DECODE_HOLD` of full decoding on every video,
    and becomes the default only if it holds, decodes fewer frames and takes less wall time
    than `REFERENCE` over all the videos together: the fastest such (none: every frame);
    `BUSY` becomes the default where it gains `BUSY_GAIN` time IoU on the mean over the videos,
    loses at most `UNCHANGED` on any, and costs at most `BUSY_COST` more wall time in all."""
    by = {(r["video"], r["lever"]): r for r in rows}
    videos = sorted({r["video"] for r in rows})

    def loss(lever: str, against: str = REFERENCE) -> float | None:
        if not all((v, lever) in by and (v, against) in by for v in videos):
            return None
        return max(by[v, against]["time_iou"] - by[v, lever]["time_iou"] for v in videos)

    found = {}
    if (planes := loss("shot input: decoder planes")) is not None:
        found["shot_input_planes"] = {"worst_loss": round(planes, 4), "holds": planes <= UNCHANGED}
    stills = {}
    for level in STILL_LEVELS:
        lever = f"still {level:g}"
        worst = loss(lever, STILL_OFF)
        if worst is None:
            continue
        kept = min(by[v, lever]["agreement"] or 0.0 for v in videos)
        tagged = sum(by[v, lever]["frames_tagged"] for v in videos)
        sampled = sum(by[v, lever]["frames_sampled"] for v in videos)
        stills[level] = {
            "worst_loss": round(worst, 4),
            "agreement": kept,
            "tagged": tagged,
            "sampled": sampled,
        }
    holding = [
        lv for lv, r in stills.items() if r["worst_loss"] <= UNCHANGED and r["agreement"] >= 0.995
    ]
    found["still"] = {
        "levels": {f"{lv:g}": r for lv, r in stills.items()},
        "chosen": min(holding, key=lambda lv: (stills[lv]["tagged"], lv)) if holding else None,
    }

    def total(lever: str, key: str) -> float:
        return sum(by[v, lever][key] for v in videos)

    for lever in DECODE_SCHEMES:
        if (worst := loss(lever)) is not None:
            found[lever] = {
                "worst_loss": round(worst, 4),
                "holds": worst <= DECODE_HOLD,
                "frames_decoded": total(lever, "frames_decoded"),
                "wall_seconds": round(total(lever, "wall_seconds"), 2),
            }
    if (worst := loss(BUSY)) is not None:
        gain = sum(by[v, BUSY]["time_iou"] - by[v, REFERENCE]["time_iou"] for v in videos)
        cost = total(BUSY, "wall_seconds") / total(REFERENCE, "wall_seconds") - 1
        found["busy"] = {
            "worst_loss": round(worst, 4),
            "mean_gain": round(gain / len(videos), 4),
            "cost": round(cost, 3),
            "extra_tagged": total(BUSY, "frames_tagged") - total(REFERENCE, "frames_tagged"),
        }
        found["busy"]["chosen"] = (
            gain / len(videos) >= BUSY_GAIN and worst <= UNCHANGED and cost <= BUSY_COST
        )
    if any(lever in found for lever in DECODE_SCHEMES):
        full = {key: total(REFERENCE, key) for key in ("frames_decoded", "wall_seconds")}
        better = [
            lever
            for lever in DECODE_SCHEMES
            if lever in found
            and found[lever]["holds"]
            and all(found[lever][key] < full[key] for key in full)
        ]
        found["decode_chosen"] = min(better, key=lambda lv: found[lv]["wall_seconds"], default=None)
    return found


def render(payload: dict) -> str:
    lines = [
        "# Indexing speed at real resolutions",
        "",
        f"`toontag index` with its shipped defaults and one fixed model (`{payload['model']}`, "
        f"`{payload['run']}`, input {payload['image_size'][0]}x{payload['image_size'][1]}, "
        f"{ENGINE_NAMES[payload['engine']]} on {payload['device']}), "
        f"{payload['sample_fps']:g} sampled frames per second, on videos made "
        "from the run's validation sequences (H.264, 25 fps). Real-time factor = video "
        "seconds / wall seconds, end to end (decode a thread ahead, shots, inference, "
        "smoothing, SQLite).",
        "",
        "## End to end, against the goals",
        "",
        "Decode only: the same file decoded alone as `index` decodes it (FFmpeg's threads, "
        f"every frame), in the same run; decode-only ratio = index wall / decode-only wall "
        f"(goal <= {RATIO_GOAL}).",
        "",
        "| video | seconds | wall (s) | real-time factor | goal | met | sampled / video s | "
        "decode only (s) | decode-only ratio |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in payload["speed"]:
        goal = payload["goals"][r["size"]]
        lines.append(
            f"| {r['video']} | {r['video_seconds']} | {r['wall_seconds']} | "
            f"**{r['realtime_factor']}x** | {goal:g}x | "
            f"{'yes' if r['realtime_factor'] >= goal else 'no'} | "
            f"{r['sampled_per_video_second']} | "
            f"{r.get('decode_only', {}).get('wall_seconds', '')} | "
            f"{r.get('decode_only_ratio', '')} |"
        )
    stages = list(dict.fromkeys(s for r in payload["speed"] for s in r["stages"]))
    lines += [
        "",
        "## Where the time goes",
        "",
        "Seconds per stage in one sequential pass over every frame with a clock around each "
        "step, FFmpeg decoding on one thread so that no clock holds another stage's work (the "
        "shipped run decodes with FFmpeg's threads, a thread ahead of the rest, and skims: "
        "it decodes in full only where the keyframes' characters differ, so its wall time is "
        "less than the sum):",
        "",
        "| video | " + " | ".join(stages) + " | sum |",
        "|---|" + "---|" * (len(stages) + 1),
        *(
            f"| {r['video']} | "
            + " | ".join(str(r["stages"].get(s, "")) for s in stages)
            + f" | {sum(r['stages'].values()):.1f} |"
            for r in payload["speed"]
        ),
    ]
    cpu_rows = [r for r in payload["speed"] if "stage_cpu_seconds" in r]
    if cpu_rows:
        heads = [*dict.fromkeys(CPU_STAGES.values()), "the rest"]
        lines += [
            "",
            "Process CPU seconds per stage in that pass (ONNX Runtime's threads count in "
            "inference's); beside decoding = the other stages' CPU over decoding's (goal "
            f"<= {RATIO_GOAL - 1:.2f} at 720p and 1080p):",
            "",
            "| video | " + " | ".join(heads) + " | beside decoding |",
            "|---|" + "---|" * (len(heads) + 1),
            *(
                f"| {r['video']} | "
                + " | ".join(str(r["stage_cpu_seconds"].get(h, 0.0)) for h in heads)
                + f" | {r['beside_decode_cpu_share']:.0%} |"
                for r in cpu_rows
            ),
        ]
    if payload["levers"]:
        lines += [
            "",
            "## Each lever alone",
            "",
            f"On the short videos, one change at a time against `{REFERENCE}` (the first row "
            "of each video: every frame decoded, no midway samples, the settings the rules "
            "were written against); `defaults`: `index` as shipped. Time IoU: mean over the "
            "eight queries on this validation-made video; agreement: share of sampled frames "
            f"whose decisions at the thresholds equal `{REFERENCE}`'s (where the same frames "
            "are sampled).",
            "",
            "| video | lever | real-time factor | frames decoded | sampled | tagged | time IoU | "
            "agreement |",
            "|---|---|---|---|---|---|---|---|",
            *(
                f"| {r['video']} | {r['lever']} | {r['realtime_factor']}x | "
                f"{r['frames_decoded']} | {r['frames_sampled']} | {r.get('frames_tagged', '')} | "
                f"{r['time_iou']} | "
                f"{'' if r['agreement'] is None else r['agreement']} |"
                for r in payload["levers"]
            ),
        ]
    if payload.get("choices"):
        lines += ["", "## What they decide", "", *choice_lines(payload["choices"])]
    if payload.get("overlap"):
        lines += [
            "",
            "Two videos (plain and hard) one after the other, and at once in two threads:",
            "",
            "| size | one by one (s) | overlapped (s) |",
            "|---|---|---|",
            *(
                f"| {o['size']} | {o['one_by_one_seconds']} | {o['overlapped_seconds']} |"
                for o in payload["overlap"]
            ),
        ]
    lines += [
        "",
        "## The videos",
        "",
        "| video | encoder options | motion | grain | frames (I / P / B) | kbit/s |",
        "|---|---|---|---|---|---|",
    ]
    for name, v in payload["videos"].items():
        types = v["frame_types"]
        options = ", ".join(f"{k}={val}" for k, val in v["encoder_options"].items())
        lines.append(
            f"| {name} | {options} | {v['motion']} | {v['grain']} | "
            f"{types.get('I', 0)} / {types.get('P', 0)} / {types.get('B', 0)} | "
            f"{v['bitrate_kbps']} |"
        )
    return "\n".join(lines)


def choice_lines(found: dict) -> list[str]:
    """`choices` in words: each rule (see its docstring) and its verdict."""
    lines = [
        f"Rules fixed before these rows ran (`choices`): a change of pixels that should not "
        f"change decisions may lose at most {UNCHANGED} time IoU on any video; a decoding "
        f"scheme at most {DECODE_HOLD} to be a default.",
        "",
    ]
    if shot := found.get("shot_input_planes"):
        verdict = "holds: a default candidate" if shot["holds"] else "does not hold: an option"
        lines.append(
            f"- `--shot-input planes`, against swscale's copy: worst time IoU loss "
            f"{shot['worst_loss']:+.4f}: {verdict}."
        )
    still = found.get("still", {})
    for level, r in still.get("levels", {}).items():
        lines.append(
            f"- `--still {level}`: worst time IoU loss {r['worst_loss']:+.4f}, decisions kept "
            f"{r['agreement']:.1%}, {r['tagged']} of {r['sampled']} sampled frames tagged on "
            "the short videos."
        )
    if "levels" in still:
        chosen = still["chosen"]
        lines.append(
            f"- chosen: `--still {chosen:g}` as the default."
            if chosen is not None
            else "- chosen: none (every sample tagged, as before)."
        )
    for lever in DECODE_SCHEMES:
        if r := found.get(lever):
            counts = (
                f", {r['frames_decoded']} frames decoded in {r['wall_seconds']} s in all"
                if "frames_decoded" in r
                else ""
            )
            lines.append(
                f"- {lever}: worst time IoU loss {r['worst_loss']:+.4f}{counts}: "
                + ("holds." if r["holds"] else "does not hold: an option only.")
            )
    if busy := found.get("busy"):
        lines.append(
            f"- `--busy-samples`: mean time IoU change {busy['mean_gain']:+.4f}, worst loss "
            f"{busy['worst_loss']:+.4f}, {busy['extra_tagged']} more frames tagged, wall time "
            f"{busy['cost']:+.1%}: "
            + ("chosen as the default." if busy["chosen"] else "not the default, an option.")
        )
    if "decode_chosen" in found:
        chosen = found["decode_chosen"]
        lines.append(
            f"- chosen decoding: {chosen}, as the default."
            if chosen
            else "- chosen decoding: every frame (no scheme that holds is faster in all)."
        )
    return lines
