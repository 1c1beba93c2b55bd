"""What the indexing benchmark's lever rows decide (`choices`), by its fixed rules."""

from __future__ import annotations

from toontag.benchmark.speed_tables import choices


def rows(levers: dict[str, tuple[float, float, int]]) -> list[dict]:
    """Two videos; per lever (time IoU, decisions kept, frames tagged), the same on both
    except the second video's time IoU, 0.01 higher for every lever."""
    return [
        {
            "video": video,
            "lever": lever,
            "time_iou": iou + shift,
            "agreement": kept,
            "frames_tagged": tagged,
            "frames_sampled": 100,
        }
        for video, shift in (("a", 0.0), ("b", 0.01))
        for lever, (iou, kept, tagged) in levers.items()
    ]


def test_the_planes_could_be_the_default_only_where_they_lose_no_time_iou():
    planes = "shot input: decoder planes"
    kept = choices(rows({"defaults": (0.9604, 1, 100), planes: (0.9600, 1, 100)}))
    lost = choices(rows({"defaults": (0.9610, 1, 100), planes: (0.9600, 1, 100)}))
    assert kept["shot_input_planes"]["holds"] and not lost["shot_input_planes"]["holds"]


def test_still_takes_the_level_tagging_fewest_among_those_that_hold():
    found = choices(
        rows(
            {
                "defaults": (0.9500, 1.0, 40),  # the shipped level: not the reference
                "still: every sample tagged": (0.9600, 1.0, 100),
                "still 0.5": (0.9600, 1.0, 80),
                "still 1": (0.9598, 1.0, 60),  # within the rounding of the same decisions
                "still 2": (0.9600, 0.99, 40),  # tags fewest, but changes 1% of decisions
            }
        )
    )
    assert found["still"]["chosen"] == 1.0
    none_hold = choices(
        rows({"still: every sample tagged": (0.96, 1.0, 100), "still 0.5": (0.95, 1.0, 50)})
    )
    assert none_hold["still"]["chosen"] is None


def test_a_decoding_scheme_is_a_default_candidate_only_within_0_005():
    found = choices(
        rows(
            {
                "defaults": (0.960, 1, 100),
                "decode: reference frames only": (0.956, None, 100),
                "decode: keyframes only": (0.954, None, 10),
            }
        )
    )
    assert found["decode: reference frames only"]["holds"]
    assert not found["decode: keyframes only"]["holds"]
