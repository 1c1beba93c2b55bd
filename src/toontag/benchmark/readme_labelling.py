"""README's figures about a user's own cartoon: the walkthrough, what labels buy (label
efficiency) and enrolling a new character. Each renderer reads result files from `results`
and returns the passage README holds (readme.py places it)."""

from __future__ import annotations

from pathlib import Path

from toontag.benchmark.figures import interval, read_result, span

TRAINED = {  # a label-efficiency variant, as README's prose names its model
    "finetune": "fine-tuned",
    "selftrain": "self-trained",
    "consistency": "trained with consistency",
    "head": "the label server's head",
}


def summary_row(r: dict, variant: str, policy: str, budget: int | str) -> dict:
    """One cell of the label-efficiency summary: a variant and policy at a budget."""
    return next(
        s
        for s in r["summary"]
        if (s["variant"], s["policy"], s["budget"]) == (variant, policy, int(budget))
    )


def chosen(r: dict) -> list[tuple[int, dict]]:
    """The cell validation chose at each budget, smallest budget first."""
    found = [(int(b), summary_row(r, v, p, b)) for b, (v, p) in r["chosen"].items()]
    return sorted(found, key=lambda pair: pair[0])


def cell(row: dict) -> str:
    """A cell's test figure: the mean over seeds with their range, its interval by sequence
    where the benchmark computed one, and the devices when they differ."""
    text = f"{row['test_f1']:.2f} (seeds {span([row['test_f1_min'], row['test_f1_max']])}"
    if "test_ci95_by_sequence" in row:
        ci = interval(row, frames="ci95_seed0", sequences="test_ci95_by_sequence")
        text += f"; seed 0 {ci}"
    if len(row["ran_on"]) > 1:
        text += f"; ran on {' and '.join(row['ran_on'])}"
    return text + ")"


def label_efficiency(results: Path) -> str:
    r = read_result(results, "label-efficiency")
    picks = chosen(r)
    shown = "; ".join(
        f"{cell(row)} at {budget} labels ({TRAINED[row['variant']]}, {row['policy']} frames)"
        for budget, row in picks
    )
    budgets = {budget for budget, _ in picks}
    best = max((s for s in r["summary"] if s["budget"] in budgets), key=lambda s: s["test_f1"])
    passed = (
        ""
        if best["chosen"]
        else (
            f"; the {TRAINED[best['variant']]} model reached {best['test_f1']:.2f} at "
            f"{best['budget']} labels but validation did not choose it"
        )
    )
    reached = any(row["test_f1"] >= r["goal"] for _, row in picks)
    return (
        f"the test micro-F1 of the variant validation chose, mean of {picks[0][1]['seeds']} seeds: "
        f"{shown}{passed}. The goal, {r['goal']:.2f} with at most {max(budgets)} labels, is "
        + ("reached by the point estimate" if reached else "not reached yet")
    )


def walkthrough_labels(results: Path) -> str:
    budget, row = chosen(read_result(results, "label-efficiency"))[-1]
    return f"{row['test_f1']:.2f} test micro-F1 at {budget} labels {TRAINED[row['variant']]}"


def finetune_vs_head(results: Path) -> str:
    r = read_result(results, "label-efficiency")
    budget, tuned = chosen(r)[-1]
    head = summary_row(r, "head", tuned["policy"], budget)
    apart = tuned["test_f1_min"] > head["test_f1_max"] or head["test_f1_min"] > tuned["test_f1_max"]
    return (
        f"at {budget} labels ({tuned['policy']} frames) {tuned['test_f1']:.2f} against "
        f"{head['test_f1']:.2f} test micro-F1, means of {tuned['seeds']} seeds whose ranges "
        f"({span([tuned['test_f1_min'], tuned['test_f1_max']])} and "
        f"{span([head['test_f1_min'], head['test_f1_max']])}) "
        + ("do not overlap" if apart else "overlap")
    )


def consistency(results: Path) -> str:
    r = read_result(results, "label-efficiency")

    def f1(variant, budget):
        return summary_row(r, variant, "active", budget)["test_f1"]

    seeds = summary_row(r, "consistency", "active", 400)["seeds"]
    return (
        f"at 400 labels ({seeds} seeds) it scores {f1('consistency', 400):.3f} test micro-F1, "
        f"against fine-tuning alone ({f1('finetune', 400):.3f} with the same actively picked "
        f"frames) and self-training ({f1('selftrain', 400):.3f}); at 100 labels "
        f"{f1('consistency', 100):.3f} ({summary_row(r, 'consistency', 'active', 100)['seeds']} "
        f"seeds; self-training {f1('selftrain', 100):.3f})"
    )


def new_character(results: Path) -> str:
    r = read_result(results, "new-character")
    goals = r["goals"]
    k, asked = goals["k"], goals["confirmations"]
    rows = [(t["character"], t[str(k)]) for t in r["table"]]
    each = ", ".join(f"{name} {at['confirmed']:.3f}" for name, at in rows)
    return (
        f"from {k} examples plus {asked} answered frames the new character's F1 is "
        f"{span([at['confirmed'] for _, at in rows])} ({each}; from the {k} examples alone "
        f"{span([at['alone'] for _, at in rows])}), where calling every frame positive scores "
        f"{span([t['always_yes_f1'] for t in r['table']])}; the goal is {goals['new_f1']:.2f}"
    )


def new_character_old(results: Path) -> str:
    changed = sum(
        t["old_change"]["decisions_changed"] for t in read_result(results, "new-character")["table"]
    )
    return (
        "the decisions did not change on any test frame"
        if changed == 0
        else f"the decisions changed on {changed} test frames"
    )


def walkthrough(results: Path) -> str:
    r = read_result(results, "walkthrough")
    labelling, steps = r["labelling"], r["steps"]
    quality = labelling["model"]["quality"]

    def seconds(command: str) -> float:
        return next(s["seconds"] for s in steps if s["command"].startswith(f"toontag {command}"))

    return (
        f"`frames` kept {r['pool']} candidate frames of the two episodes, the simulated person "
        f"gave **{labelling['answers']} labels** (about {seconds('label'):.0f} s through the "
        f"API; the page's audit sample of {quality['entries']} answers then put the head at "
        f"{quality['f1']:.2f} micro-F1), training took {seconds('train') / 60:.0f} minutes and "
        f"indexing {seconds('index'):.0f} s"
    )


def walkthrough_ranges(results: Path) -> str:
    return f"{len(read_result(results, 'walkthrough')['ranges']['hits'])} ranges"


RENDERERS = {
    "label-efficiency": label_efficiency,
    "walkthrough-labels": walkthrough_labels,
    "finetune-vs-head": finetune_vs_head,
    "consistency": consistency,
    "new-character": new_character,
    "new-character-old": new_character_old,
    "walkthrough": walkthrough,
    "walkthrough-ranges": walkthrough_ranges,
}
