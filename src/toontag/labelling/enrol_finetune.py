"""Enrolling a new character by fine-tuning (``enrol --method finetune``): the top of the run's
backbone and its head learn one more output while the old outputs are distilled (`finetune`).

Frames. Positives: the examples and the frames answered yes; where a labelling project gives
shots (its pool.csv), up to `MATES` of their shot-mates too, weighted `SHOT_WEIGHT` (a shot may
cut away from the character). Negatives: the frames given or answered no. Unlabelled: a sample
of `BACKGROUND` old frames (the run's training frames; half from the project's pool where there
is one), unknown for the new class as in `enrol`. Every frame's old outputs learn the base
run's. Each frame's map at the cut is computed once; the epochs run over the cached maps.

Positive-unlabelled. The new output starts as the linear read-out (`enrol`'s fit folded into
the head) and only the unlabelled frames that fit puts clearly below its threshold (under
`CONFIDENT` of it) are negatives, weighted `PSEUDO_WEIGHT`; the rest stay unknown. Why: a
character can be in half of an old show's frames (each Kral Sakir character is in 33-56% of the
pool of results/new-character.json), so "unlabelled = negative" would teach it to miss them,
while the linear fit's clear negatives are the reliable negatives
of the two-step PU approach (Liu et al., 2003), and a fine-tune the clock stops early is the
linear read-out itself. The threshold is then set so that as many unlabelled frames are over it
as over the linear fit's: how common the character is stays the linear (Elkan-Noto, or tuned
out of fold) estimate, the fine-tune only ranks the frames better (its labelled frames, fitted,
cannot place a threshold).

Answers, guarded. From examples alone the fine-tune above is the result. With answers (negatives
given, a filled-in confirm.csv) holding both yes and no, `HELD` of each (whole shots) are held
out, the fine-tune goes on from the examples-only one with the rest (`steps` / 2 more steps),
and is kept only where it decides the held-out answers better (balanced accuracy: yes and no
alike) than the examples-only one, which is the result otherwise, tie included. Answers all
"no" (or all yes) are set aside and the examples-only fine-tune is the result: held-out "no"
answers can show fewer false positives, never lost recall (on a tiny base, "no" answers alone
raised the held-out ones' accuracy while the ranking of held test frames got worse), so answers
all "no" can never leave the result worse than the examples alone; the next offers are then
the frames nearest the examples (enrol_guard.py, which both methods share). Until the answers
themselves (not the examples) hold 5 yes and 5 no, the linear start stays positive-unlabelled
and the share over the threshold stays the examples-only one's: a few answers, most chosen near
the threshold, are no sample of how common the character is.

Time. `seconds` bounds the whole enrolment: training stops (enrol.json says so) in time to
score the frames and write the run. Measured by ``python benchmarks/enrol_time.py --base RUN
--answers 30`` (commit ad1e5b5; 2 CPU cores another job kept busy, 1-minute load 4.1; Lite0
at 112x192; 20 examples, 30 answers, 335 unlabelled frames): 82 s, of which 8 s the frames
(decoding, maps, the base's outputs) and 70 s the 60 + 30 steps. With ``--unlabelled 3000
--answers 50`` (load 4.6): 156 s, of which 61 s the frames and 64 s the steps: within the 3
minutes; a busier machine loses steps to the clock first.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from toontag.errors import DataError
from toontag.labelling.confirm import CONFIRM, Confirmed, write_offers
from toontag.labelling.enrol import enrolled_model, request, write_run
from toontag.labelling.enrol_frames import (
    MATES,
    Asked,
    Cached,
    Part,
    key,
    old_frames,
    project_shots,
    shot_mates,
)
from toontag.labelling.enrol_guard import (
    EXAMPLES_ONLY,
    HELD,
    held_out,
    judged,
    next_offers,
    set_aside,
)
from toontag.labelling.finetune import (
    BATCH,
    DISTILL,
    LABELLED_BATCH,
    LR_HEAD,
    LR_TOP,
    STEPS,
    Targets,
    fine_tune,
    matched_cut,
    sigmoid,
    top_outputs,
    torch_threads,
)
from toontag.labelling.head import ENOUGH, fit_new_class
from toontag.models.stages import CUT

SECONDS = 180.0  # the whole enrolment's budget on the clock (the 3 minutes on 2 cores)
THREADS = 1  # PyTorch threads: on 2 busy cores two measured 5-10x slower a step than one
SHOT_WEIGHT = 0.5  # a shot-mate of a positive: a weak positive
CONFIDENT = 0.5  # "clearly negative": under this share of the linear start's threshold
PSEUDO_WEIGHT = 0.3  # such an unlabelled frame: a weak negative
PU_ONLY = 10**9  # `fit_new_class`'s `enough` that keeps it positive-unlabelled
MARGIN = 5.0  # seconds kept for the offers and writing the run
THRESHOLD = 0.5  # the new output's, its cut moved into its bias (see the module)
GUARD_KEYS = ("answers", "held_out_answers", "examples_only", "with_answers", "kept", "said")


@dataclass(frozen=True)
class Clock:
    """When a phase's training must stop: `end` less what comes after it (`scoring` passes,
    and where `again` another phase's linear fit, as long as this one's took), of which it
    gets `portion` of the time left."""

    end: float
    portion: float
    scoring: float
    again: bool

    def deadline(self, fit_seconds: float) -> float:
        now = time.perf_counter()
        left = self.end - now - self.scoring - (fit_seconds if self.again else 0.0)
        return now + max(left, 0.0) * self.portion


@dataclass(frozen=True)
class Phase:
    """A fine-tuned model and what came of it."""

    model: object  # the widened `ToonNet`, trained
    part: Part
    logits: np.ndarray  # (U, C + 1) logits of the part's unlabelled frames
    pooled: np.ndarray  # (U, D) their pooled features, for diverse offers
    summary: dict  # for enrol.json


def enrol_finetuned(
    run: Path,
    *,
    character: str,
    out: Path,
    examples: list[Path],
    negatives: list[Path] = (),
    confirmed: Confirmed | None = None,
    project: Path | None = None,
    background: list[Path] | None = None,
    confirm: int = CONFIRM,
    seed: int = 0,
    cache_root: Path | None = None,
    steps: int = STEPS,
    seconds: float = SECONDS,
) -> dict:
    """A new run in `out`: `run` plus the class `character`, by fine-tuning (see the module).
    `project`: a labelling project whose pool gives shots and unlabelled frames; `steps` and
    `seconds` bound the training. Returns what was done, also written to ``out/enrol.json``;
    ``out/confirm.csv`` lists frames to confirm."""
    started = time.perf_counter()
    job = request(
        run, out, character=character, examples=examples, negatives=negatives, confirmed=confirmed
    )
    if len(job.examples) < 2:  # the answers are judged against the examples alone
        raise DataError(f"enrolling {job.name!r} needs at least 2 example images of it")
    asked = Asked(*([key(f) for f in frames] for frames in (job.examples, job.yes, job.no)))
    shots = {} if project is None else project_shots(project)
    mates = shot_mates(asked.examples, shots, exclude=set(asked.examples))
    taken = {*asked.examples, *mates}
    unlabelled = dict.fromkeys(map(key, old_frames(job.run, background, project, seed)))
    unlabelled = [f for f in unlabelled if f not in taken]
    answers = [*asked.yes, *asked.no]
    both = bool(asked.yes and asked.no)  # else the answers cannot be judged: set aside
    first_block = [*asked.examples, *mates, *unlabelled]  # the examples-only fine-tune's
    with torch_threads(THREADS):
        rest = list(set(answers) - set(first_block))
        cached = Cached(job.trained, [first_block, sorted(rest)], asked.labelled, cache_root)
        end = started + seconds - MARGIN
        part = Part(*map(cached.rows, (asked.examples, [], mates, unlabelled)))
        # With answers to come, this phase leaves time for theirs: its fit, steps and scoring.
        later = (steps // 2, 2) if both else (0, 1)
        clock = Clock(end, steps / (steps + later[0]), later[1] * cached.scoring, both)
        first = _learn(cached, None, part, pu=True, steps=steps, seed=seed, clock=clock)
        final, guard = first, None
        if both:
            final, guard = _with_answers(asked, cached, first, shots, unlabelled, steps, seed, end)
        elif answers:
            guard = set_aside(len(asked.yes), len(asked.no)) | {"answers_phase": None}
        frames = [cached.paths[r] for r in final.part.unlabelled]
        labelled = asked.labelled
        open_ = np.array([f not in labelled for f in frames], dtype=bool)  # not asked yet
        frames = [f for f, ask in zip(frames, open_, strict=True) if ask]
        p = sigmoid(final.logits[open_, -1])
        groups = np.unique([shots.get(f, str(f)) for f in frames], return_inverse=True)[1]
        examples = top_outputs(final.model, cached.maps[cached.rows(asked.examples)])[1]
        offered = next_offers(
            guard, p, THRESHOLD, confirm, seed, examples=examples,
            features=final.pooled[open_], groups=groups,
        )  # fmt: skip
    details = {
        "base_run": str(job.run.resolve()),
        "character": job.name,
        "method": "finetune",
        "positives": len(job.positives),
        "negatives": len(job.no),
        "confirmations_used": job.answered,
        "unlabelled": len(final.part.unlabelled),
        "threshold": round(THRESHOLD, 4),
        "unlabelled_over_threshold": int((p >= THRESHOLD).sum()),
        "offered_for_confirmation": len(offered),
        "settings": settings(steps, seconds, seed),
        "frames": {
            "examples": list(map(str, asked.examples)),
            "answered_yes": list(map(str, asked.yes)),
            "answered_no": list(map(str, asked.no)),
            "held_out": guard["frames"] if guard else [],
            "shot_mates": [str(cached.paths[r]) for r in final.part.mates],
            "unlabelled": len(final.part.unlabelled),
            "unlabelled_from_project": sum(
                project is not None and key(project) in f.parents for f in frames
            ),
        },
        "phases": [first.summary, *([guard["answers_phase"]] if both else [])],
        "guard": guard and {k: guard[k] for k in GUARD_KEYS},
        "old_outputs_on_unlabelled": drift(final, cached, job.trained.thresholds),
        "frames_seconds": round(cached.seconds, 1),  # decoding, maps, the base's outputs
        "seconds": round(time.perf_counter() - started, 1),
    }
    model = final.model.cpu()
    config = job.trained.config.replace(head_hidden=model.head[2].out_features)
    write_run(job.run, job.out, job.trained, model, config, job.name, THRESHOLD, details)
    write_offers(job.out, frames, p, offered)
    return details


def _with_answers(asked: Asked, cached, first: Phase, shots, unlabelled, steps, seed, end):
    """The examples-only fine-tune `first` continued with the answers, less `HELD` of them,
    and which of the two decides those held out better (see the module): (the one kept, the
    guard's record)."""
    held_yes, held_no = held_out(asked.yes, shots, seed), held_out(asked.no, shots, seed)
    held, aside = [*held_yes, *held_no], {*held_yes, *held_no}
    yes, no = ([f for f in kind if f not in aside] for kind in (asked.yes, asked.no))
    mates = shot_mates([*asked.examples, *yes], shots, exclude=asked.labelled)
    taken = asked.labelled | set(mates)
    unlabelled = [f for f in unlabelled if f not in taken]
    part = Part(*map(cached.rows, ([*asked.examples, *yes], no, mates, unlabelled)))
    pu = len(yes) < ENOUGH or len(no) < ENOUGH
    second = _learn(
        cached, copy.deepcopy(first.model), part, pu=pu, steps=steps // 2,
        seed=seed, clock=Clock(end, 1.0, cached.scoring, False),
        share=first.summary["share_over_threshold"] if pu else None,
    )  # fmt: skip
    truth = np.r_[np.ones(len(held_yes), bool), np.zeros(len(held_no), bool)]  # both kinds
    maps = cached.maps[cached.rows(held)]  # every answered frame decoded
    guard = judged(truth, _decide(first, maps), _decide(second, maps), held)
    kept = first if guard["kept"] == EXAMPLES_ONLY else second
    return kept, guard | {"answers_phase": second.summary}


def _learn(cached: Cached, model, part: Part, *, pu: bool, steps, seed, clock, share=None):
    """The linear start fitted on `part` (positive-unlabelled where `pu`), `model` (None: the
    base run with that fit folded in) fine-tuned on the part, and the new output's threshold:
    `share` of the unlabelled frames over it (None: as many as over the linear start's)."""
    rows = part.rows
    n_pos, n_neg, n_mates = len(part.positives), len(part.negatives), len(part.mates)
    n_unl = len(part.unlabelled)
    at, fitting = np.arange(len(rows)), time.perf_counter()
    head, k = fit_new_class(
        cached.features[rows], at[:n_pos], at[n_pos : n_pos + n_neg], at[n_pos + n_neg :],
        seed=seed, enough=PU_ONLY if pu else ENOUGH,
    )  # fmt: skip
    p, start = head.probabilities(cached.features[part.unlabelled])[:, 0], head.thresholds[0]
    if share is None:
        share = float((p >= start).mean()) if n_unl else 0.0
    pseudo = p < CONFIDENT * start
    targets = Targets(
        teacher=cached.teacher[rows],
        new=np.r_[np.ones(n_pos), np.zeros(n_neg), np.ones(n_mates), np.zeros(n_unl)],
        weight=np.r_[
            np.ones(n_pos + n_neg),
            np.full(n_mates, SHOT_WEIGHT),
            np.where(pseudo, PSEUDO_WEIGHT, 0),
        ],
        labelled=np.r_[np.ones(n_pos + n_neg + n_mates, bool), np.zeros(n_unl, bool)],
    )
    if model is None:
        model = enrolled_model(cached.trained, head)[0].to(cached.device)
    fitting = time.perf_counter() - fitting
    deadline = clock.deadline(fitting)
    record = fine_tune(model, cached.maps[rows], targets, steps=steps, seed=seed, deadline=deadline)
    logits, pooled = top_outputs(model, cached.maps[part.unlabelled])
    cut = matched_cut(logits[:, -1], share)
    with torch.no_grad():  # the decision at 0.5: the cut moved into the new output's bias
        model.head[5].bias[-1] -= cut
    logits[:, -1] -= cut
    summary = {
        **asdict(record),
        "positives": n_pos,
        "negatives": n_neg,
        "shot_mates": n_mates,
        "unlabelled": n_unl,
        "pseudo_negatives": int(pseudo.sum()),
        "fit_seconds": round(fitting, 1),
        "start": "examples and answers, threshold tuned out of fold"
        if k is None
        else "positive-unlabelled (Elkan-Noto)",
        "start_threshold": round(start, 4),
        "share_over_threshold": round(share, 4),
        "bias_moved_by": round(-cut, 4),
    }
    return Phase(model, part, logits, pooled, summary)


def drift(phase: Phase, cached: Cached, thresholds) -> dict:
    """How far the old outputs moved on the unlabelled frames (which they were distilled on)."""
    after = sigmoid(phase.logits[:, :-1])
    before = cached.teacher[phase.part.unlabelled]
    change = np.abs(after - before) if len(after) else np.zeros(1)
    limits = np.asarray(thresholds)
    return {
        "mean_abs_change": round(float(change.mean()), 5),
        "max_abs_change": round(float(change.max()), 5),
        "decisions_changed": int(((after >= limits) != (before >= limits)).sum()),
    }


def settings(steps: int, seconds: float, seed: int) -> dict:
    """The fine-tune's settings, for enrol.json."""
    return {
        "steps": steps, "seconds": seconds, "seed": seed, "threads": THREADS, "cut": CUT,
        "batch": BATCH, "labelled_batch": LABELLED_BATCH, "lr_top": LR_TOP, "lr_head": LR_HEAD,
        "distill": DISTILL, "shot_weight": SHOT_WEIGHT, "mates": MATES,
        "confident": CONFIDENT, "pseudo_weight": PSEUDO_WEIGHT, "held": round(HELD, 4),
    }  # fmt: skip


def _decide(phase: Phase, maps: np.ndarray) -> np.ndarray:
    return sigmoid(top_outputs(phase.model, maps)[0][:, -1]) >= THRESHOLD
