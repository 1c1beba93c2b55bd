"""A labelling project of real dataset frames, its Lite0 features computed once for the session
and each test given a fresh copy: shared by the session's and the label server's tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from toontag.labelling.pool import add_to_pool
from toontag.labelling.project import Project


def make_project(folder: Path, dataset, frames: int = 60) -> tuple[Path, dict[str, tuple]]:
    """A project of `frames` test-split images (copied beside it) and each frame's true labels,
    keyed by its pool path; the Lite0 features computed into PROJECT/features."""
    from toontag.labelling.features import pool_features

    stills = folder / "stills"
    stills.mkdir(parents=True)
    truth = {}
    for i, sample in enumerate(dataset.subset("test").samples[:: 2400 // frames][:frames]):
        name = f"{i:03d}.jpg"
        shutil.copy(sample.path, stills / name)
        truth[name] = sample.labels
    project = folder / "project"
    add_to_pool(project, [stills], max_distance=0)
    pool = Project.open(project).read_pool()
    pool_features([project / f.path for f in pool], project / "features", root=project)
    return project, {f.path: truth[Path(f.source).name] for f in pool}


@pytest.fixture(scope="session")
def built(dataset, tmp_path_factory):
    return make_project(tmp_path_factory.mktemp("label"), dataset)


@pytest.fixture
def project(built, tmp_path) -> tuple[Path, dict]:
    """A fresh copy of the built project (its features stay valid: mtimes are kept)."""
    root, truth = built
    copy = tmp_path / "project"
    shutil.copytree(root, copy)
    return copy, truth


@pytest.fixture
def fitted_rows(monkeypatch) -> list[set[int]]:
    """The pool rows of every head fit from now on, in order (the learner's `fit_head` spied
    on): to show which answers a fit saw, audit answers above all."""
    from toontag.labelling import learner as learner_module

    seen: list[set[int]] = []
    fit_head = learner_module.fit_head

    def spy(features, rows, *args, **kwargs):
        seen.append({int(r) for r in rows})
        return fit_head(features, rows, *args, **kwargs)

    monkeypatch.setattr(learner_module, "fit_head", spy)
    return seen
