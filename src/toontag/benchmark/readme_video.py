"""README's figures about the product's speed and the video search: `toontag demo`'s timing,
`predict`'s speed, indexing speed and its levers, and the accuracy of found segments and
their boundaries. Each renderer reads result files from `results` and returns the passage
README holds (readme.py places it)."""

from __future__ import annotations

from pathlib import Path

from toontag.benchmark.figures import read_result, source, span
from toontag.benchmark.speed_tables import REFERENCE
from toontag.video.indexer import IndexSettings

SIZES = ("320x180", "1280x720", "1920x1080")  # the indexing benchmark's renditions


def demo(results: Path) -> str:
    r = read_result(results, "demo")
    first, again = r["calls"]
    took = {step: f"{seconds:.0f} s" for step, seconds in first["seconds"].items()}
    val = r["model_report"]
    training = (
        f"{took['model']} (validation micro-F1 {val['val_metrics']['f1_micro']:.3f} on "
        f"{val['val_images']} frames: a demo, not a benchmark)"
    )
    return (
        f"({source(r)}): {first['process_seconds']:.0f} s from nothing, of which training is "
        + training
        + f", the video {took['video']} and its index {took['index']}; "
        + f"{again['process_seconds']:.0f} s when run again"
    )


def predict_decode(results: Path) -> str:
    d = read_result(results, "predict-speed")["decoding"]
    ratio = d["reduced_decode_images_per_second"] / d["full_decode_images_per_second"]
    same = (
        "unchanged on"
        if d["decision_agreement"] == 1
        else f"the same on {d['decision_agreement']:.1%} of"
    )
    return (
        f"{ratio:.1f}x faster for 1080p stills, the model's decisions {same} {d['stills']} of them"
    )


def predict_speed(results: Path) -> str:
    r = read_result(results, "predict-speed")
    defaults = [row for row in r["rows"] if "(defaults)" in row["setting"]]
    torch = [row for row in r["rows"] if row["setting"].startswith("PyTorch")]

    def rates(rows, key):
        return " and ".join(f"{row[key]}" for row in rows)

    return (
        f"Speed ({source(r)}): {rates(defaults, 'images_per_second')} images/s on "
        f"{' and '.join(row['stills'] for row in defaults)} stills with the defaults (ONNX "
        f"Runtime), {rates(defaults, 'images_per_second_with_startup')} counting the process's "
        f"start-up; with `--engine torch` {rates(torch, 'images_per_second')}"
    )


def speeds(results: Path, rendition: str) -> list[float]:
    by_video = {s["video"]: s for s in read_result(results, "indexing-speed")["speed"]}
    return [
        next(v for k, v in by_video.items() if k.startswith(rendition) and k.endswith(size))[
            "realtime_factor"
        ]
        for size in SIZES
    ]


def indexing_speed(results: Path) -> str:
    plain = speeds(results, "plain")
    return (
        f"**{plain[0]}x real time at {SIZES[0]}, {plain[1]}x at {SIZES[1]}, {plain[2]}x at "
        f"{SIZES[2]}**"
    )


def indexing_speed_hard(results: Path) -> str:
    goals = read_result(results, "indexing-speed")["goals"]
    plain, hard = speeds(results, "plain"), speeds(results, "hard")
    met = [size for size, speed in zip(SIZES, plain, strict=True) if speed >= goals[size]]
    verdict = (
        "**not met**"
        if not met
        else "met"
        if len(met) == len(SIZES)
        else f"met at {', '.join(met)} only"
    )
    shown = ", ".join(f"{goals[s]:.0f}x" for s in SIZES)
    return f"{hard[0]}x, {hard[1]}x and {hard[2]}x. The goals ({shown}) are {verdict}"


def indexing_stages(results: Path) -> str:
    """The decode-only ratio and the other stages' CPU beside decoding's, per size."""
    r = read_result(results, "indexing-speed")
    plain = {row["size"]: row for row in r["speed"] if row["video"].startswith("plain")}
    if not all("decode_only_ratio" in plain.get(size, {}) for size in SIZES):
        return "not measured by the result file on record"
    big = plain[SIZES[2]]["stage_cpu_seconds"]
    parts = ", ".join(f"{k} {big[k]:.1f} s" for k in ("inference", "shot detection", "model input"))
    return (
        "index wall time over decoding alone "
        + " / ".join(f"{plain[s]['decode_only_ratio']:.2f}" for s in SIZES)
        + f" at {' / '.join(SIZES)} (goal <= {r['decode_only_ratio_goal']}); the other stages' "
        "CPU beside decoding's: "
        + " / ".join(f"{plain[s]['beside_decode_cpu_share']:.0%}" for s in SIZES)
        + f" (at {SIZES[2]}: decoding {big['decode']:.1f} s, {parts})"
    )


