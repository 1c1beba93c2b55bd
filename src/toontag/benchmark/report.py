"""The benchmark's result files: our figures beside the paper's, with the differences, and
one sentence per declared comparison saying what it shows."""

from __future__ import annotations

from pathlib import Path

from toontag.benchmark.figures import paper_rule
from toontag.benchmark.results import write_result
from toontag.benchmark.runner import DONE
from toontag.benchmark.suite import Protocol, Suite
from toontag.evaluation.bootstrap import BOOTSTRAP_RESAMPLES
from toontag.evaluation.evaluate import AT_PAPER_THRESHOLD
from toontag.evaluation.metrics import by_sequence_text

# Our metric -> the paper's key, for the columns where the paper gives figures.
PAPER_METRICS = {"f1_micro": "f1", "accuracy": "accuracy", "loss": "loss", "auc_micro": "auc"}
FRAME_ONLY = "interval by frame only"  # what a row without a sequence-level interval says


def _f(value, digits: int = 4) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _with_ci(m: dict, name: str) -> str:
    """The value with its intervals, where the evaluation computed them: resampling images,
    and whole sequences (rows evaluated before that existed: interval by frame only)."""
    ci, by_sequence = m["ci95"].get(name), m.get("ci95_by_sequence", {}).get(name)
    text = _f(m[name]) + (f" [{ci[0]:.4f}, {ci[1]:.4f}]" if ci else "")
    if by_sequence:
        return f"{text}, {by_sequence_text(by_sequence)}"
    return text + (f" ({FRAME_ONLY})" if ci and name == "f1_micro" else "")


def f1_interval(*metrics: dict) -> tuple[list[list[float]], str]:
    """The micro-F1 intervals of `metrics` to judge a claim by, all in one unit: by sequence
    where every one has it, else by frame (saying so)."""
    if all("ci95_by_sequence" in m for m in metrics):
        return [m["ci95_by_sequence"]["f1_micro"] for m in metrics], "by sequence"
    return [m["ci95"]["f1_micro"] for m in metrics], FRAME_ONLY


def _diff(ours, paper) -> str:
    return "–" if ours is None or paper is None else f"{ours - paper:+.4f}"


