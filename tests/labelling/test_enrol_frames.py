"""What an enrolment by fine-tuning learns from: shot-mates."""

from pathlib import Path

from toontag.labelling.enrol_frames import MATES, shot_mates


def test_shot_mates_are_spread_over_the_shot_and_never_a_labelled_frame():
    shots = {Path(f"/p/{shot}-{i:02d}.jpg"): f"ep\tshot {shot}" for shot in "ab" for i in range(20)}
    example, taken = Path("/p/a-00.jpg"), Path("/p/a-05.jpg")
    mates = shot_mates([example], shots, exclude={example, taken})
    assert len(mates) == MATES and example not in mates and taken not in mates
    assert all(m.name.startswith("a-") for m in mates)  # from its shot alone
    assert mates[0].name == "a-01.jpg" and mates[-1].name == "a-19.jpg"  # spread over it
    assert shot_mates([Path("/p/still.jpg")], shots, exclude=set()) == []  # no shot, no mates
