import json
import shutil

import numpy as np
import pytest

from toontag.errors import DataError
from toontag.evaluation.compare import compare_runs


@pytest.fixture
def two_runs(tiny_run, small_manifest, tmp_path):
    """The tiny run, and a copy of it deciding every class at 0.6 instead of its tuned
    thresholds: the same probabilities, other decisions."""
    a = shutil.copytree(tiny_run, tmp_path / "a")
    b = shutil.copytree(tiny_run, tmp_path / "b")
    info = json.loads((b / "model.json").read_text())
    info["thresholds"] = [0.6] * len(info["classes"])
    (b / "model.json").write_text(json.dumps(info))
    for run in (a, b):
        (run / "predictions-test.csv").unlink(missing_ok=True)
    return a, b


def test_a_run_against_itself_differs_by_exactly_nothing(two_runs, small_manifest):
    a, _ = two_runs
    c = compare_runs(a, a, data=small_manifest, resamples=50)
    assert (a / "predictions-test.csv").is_file()  # evaluated once, then read back
    assert c["difference"] == 0.0
    assert c["difference_ci95"] == [0.0, 0.0] and c["difference_ci95_by_sequence"] == [0.0, 0.0]
    assert c["runs"][0] == c["runs"][1] | {"run": str(a)}
    assert c["images"] == 84 and 0 < c["sequences"] <= 84


def test_the_difference_is_paired_and_resampled_by_sequence(two_runs, small_manifest):
    from toontag.data.dataset import load_dataset
    from toontag.data.groups import frame_groups
    from toontag.data.predictions import predictions_for
    from toontag.evaluation.bootstrap import bootstrap
    from toontag.evaluation.metrics import micro_scores

    a, b = two_runs
    c = compare_runs(a, b, data=small_manifest, resamples=200, seed=3)
    info = json.loads((a / "model.json").read_text())  # thresholds tuned on validation
    data = load_dataset(small_manifest, classes=info["classes"])
    rows, probs = predictions_for(data, a / "predictions-test.csv")
    y, tuned = data.targets[rows], np.array(info["thresholds"])

    def difference(y, p):
        return micro_scores(y, p >= tuned)[2] - micro_scores(y, p >= 0.6)[2]

    assert c["difference"] == pytest.approx(difference(y, probs))
    assert c["difference"] != 0.0
    groups = frame_groups(data, rows)
    for by, key in ((None, "difference_ci95"), (groups, "difference_ci95_by_sequence")):
        low, high = bootstrap(difference, y, probs, resamples=200, seed=3, groups=by)
        assert c[key] == pytest.approx([low, high])
    assert c["sequences"] == len(np.unique(groups))


def test_runs_that_predicted_other_frames_are_refused(two_runs, small_manifest, tmp_path):
    a, b = two_runs
    compare_runs(a, a, data=small_manifest, resamples=10)
    text = (a / "predictions-test.csv").read_text().splitlines()
    (b / "predictions-test.csv").write_text("\n".join(text[:-1]) + "\n")
    with pytest.raises(DataError, match="predicted different frames of test"):
        compare_runs(a, b, data=small_manifest, resamples=10)
    with pytest.raises(DataError, match="no split named 'dev'"):
        compare_runs(a, b, data=small_manifest, split="dev")
