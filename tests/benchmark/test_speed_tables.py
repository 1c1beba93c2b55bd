"""What the indexing benchmark's lever rows decide (`choices`), by its fixed rules."""

from __future__ import annotations

from toontag.benchmark.speed_tables import BUSY, STILL_LEVELS, choices


def rows(levers: dict[str, tuple]) -> list[dict]:
    """Two videos; per lever (time IoU, decisions kept, frames tagged[, frames decoded, wall
    seconds]), the same on both except the second video's time IoU, 0.01 higher for every
    lever."""
    return [
        {
            "video": video,
            "lever": lever,
            "time_iou": values[0] + shift,
            "agreement": values[1],
            "frames_tagged": values[2],
            "frames_sampled": 100,
            "frames_decoded": (values + (1000, 10.0))[3],
            "wall_seconds": (values + (1000, 10.0))[4],
        }
        for video, shift in (("a", 0.0), ("b", 0.01))
        for lever, values in levers.items()
    ]


def test_the_planes_could_be_the_default_only_where_they_lose_no_time_iou():
    planes = "shot input: decoder planes"
    kept = choices(rows({"every frame": (0.9604, 1, 100), planes: (0.9600, 1, 100)}))
    lost = choices(rows({"every frame": (0.9610, 1, 100), planes: (0.9600, 1, 100)}))
    assert kept["shot_input_planes"]["holds"] and not lost["shot_input_planes"]["holds"]


def test_still_takes_the_level_tagging_fewest_among_those_that_hold():
    low, mid, high = (f"still {level:g}" for level in STILL_LEVELS)
    off = "still: every sample tagged"
    found = choices(
        rows(
            {
                "every frame": (0.9500, 1.0, 40),  # a level of its own: not the reference
                off: (0.9600, 1.0, 100),
                low: (0.9598, 1.0, 80),  # within the rounding of the same decisions
                mid: (0.9600, 1.0, 60),  # fewest of those that hold
                high: (0.9600, 0.99, 40),  # fewest of all, but 1% of decisions changed
            }
        )
    )
    assert found["still"]["chosen"] == STILL_LEVELS[1]
    assert found["still"]["levels"][f"{STILL_LEVELS[2]:g}"]["agreement"] == 0.99
    lost = choices(rows({off: (0.96, 1.0, 100), low: (0.9590, 1.0, 50), mid: (0.96, 1.0, 70)}))
    assert lost["still"]["chosen"] == STILL_LEVELS[1]  # the lower level lost 0.001
    none_hold = choices(rows({off: (0.96, 1.0, 100), low: (0.95, 1.0, 50)}))
    assert none_hold["still"]["chosen"] is None


def test_a_decoding_scheme_is_a_default_candidate_only_within_0_005():
    found = choices(
        rows(
            {
                "every frame": (0.960, 1, 100),
                "decode: reference frames only": (0.956, None, 100),
                "decode: keyframes only": (0.954, None, 10),
            }
        )
    )
    assert found["decode: reference frames only"]["holds"]
    assert not found["decode: keyframes only"]["holds"]


def test_a_decoding_scheme_is_the_default_only_if_it_holds_and_is_faster_in_all():
    found = choices(
        rows(
            {
                "every frame": (0.960, 1, 100, 1000, 10.0),
                "skim: changes": (0.950, None, 60, 400, 5.0),  # fastest, lost 0.01
                "skim: cuts": (0.958, None, 80, 800, 8.0),  # holds, faster: chosen
                "decode: reference frames only": (0.959, None, 100, 500, 10.5),  # slower
            }
        )
    )
    assert not found["skim: changes"]["holds"] and found["skim: cuts"]["holds"]
    assert found["skim: cuts"]["frames_decoded"] == 1600
    assert found["decode_chosen"] == "skim: cuts"
    slower = choices(
        rows({"every frame": (0.96, 1, 100, 1000, 10.0), "skim: cuts": (0.96, None, 80, 990, 11.0)})
    )
    assert slower["decode_chosen"] is None


def test_busy_samples_are_the_default_only_for_a_gain_at_a_small_cost():
    def busy(iou, tagged, seconds):
        found = choices(
            rows(
                {"every frame": (0.960, 1, 100, 1000, 10.0), BUSY: (iou, 1, tagged, 1000, seconds)}
            )
        )
        return found["busy"]

    assert busy(0.962, 110, 10.5)["chosen"]  # +0.002 for 5% more time
    assert busy(0.962, 110, 10.5)["extra_tagged"] == 20
    assert not busy(0.9605, 110, 10.5)["chosen"]  # a gain within rounding
    assert not busy(0.962, 150, 12.0)["chosen"]  # 20% more time