def quality_table(suite: Suite, results: dict[str, dict]) -> list[str]:
    head = ["row", "table", "init", "input"]
    for metric in ("F1 micro [95% CI]", "accuracy", "loss", "AUC micro"):
        head += [metric, "paper", "Δ"]
    head += ["AUC macro", "subset acc.", "precision [95% CI]", "recall [95% CI]"]
    head += ["F1, tuned thresholds"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in suite.rows:
        r = results[row.name]
        size = "x".join(map(str, r["config"]["image_size"])) if "config" in r else "–"
        cells = [row.name, row.table, row.init, size]
        if r["status"] != DONE:
            blank = [""] * (len(head) - len(cells) - 1)
            lines.append("| " + " | ".join([*cells, f"*{r['status']}*", *blank]) + " |")
            continue
        m, tuned = paper_rule(r["test"]), r["test"]
        for ours in PAPER_METRICS:
            paper = row.paper.get(PAPER_METRICS[ours])
            value = _with_ci(m, ours) if ours == "f1_micro" else _f(m[ours])
            cells += [value, _f(paper), _diff(m[ours], paper)]
        cells += [
            _f(m["auc_macro"]),
            _f(m["subset_accuracy"]),
            _with_ci(m, "precision_micro"),
            _with_ci(m, "recall_micro"),
            _f(tuned["f1_micro"]) if AT_PAPER_THRESHOLD in tuned else "(0.5 kept)",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def cost_table(suite: Suite, results: dict[str, dict]) -> list[str]:
    head = [
        "row",
        "best epoch / run",
        "stopped by",
        "paper epochs",
        "wall (min)",
        "train img/s",
        "inference img/s",
        "parameters",
        "device",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in suite.rows:
        r = results[row.name]
        if r["status"] != DONE:
            continue
        t = r["training"]
        lines.append(
            f"| {row.name} | {t['best_epoch']} / {t['epochs_run']} | {t.get('stopped_by', '–')} "
            f"| {row.paper.get('epochs') or '–'} | {r['wall_seconds'] / 60:.1f} | "
            f"{t['train_images_per_s'] or '– (resumed)'} | "
            f"{r['test']['inference_images_per_s']} | {r['parameters'] / 1e6:.2f} M | "
            f"{t['device']} |"
        )
    return lines


def thresholds_table(suite: Suite, results: dict[str, dict]) -> list[str]:
    """Micro-F1 at the paper's 0.5 against the per-class thresholds tuned on validation."""
    lines = [
        "| row | thresholds (tuned on val) | val F1 at 0.5 | val F1 tuned | test F1 at 0.5 "
        "| test F1 tuned | change on test |",
        "|---|---|---|---|---|---|---|",
    ]
    gains = []
    for row in suite.rows:
        r = results[row.name]
        if r["status"] != DONE or AT_PAPER_THRESHOLD not in r["test"]:
            continue
        val, test = r["val"], r["test"]
        per_class = ", ".join(f"{c} {v['threshold']:.2f}" for c, v in test["per_class"].items())
        at_half, tuned = paper_rule(test)["f1_micro"], test["f1_micro"]
        gains.append(tuned - at_half)
        lines.append(
            f"| {row.name} | {per_class} | {val['f1_micro_at_0.5']:.4f} | {val['f1_micro']:.4f} "
            f"| {at_half:.4f} | {tuned:.4f} | {tuned - at_half:+.4f} |"
        )
    if gains:
        better = sum(g > 0 for g in gains)
        lines += [
            "",
            f"Tuned thresholds raise test micro-F1 on {better} of {len(gains)} rows (mean "
            f"change {sum(gains) / len(gains):+.4f}). Each is the F1-optimal threshold of its "
            "class on validation, so a loss on test means validation and test disagree about "
            "where the decision should sit.",
        ]
    return lines


def comparison_line(c: dict, results: dict[str, dict], paper_f1: dict[str, float]) -> str:
    a, b = (results[n] for n in c["rows"])
    prefix = f"- Table {c['table']}, **{a['name']} vs {b['name']}** ({c['asks']}): "
    paper = f" Paper: {c['paper']}." if c.get("paper") else ""
    missing = [r for r in (a, b) if r["status"] != DONE]
    if len(missing) == 1 and missing[0]["name"] in paper_f1:  # against the paper's figure
        gone = missing[0]
        here = b if gone is a else a
        ours, theirs = paper_rule(here["test"]), paper_f1[gone["name"]]
        [(lo, hi)], unit = f1_interval(ours)
        where = "inside" if lo <= theirs <= hi else ("below" if theirs < lo else "above")
        measured = (
            f"{gone['name']} {gone['status']} here; against the paper's {theirs:.4f} for it, "
            f"{here['name']} reaches {ours['f1_micro']:.4f} [{lo:.4f}, {hi:.4f}] test "
            f"micro-F1 ({unit}), {ours['f1_micro'] - theirs:+.4f} (the paper's figure is "
            f"{where} our interval)."
        )
        return prefix + measured + paper
    if missing:
        why = "; ".join(f"{r['name']} {r['status']}" for r in missing)
        return prefix + f"not measured under this protocol ({why})." + paper
    ma, mb = paper_rule(a["test"]), paper_rule(b["test"])
    [(la, ha), (lb, hb)], unit = f1_interval(ma, mb)
    overlap = "overlap" if la <= hb and lb <= ha else "do not overlap"
    diff = ma["f1_micro"] - mb["f1_micro"]
    verdict = "ahead" if diff > 0 else "behind"
    return (
        prefix + f"test micro-F1 {ma['f1_micro']:.4f} vs {mb['f1_micro']:.4f}, the first "
        f"{abs(diff):.4f} {verdict}; the 95% intervals ({unit}) {overlap}." + paper
    )


def publish(
    suite: Suite,
    protocol: Protocol,
    results: dict[str, dict],
    out: Path,
    *,
    seconds: float,
    note: str | None = None,
    rendered: bool = False,
) -> Path:
    """Write ``<out>/benchmark-<protocol>.json`` and ``.md``; returns the Markdown path."""
    done = [r for r in results.values() if r["status"] == DONE]
    devices = sorted({r["training"]["device"] for r in done})
    paper_f1 = {r.name: r.paper["f1"] for r in suite.rows if "f1" in r.paper}
    test_images = done[0]["test"]["images"] if done else "?"
    lines = [
        f"# Kral Sakir benchmark ({suite.name} suite), {protocol.name} protocol",
        "",
        protocol.summary,
        "",
        *([note, ""] if note else []),
        f"Rows measured on: {', '.join(devices) or 'none yet'} (the footer names the machine "
        "that wrote this file).",
        "",
        f"Test split: the authors' ({test_images} images). Validation: 10% of train held out "
        "by whole sequences. Figures are at the paper's 0.5 threshold for every class; the last "
        "quality column applies the per-class thresholds tuned on validation. Intervals: 95% "
        f"percentile bootstrap, {BOOTSTRAP_RESAMPLES} resamples of the test images, and 'by "
        "sequence' of whole sequences of near-identical frames (the one to judge a difference "
        f"by; a row evaluated before it existed says '{FRAME_ONLY}'). 'paper' is "
        "the paper's figure where its text gives one (Table 5/7, GPU P100, Keras), "
        "Δ = ours − paper.",
        "",
        "## Quality on the test split",
        "",
        *quality_table(suite, results),
        "",
        "## Cost",
        "",
        *cost_table(suite, results),
        "",
        "## Decision thresholds: the paper's 0.5 against tuned on validation",
        "",
        *thresholds_table(suite, results),
        "",
        "## What the comparisons show",
        "",
        *(comparison_line(c, results, paper_f1) for c in suite.comparisons),
        "",
        "## Who computed each row",
        "",
        *provenance_table(results),
    ]
    path = Path(out) / f"benchmark-{protocol.name}"
    payload = {
        "suite": suite.name,
        "protocol": {"name": protocol.name, "summary": protocol.summary},
        "rows": list(results.values()),
    }
    write_result(path, payload, "\n".join(lines), wall_seconds=seconds, rendered=rendered)
    return path.with_suffix(".md")


def provenance_table(results: dict[str, dict]) -> list[str]:
    """Each finished row's own record of who computed it; rows written before rows kept one
    say so rather than borrowing this file's stamp."""
    lines = ["| row | device | commit | command | finished |", "|---|---|---|---|---|"]
    for name, r in results.items():
        if r["status"] != DONE:
            continue
        p = r.get("provenance") or {}
        commit = p.get("git_commit") or r.get("code") or "not recorded"
        lines.append(
            f"| {name} | {r['training']['device']} | `{commit}` | "
            f"{'`' + p['command'] + '`' if p.get('command') else 'not recorded'} | "
            f"{p.get('finished', 'not recorded')} |"
        )
    return lines