def indexing_choices(results: Path) -> str:
    """What the indexing benchmark's rules decided, in one passage."""
    found = read_result(results, "indexing-speed").get("choices") or {}
    if not found:
        return "not measured by the result file on record"
    still, shipped = found.get("still", {}), IndexSettings().still
    chosen = still.get("chosen")
    if chosen is None:
        said = "no `--still` level held on them"
    else:
        level = still["levels"][f"{chosen:g}"]
        said = (
            f"`--still {chosen:g}` runs the model on {level['tagged']} of {level['sampled']} "
            "sampled frames of the short videos, losing no time IoU; "
            + (
                "it is the default"
                if shipped == chosen
                else f"**the default is {shipped}, not the level chosen**"
            )
        )
    if busy := found.get("busy"):
        default = IndexSettings().busy
        verdict = (
            ("it is the default" if default else "**it is not the default yet**")
            if busy["chosen"]
            else (
                "**it is the default though the rule did not choose it**"
                if default
                else "an option, not the default"
            )
        )
        said += (
            f"; `--busy-samples` tags {busy['extra_tagged']} more frames there, changes the mean "
            f"time IoU by {busy['mean_gain']:+.4f} (worst video {0.0 - busy['worst_loss']:+.4f}) "
            f"for {busy['cost']:+.0%} wall time: {verdict}"
        )
    if shot := found.get("shot_input_planes"):
        said += (
            f"; the shot detector's copy read from the decoder's planes "
            f"{'could be' if shot['holds'] else 'is not'} the default (worst time IoU change on "
            f"a video {0.0 - shot['worst_loss']:+.4f} against swscale's copy)"
        )
    return said


ARCHIVE_HOURS, NIGHT_HOURS = 10_000, 12  # the sizing README works out


def archive_sizing(results: Path) -> str:
    """Two-core workers to index `ARCHIVE_HOURS` in a `NIGHT_HOURS` night at the measured
    real-time factors of the plain 10-minute videos (arithmetic, not a cluster measured)."""
    plain = dict(zip(SIZES, speeds(results, "plain"), strict=True))
    need = ARCHIVE_HOURS / NIGHT_HOURS
    big, mid = SIZES[2], SIZES[1]
    return (
        f"a 2-core worker indexes {big} at {plain[big]}x real time, {mid} at {plain[mid]}x, so "
        f"indexing {ARCHIVE_HOURS:,} hours in a {NIGHT_HOURS}-hour night needs "
        f"{ARCHIVE_HOURS:,} / {NIGHT_HOURS} / {plain[big]} = about {need / plain[big]:.0f} "
        f"two-core workers at {big} and {need / plain[mid]:.0f} at {mid}"
    )


def levers(results: Path, lever: str) -> dict[str, tuple[dict, dict]]:
    """Each short video's (`REFERENCE`, `lever`) rows of the indexing benchmark."""
    rows = read_result(results, "indexing-speed")["levers"]
    found = {(r["video"], r["lever"]): r for r in rows}
    return {v: (found[v, REFERENCE], found[v, lever]) for v, name in found if name == lever}


def fast_decode(results: Path) -> str:
    pairs = levers(results, "decode: reference frames only")
    big = [
        f["realtime_factor"] / d["realtime_factor"] for v, (d, f) in pairs.items() if "320" not in v
    ]
    plain_1080 = pairs[f"plain-short-{SIZES[2]}"]
    drop = {
        kind: [d["time_iou"] - f["time_iou"] for v, (d, f) in pairs.items() if v.startswith(kind)]
        for kind in ("plain", "hard")
    }
    return (
        f"{span(big, 1)}x faster at 720p and 1080p (plain 1080p "
        f"{plain_1080[0]['realtime_factor']}x to {plain_1080[1]['realtime_factor']}x), with time "
        f"IoU at most {max(drop['plain']):.4f} lower on the plain rendition and "
        f"{span(drop['hard'], 3)} lower on the hard one"
    )


def skim(results: Path) -> str:
    """`--skim`'s levers: the frames decoded, the speed against the defaults and the worst
    time IoU loss per rendition, and the decoding the rule chose."""
    said = []
    named = {
        "changes, busy samples": "--skim changes --busy-samples",
        "changes": "--skim changes --no-busy-samples",
        "cuts": "--skim cuts --no-busy-samples",
    }
    for lever, trigger in named.items():
        pairs = levers(results, f"skim: {lever}")
        if not pairs:
            return "not measured by the result file on record"
        share = [f["frames_decoded"] / d["frames_decoded"] for d, f in pairs.values()]
        speed = [f["realtime_factor"] / d["realtime_factor"] for d, f in pairs.values()]
        drop = {
            kind: max(d["time_iou"] - f["time_iou"] for v, (d, f) in pairs.items() if kind in v)
            for kind in ("plain", "hard")
        }
        said.append(
            f"`{trigger}` decodes {span(share, 2)} of the frames, runs {span(speed, 2)}x "
            f"as fast, and changes time IoU by {0.0 - drop['plain']:+.4f} at worst on the "
            f"plain videos, {0.0 - drop['hard']:+.4f} on the hard ones"
        )
    chosen = (read_result(results, "indexing-speed").get("choices") or {}).get("decode_chosen")
    verdict = f"the rule chose {chosen}" if chosen else "no decoding scheme met the rule"
    return "; ".join(said) + f" ({verdict})"


