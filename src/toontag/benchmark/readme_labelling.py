"""README's figures about what labels buy a user's own cartoon (label efficiency: the
screening, the chosen variants, training time). Each renderer reads result files from
`results` and returns the passage README holds (readme.py places it)."""

from __future__ import annotations

from pathlib import Path

from toontag.benchmark.efficiency import trained_at
from toontag.benchmark.figures import interval, read_result, span

METHODS = {  # a label-efficiency method, as README's prose names its model
    "finetune": "fine-tuned",
    "selftrain": "self-trained",
    "consistency": "trained with consistency",
    "head": "the label server's head",
}
LEVERS = {"adapted": "on show-adapted features", "propagate": "answers extended within shots"}


def named(variant: str) -> str:
    """A variant as prose: its method, then its levers ("finetune+adapted" -> "fine-tuned, on
    show-adapted features")."""
    method, *levers = variant.split("+")
    return ", ".join([METHODS[method], *(LEVERS[lever] for lever in levers)])


def screened(r: dict, budget: int) -> list[dict]:
    """The cells of one seed (the screening) validated on the common sample at `budget`,
    best on validation first."""
    rows = [
        s
        for s in r["summary"]
        if s["budget"] == budget
        and s["seeds"] == 1
        and s["val_f1"] is not None
        and s["own_val_f1"] is None
    ]
    return sorted(rows, key=lambda s: -s["val_f1"])


def screening(results: Path) -> str:
    """The levers screened one at a time on the common validation sample (one seed)."""
    r = read_result(results, "label-efficiency")
    parts = []
    for budget in (100, 400):
        rows = screened(r, budget)
        if not rows:
            continue
        mixed = len({s["policy"] for s in rows}) > 1  # one policy: said once; else for each
        each = "; ".join(
            named(s["variant"])
            + (f" ({s['policy']} frames)" if mixed else "")
            + f" {s['val_f1']:.3f}, {cell(s)}"
            for s in rows
        )
        shown = "one seed" if mixed else f"{rows[0]['policy']} frames, one seed"
        parts.append(f"at {budget} labels ({shown}) {each}")
    intro = "validation micro-F1 then test micro-F1, best on validation first: "
    return intro + "; and ".join(parts) if parts else "not screened yet"


def summary_row(r: dict, variant: str, policy: str, budget: int | str) -> dict:
    """One cell of the label-efficiency summary: a variant and policy at a budget (of its
    cells, one a device and commit, the one with the most seeds)."""
    found = [
        s
        for s in r["summary"]
        if (s["variant"], s["policy"], s["budget"]) == (variant, policy, int(budget))
    ]
    return max(found, key=lambda s: s["seeds"])


def chosen(r: dict) -> list[tuple[int, dict]]:
    """The cell validation chose at each budget, smallest budget first."""
    found = [
        (int(b), next(s for s in r["summary"] if s["chosen"] and s["budget"] == int(b)))
        for b in r["chosen"]
    ]
    return sorted(found, key=lambda pair: pair[0])


def cell(row: dict) -> str:
    """A cell's test figure: the mean over seeds with their range, its interval by sequence
    where the benchmark computed one, and the devices when they differ."""
    notes = []
    if row["seeds"] > 1:
        notes.append(f"seeds {span([row['test_f1_min'], row['test_f1_max']], 3)}")
    if "test_ci95_by_sequence" in row:
        ci = interval(row, frames="ci95_seed0", sequences="test_ci95_by_sequence")
        notes.append(f"seed 0 {ci}")
    devices = [row["ran_on"]] if isinstance(row["ran_on"], str) else row["ran_on"]
    if len(devices) > 1:
        notes.append(f"ran on {' and '.join(devices)}")
    return f"{row['test_f1']:.3f}" + (f" ({'; '.join(notes)})" if notes else "")


def label_efficiency(results: Path) -> str:
    r = read_result(results, "label-efficiency")
    picks = chosen(r)
    if not picks:
        return (
            "no variant is chosen yet: the rerun under the common validation sample has screened "
            "the levers with one seed (below); the runs with three seeds at 50 to 400 labels "
            f"that choose are to come. The goal, {r['goal']:.2f} with at most 400 labels, is "
            "not shown to be reached"
        )
    seeds = picks[0][1]["seeds"]

    def alone(budget: int) -> str:  # no trained cell with every seed there: the head only ran
        if trained_at(r["summary"], budget, seeds=seeds):
            return ""
        return ", the only variant run there with every seed so far"

    shown = "; ".join(
        f"{cell(row)} at {budget} labels ({named(row['variant'])}, {row['policy']} frames"
        f"{alone(budget)})"
        for budget, row in picks
    )
    budgets = {budget for budget, _ in picks}
    best = max((s for s in r["summary"] if s["budget"] in budgets), key=lambda s: s["test_f1"])
    passed = (
        ""
        if best["chosen"]
        else (
            f"; the {named(best['variant'])} model reached {best['test_f1']:.3f} at "
            f"{best['budget']} labels ({best['seeds']} run(s)"
            + (", validated on its own frames" if best["own_val_f1"] is not None else "")
            + ") but validation did not choose it"
        )
    )
    reached = any(row["test_f1"] >= r["goal"] for _, row in picks)
    return (
        f"the test micro-F1 of the variant validation chose, mean of {picks[0][1]['seeds']} seeds: "
        f"{shown}{passed}. The goal, {r['goal']:.2f} with at most {max(budgets)} labels, is "
        + ("reached by the point estimate" if reached else "not reached yet")
    )


