"""The report of a real (tiny) run, checked as a person sees it: in headless Chromium."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from toontag.data.dataset import load_dataset
from toontag.evaluation.evaluate import evaluate_run
from toontag.explain.browser import check_page, chromium
from toontag.explain.gradcam import Explainer
from toontag.explain.report import build_report
from toontag.models.trained import load_trained

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="module")
def page(tiny_run, small_manifest, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("report")
    run = shutil.copytree(tiny_run, folder / "run")  # the shared run is never looked at
    trained = load_trained(run)
    explainer = Explainer(trained.model, trained.classes, trained.image_size)
    metrics = evaluate_run(run, data=small_manifest, split="test", resamples=50)
    return build_report(run, metrics, explainer, folder / "out")


def test_the_page_holds_every_section(page):
    text = page.read_text()
    for heading in (
        "Training",
        "Per character on test",
        "Which character is taken for which",
        "Most confident errors",
        "Grad-CAM per character",
    ):
        assert f"<h2>{heading}" in text
    assert text.count("<img") >= 4 and "data:image/png;base64," in text
    assert all(f"{c}</td>" in text for c in ("kral_sakir", "remzi", "fil_necati", "canan"))
    assert ", by sequence [" in text and " sequences)" in text  # the honest interval too


@pytest.mark.skipif(chromium() is None, reason="Debian's chromium is not installed")
def test_the_page_renders_in_headless_chromium(page):
    seen = check_page(page, screenshot=ARTIFACTS / "report.png")
    assert seen["images"] and all(ok for _, ok in seen["images"]), seen["images"]
    assert seen["errors"] == []
    assert (ARTIFACTS / "report.png").stat().st_size > 0


def test_the_report_builds_for_a_subset_without_one_character(tiny_run, small_manifest, tmp_path):
    """canan known to the model, absent from the images: its AUC is "n/a", no curve."""
    from tests.conftest import write_manifest

    run = shutil.copytree(tiny_run, tmp_path / "run")  # the shared run stays as it is
    test = load_dataset(small_manifest).subset("test").samples
    subset = write_manifest(tmp_path / "no_canan.csv", [s for s in test if "canan" not in s.labels])
    trained = load_trained(run)
    explainer = Explainer(trained.model, trained.classes, trained.image_size)
    metrics = evaluate_run(run, data=subset, split="test", resamples=20)
    text = build_report(run, metrics, explainer, tmp_path / "out").read_text()
    row = text[text.index("canan</td>") :].split("</tr>")[0]
    assert "<td>0</td>" in row and row.endswith("<td>n/a</td>")
    assert "<h2>Grad-CAM per character" in text


def test_the_error_gallery_shows_one_frame_per_scene_but_both_sides_of_a_cut(dataset):
    import numpy as np

    from toontag.data.images import load_resized
    from toontag.data.split import CUT_THRESHOLD, SOURCE_SIZE, frame_jumps, thumbnails
    from toontag.explain.report import distinct_scenes

    test = sorted(dataset.subset("test").samples, key=lambda s: s.frame_id)[:400]
    ids = np.array([s.frame_id for s in test])
    thumbs = thumbnails(np.stack([load_resized(s.path, SOURCE_SIZE)[0] for s in test]))
    jumps = frame_jumps(ids, thumbs)
    scene = next(i for i in range(len(test) - 6) if (jumps[i : i + 5] < 5).all())  # one shot
    cut = next(i for i in range(len(test) - 1) if CUT_THRESHOLD * 1.5 < jumps[i] < np.inf)
    far = next(i for i in range(len(test)) if abs(ids[i] - ids[scene]) > 100)
    paths = [s.path for s in test]
    # the five most confident errors are frames of one shot, then one elsewhere
    cases = np.array([[scene + j, 0] for j in range(5)] + [[far, 1]])
    assert distinct_scenes(cases, paths, 6) == [(scene, 0), (far, 1)]
    assert distinct_scenes(cases, paths, 1) == [(scene, 0)]
    # two frames a cut apart, consecutive ids: two scenes, both shown
    pair = np.array([[cut, 0], [cut + 1, 0]])
    assert distinct_scenes(pair, paths, 6) == [(cut, 0), (cut + 1, 0)]


def test_the_report_refuses_unknown_entries_it_would_count_as_absent(
    tiny_run, small_manifest, tmp_path
):
    """`evaluate` scores a split with unknown entries without them (issue 28); the report's
    curves read the predictions file, which lists labels only, so it refuses them as before,
    naming the metrics file that has the figures."""
    from tests.conftest import write_manifest
    from toontag.errors import DataError

    def unknown(i, sample):  # every 3rd frame: one class it does not show
        absent = [c for c in ("canan", "remzi", "kral_sakir") if c not in sample.labels]
        return absent[:1] if i % 3 == 0 else []

    run = shutil.copytree(tiny_run, tmp_path / "run")
    test = load_dataset(small_manifest).subset("test").samples
    manifest = write_manifest(tmp_path / "unsure.csv", test, unknown=unknown)
    trained = load_trained(run)
    explainer = Explainer(trained.model, trained.classes, trained.image_size)
    metrics = evaluate_run(run, data=manifest, split="test", resamples=20)
    assert metrics["unknown_entries"] > 0
    with pytest.raises(DataError, match="marked unknown; the report's curves") as refused:
        build_report(run, metrics, explainer, tmp_path / "out")
    assert str(run / "metrics-test-unsure.json") in str(refused.value)
