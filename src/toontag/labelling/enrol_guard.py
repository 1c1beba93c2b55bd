"""Answers that must not make an enrolment worse, and what to offer when every answer was no.

Both methods (`enrol`, `enrol_finetune`) fit the new character from the examples alone first.
Answers from a filled-in ``confirm.csv`` are judged before they are used: `HELD` of the yes
answers and of the no answers (whole shots) are held out, the fit on the examples and the rest
is compared with the examples-only fit on them (balanced accuracy: yes and no alike, each fit
at its own threshold), and used only where it decides them better; else the examples-only fit
is the result, tie included, and the guard's line (`said`) says so.

Answers all no (or all yes) cannot be judged that way: held-out "no" answers can show fewer
false positives, never lost recall. Enrolling canan into a base whose old frames hold none of
her (issue 28), all 50 offers were truthfully answered no and the fit on them scored canan F1
0.60 on test against 0.71 from the examples alone, without a word. So such answers are set
aside: the examples-only fit is the result, and it says so. Where every answer was no, the
offers were the wrong ones to ask about: the next are the old frames nearest the examples in
feature space (`confirm.offer_nearest`), those a person is likeliest to answer yes, so that the
next round holds both kinds before anything is refitted on them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.metrics import balanced_accuracy_score

from toontag.labelling.confirm import offer_for_confirmation, offer_nearest
from toontag.labelling.head import fit_new_class

HELD = 1 / 3  # share of the answers' shots held out to judge them
EXAMPLES_ONLY, WITH_ANSWERS = "examples only", "with answers"


def held_out(answers, shots: dict[Path, str], seed: int) -> list[Path]:
    """`HELD` of the answered frames (resolved paths), at least one where there are any, whole
    shots at a time (`shots`: frame -> shot; a frame without a shot is its own)."""
    keys = list(dict.fromkeys(Path(a).resolve() for a in answers))
    group = [shots.get(k, k) for k in keys]
    unique = list(dict.fromkeys(group))
    count = max(1, round(HELD * len(unique))) if unique else 0
    picked = {unique[i] for i in np.random.default_rng(seed).permutation(len(unique))[:count]}
    return [k for k, g in zip(keys, group, strict=True) if g in picked]


def judged(truth, examples_only, with_answers, frames) -> dict:
    """The guard's record where answers of both kinds were held out: `truth` (True: yes) of
    the held-out `frames`, and each fit's decisions on them; `kept` the better, ties to the
    examples-only fit."""
    scores = [balanced_accuracy_score(truth, d) for d in (examples_only, with_answers)]
    kept = WITH_ANSWERS if scores[1] > scores[0] else EXAMPLES_ONLY
    guard = {
        "answers": "yes and no",
        "held_out_answers": len(truth),
        "examples_only": round(scores[0], 4),
        "with_answers": round(scores[1], 4),
        "kept": kept,
        "frames": [str(f) for f in frames],
    }
    return guard | {"said": said(guard)}


def guarded_fit(features, alone, examples, negatives, unlabelled, yes, no, rows, *, seed: int):
    """`enrol`'s fit with the answers where they decide held-out ones better than the
    examples-only fit `alone` (its head and share) does, else `alone`: (head, share, the
    guard's record). `examples`, `negatives` (given) and `unlabelled` (the old frames never
    answered): rows of `features`; `yes`, `no`: the frames answered so; `rows`: each answered
    frame -> its row. Used, the answers are all fitted on, the held-out ones too."""
    if not (yes and no):
        return *alone, set_aside(len(yes), len(no))
    frames = [*held_out(yes, {}, seed), *held_out(no, {}, seed)]
    resolved = {Path(f).resolve(): r for f, r in rows.items()}
    held = [resolved[f] for f in frames]

    def fit(held: list) -> tuple:
        kept_yes, kept_no = ([rows[f] for f in kind if rows[f] not in held] for kind in (yes, no))
        return fit_new_class(
            features, [*examples, *kept_yes], [*negatives, *kept_no], unlabelled, seed=seed
        )

    checked = fit(held)[0]
    truth = np.isin(held, [rows[f] for f in yes])
    decided = [
        h.probabilities(features[held])[:, 0] >= h.thresholds[0] for h in (alone[0], checked)
    ]
    guard = judged(truth, *decided, frames)
    return (*(alone if guard["kept"] == EXAMPLES_ONLY else fit([])), guard)


def next_offers(guard, p, threshold, count: int, seed: int, *, features, examples, **spread):
    """Indices into `p` (the new class's probabilities of the frames not answered) to offer
    next: where every answer was no (`guard`), the `count` nearest the `examples` in
    `features` (one row per entry of `p`; `examples`: theirs); else `offer_for_confirmation`'s,
    `spread` its keywords (features and groups: diverse offers)."""
    groups = spread.get("groups")
    if guard and guard["answers"] == "all no":
        return offer_nearest(features, examples, count, groups=groups)
    return offer_for_confirmation(p, threshold, count, seed, **spread)


def set_aside(yes: int, no: int) -> dict:
    """The guard's record where the `yes` and `no` answers are all of one kind."""
    guard = {
        "answers": "all no" if no else "all yes",
        "held_out_answers": 0,
        "examples_only": None,
        "with_answers": None,
        "kept": EXAMPLES_ONLY,
        "frames": [],
        "count": yes + no,
    }
    return guard | {"said": said(guard)}


def said(guard: dict) -> str:
    """The one line telling a person what came of their answers."""
    if guard["answers"] == "all no":
        return (
            f"answers: all {guard['count']} no, so nothing shows what they would cost in recall: "
            "set aside, the fit from the examples only kept; confirm.csv now offers the old "
            "frames nearest the examples (likelier yes): answer those and enrol again"
        )
    if guard["answers"] == "all yes":
        return (
            f"answers: all {guard['count']} yes, so nothing to check them on: set aside, the fit "
            "from the examples only kept"
        )
    scores = (
        f"held-out balanced accuracy {guard['with_answers']:.2f} with answers, "
        f"{guard['examples_only']:.2f} from the examples only"
    )
    if guard["kept"] == EXAMPLES_ONLY:
        return (
            f"answers: they did not decide the {guard['held_out_answers']} held out to check them "
            f"better ({scores}): kept the fit from the examples only"
        )
    return (
        f"answers: {guard['held_out_answers']} held out to check them; kept the fit with "
        f"answers ({scores})"
    )
