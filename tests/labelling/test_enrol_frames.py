"""What an enrolment by fine-tuning learns from: shot-mates, held-out answers."""

from pathlib import Path

from toontag.labelling.enrol_frames import MATES, held_out, shot_mates


def test_shot_mates_are_spread_over_the_shot_and_never_a_labelled_frame():
    shots = {Path(f"/p/{shot}-{i:02d}.jpg"): f"ep\tshot {shot}" for shot in "ab" for i in range(20)}
    example, taken = Path("/p/a-00.jpg"), Path("/p/a-05.jpg")
    mates = shot_mates([example], shots, exclude={example, taken})
    assert len(mates) == MATES and example not in mates and taken not in mates
    assert all(m.name.startswith("a-") for m in mates)  # from its shot alone
    assert mates[0].name == "a-01.jpg" and mates[-1].name == "a-19.jpg"  # spread over it
    assert shot_mates([Path("/p/still.jpg")], shots, exclude=set()) == []  # no shot, no mates


def test_held_out_answers_are_whole_shots_and_at_least_one():
    shots = {Path(f"/p/{i}.jpg"): f"shot {i // 3}" for i in range(12)}  # 4 shots of 3
    answers = list(shots)
    held = held_out(answers, shots, seed=0)
    assert len(held) == 3 and len({shots[f] for f in held}) == 1  # a third of 4 shots: one
    assert len(held_out(answers[:1], shots, seed=0)) == 1
    assert held_out([], shots, seed=0) == []