def cut_samples(results: Path) -> str:
    pairs = levers(results, "--cut-samples").values()
    change = [100 * (f["realtime_factor"] / d["realtime_factor"] - 1) for d, f in pairs]
    iou = [f["time_iou"] - d["time_iou"] for d, f in pairs]
    return (
        f"changes the speed by {min(change):+.0f}% to {max(change):+.0f}% here (time IoU "
        f"{min(iou):+.4f} to {max(iou):+.4f} over the {len(iou)} videos)"
    )


def video_segments(results: Path) -> str:
    r = read_result(results, "video-segments")
    m = r["mean"]
    both = next(q for q in r["queries"] if q["query"] == "remzi and necati")
    return (
        f"mean segment precision {m['precision']:.3f}, recall {m['recall']:.3f}, F1 "
        f'{m["f1"]:.3f}; "remzi and necati" {both["precision"]:.3f} / {both["recall"]:.3f}'
    )


def validation(results: Path, name: str, metric: str) -> tuple[float, float]:
    """`metric` on the validation video for the smoothing chosen there and for the defaults."""
    r = read_result(results, name)
    return r["val_mean"][metric], r["default_val_mean"][metric]


def video_segments_val(results: Path) -> str:
    chosen, defaults = validation(results, "video-segments", "f1")
    return f"the defaults score F1 {defaults:.3f}, the choice {chosen:.3f}"


def boundaries_val(results: Path) -> str:
    chosen, defaults = validation(results, "video-boundaries", "time_iou")
    return f"validation time IoU {chosen:.3f}, the defaults {defaults:.3f}"


def boundaries_test(results: Path) -> str:
    r = read_result(results, "video-boundaries")
    m, goal = r["mean"], r["goal_time_iou"]
    met = "met by the point estimate; no interval" if m["time_iou"] >= goal else "**not met**"
    return (
        f"mean time IoU **{m['time_iou']:.3f}** (goal {goal:.2f}: {met}), time precision "
        f"{m['time_precision']:.3f}, recall {m['time_recall']:.3f}, segment precision "
        f"{m['precision']:.3f} and recall {m['recall']:.3f} at IoU >= 0.5, with "
        f"{r['sampled'] / r['video_seconds']:.2f} inferred frames per second of video. The "
        "defaults, not used for choice, score "
        f"{r['defaults_test_not_used_for_choice']['mean']['time_iou']:.3f}"
    )


def boundaries_gain(results: Path) -> str:
    chosen, defaults = validation(results, "video-boundaries", "time_iou")
    return f"{chosen - defaults:.3f}"


def still_renditions(results: Path) -> str:
    """What a rendition of a still costs, with its borders cropped and without."""
    r = read_result(results, "still-renditions")
    f1 = {(row["rendition"], row["borders_cropped"]): row["f1_micro"] for row in r["rows"]}
    renditions = [name for name in dict.fromkeys(row["rendition"] for row in r["rows"])]
    shown = "; ".join(
        f"{name} {f1[name, False]:.3f} without cropping, {f1[name, True]:.3f} with"
        for name in renditions[1:]
    )
    return (
        f"on {r['frames']} validation frames ({r['shots']} shots), micro-F1 as they are "
        f"{f1[renditions[0], False]:.3f}; {shown} ({source(r)})"
    )


def segment_edges(results: Path) -> str:
    r = read_result(results, "segment-edges")
    before, after = r["time_iou_before"], r["time_iou_after"]
    return (
        f"mean time IoU {before:.4f} with edges on the samples, {after:.4f} halfway between them "
        f"({after - before:+.4f}; {source(r)})"
    )


RENDERERS = {
    "still-renditions": still_renditions,
    "segment-edges": segment_edges,
    "demo": demo,
    "predict-decode": predict_decode,
    "predict-speed": predict_speed,
    "indexing-speed": indexing_speed,
    "indexing-speed-hard": indexing_speed_hard,
    "fast-decode": fast_decode,
    "indexing-stages": indexing_stages,
    "indexing-choices": indexing_choices,
    "archive-sizing": archive_sizing,
    "cut-samples": cut_samples,
    "skim": skim,
    "video-segments": video_segments,
    "video-segments-val": video_segments_val,
    "boundaries-val": boundaries_val,
    "boundaries-test": boundaries_test,
    "boundaries-gain": boundaries_gain,
}