def walkthrough_labels(results: Path) -> str:
    r = read_result(results, "label-efficiency")
    if not chosen(r):
        best = screened(r, 400)[0]
        return (
            f"{best['test_f1']:.2f} test micro-F1 at 400 labels ({named(best['variant'])}: the "
            "best on validation of the levers screened with one seed)"
        )
    budget, row = chosen(r)[-1]
    return (
        f"{row['test_f1']:.3f} test micro-F1 at {budget} labels ({named(row['variant'])}, chosen "
        f"on validation, mean of {row['seeds']} seeds)"
    )


def train_time(results: Path) -> str:
    """How long `train --data PROJECT`'s recipe took at the largest chosen budget."""
    r = read_result(results, "label-efficiency")
    if not chosen(r):
        return "not measured yet (no variant chosen)"
    budget, row = chosen(r)[-1]
    low, high = (value / 60 for value in row["seconds"])
    load = row["load_max"] or 0.0
    beside = f"; other work ran beside it, 1-minute load up to {load:.1f}" if load > 2 else ""
    return (
        f"{span([low, high], 1)} minutes per run at {budget} labels ({named(row['variant'])}, "
        f"{row['seeds']} seeds, on {row['ran_on']}, the test figures included{beside})"
    )


def adapted_head(results: Path) -> str:
    """The label page's head on show-adapted features against ImageNet's, on the same frames."""
    r = read_result(results, "label-efficiency")
    parts, policies = [], set()
    for budget in (400, 100):
        rows = screened(r, budget)
        for adapted in (s for s in rows if s["variant"] == "head+adapted"):
            same = [s for s in rows if (s["variant"], s["policy"]) == ("head", adapted["policy"])]
            if same:
                parts.append(
                    f"at {budget} labels {cell(adapted)} test micro-F1 against "
                    f"{cell(same[0])} on ImageNet's features"
                )
                policies.add(adapted["policy"])
    return "; ".join(parts) + f" ({', '.join(sorted(policies))} frames, one seed)"


def finetune_vs_head(results: Path) -> str:
    r = read_result(results, "label-efficiency")
    if not chosen(r):
        rows = {s["variant"]: s for s in screened(r, 400)}
        tuned, head = rows["finetune"], rows["head"]
        return (
            f"at 400 labels (random frames, one seed) {cell(tuned)} against {cell(head)} test "
            "micro-F1"
        )
    budget, tuned = chosen(r)[-1]
    head = summary_row(r, "head", tuned["policy"], budget)
    apart = tuned["test_f1_min"] > head["test_f1_max"] or head["test_f1_min"] > tuned["test_f1_max"]
    return (
        f"at {budget} labels ({tuned['policy']} frames) {tuned['test_f1']:.3f} against "
        f"{head['test_f1']:.3f} test micro-F1, means of {tuned['seeds']} seeds whose ranges "
        f"({span([tuned['test_f1_min'], tuned['test_f1_max']], 3)} and "
        f"{span([head['test_f1_min'], head['test_f1_max']], 3)}) "
        + ("do not overlap" if apart else "overlap")
    )


def consistency(results: Path) -> str:
    r = read_result(results, "label-efficiency")

    def f1(variant, budget):  # over its cells (one a device and commit): their runs' range
        found = [
            c
            for c in r["summary"]
            if (c["variant"], c["policy"], c["budget"]) == (variant, "active", budget)
        ]
        runs = sum(c["seeds"] for c in found)
        if len(found) == 1:
            return f"{found[0]['test_f1']:.3f}"
        low = min(c["test_f1_min"] for c in found)
        high = max(c["test_f1_max"] for c in found)
        return f"{span([low, high], 3)} over {runs} runs on {len(found)} devices or commits"

    seeds = summary_row(r, "consistency", "active", 400)["seeds"]
    return (
        f"at 400 labels ({seeds} seeds) it scores {f1('consistency', 400)} test micro-F1, "
        f"against fine-tuning alone ({f1('finetune', 400)} with the same actively picked "
        f"frames) and self-training ({f1('selftrain', 400)}); at 100 labels "
        f"{f1('consistency', 100)} ({summary_row(r, 'consistency', 'active', 100)['seeds']} "
        f"seeds; self-training {f1('selftrain', 100)})"
    )


def train_default(results: Path) -> str:
    """What `train --data PROJECT` takes by itself: validation's choice at each budget
    (labelling/recommended.py copies it; a test checks the copy)."""
    r = read_result(results, "label-efficiency")
    by_budget = sorted((int(b), variant) for b, (variant, _policy) in r["chosen"].items())
    return "; ".join(f"at {b} labels {named(variant)}" for b, variant in by_budget)


RENDERERS = {
    "train-default": train_default,
    "label-efficiency": label_efficiency,
    "label-screening": screening,
    "adapted-head": adapted_head,
    "walkthrough-labels": walkthrough_labels,
    "train-time": train_time,
    "finetune-vs-head": finetune_vs_head,
    "consistency": consistency,
}
