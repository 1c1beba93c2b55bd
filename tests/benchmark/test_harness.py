"""What the benchmark scripts share: a manifest `train` reads, the groups and the order a
simulated person labels in."""

from __future__ import annotations

import numpy as np

from toontag.benchmark.harness import write_manifest
from toontag.benchmark.simulated import label_in_batches, runs_of_ids
from toontag.data.dataset import load_dataset


def test_a_manifest_is_read_back_with_its_samples_and_split(dataset, tmp_path):
    samples = [dataset.subset("train").samples[0], dataset.subset("test").samples[0]]
    path = write_manifest(tmp_path / "m.csv", samples, split="train")
    back = load_dataset(path)
    assert [s.path for s in back.samples] == [s.path.resolve() for s in samples]
    assert [s.labels for s in back.samples] == [s.labels for s in samples]
    assert {s.split for s in back.samples} == {"train"}
    own = load_dataset(write_manifest(tmp_path / "own.csv", samples))
    assert [s.split for s in own.samples] == ["train", "test"]


def test_runs_of_consecutive_ids_are_groups():
    groups = runs_of_ids(np.array([7, 1, 2, 3, 8, 20]))
    assert groups[1] == groups[2] == groups[3] != groups[0]
    assert groups[0] == groups[4] != groups[5]


def test_the_person_labels_a_batch_at_a_time_up_to_the_budget():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(300, 8)).astype(np.float32)
    targets = (features[:, :2] > 0).astype(np.float32)
    groups = np.arange(300) // 3
    steps = list(
        label_in_batches(features, targets, groups, policy="active", budget=60, batch=20, seed=0)
    )
    assert [len(labelled) for labelled, _ in steps] == [20, 40, 60]
    last, head = steps[-1]
    assert len(set(last.tolist())) == 60 and len(head.thresholds) == 2


def test_a_manifest_keeps_weak_labels_weights(dataset, tmp_path):
    from dataclasses import replace

    samples = dataset.subset("train").samples[:4]
    weak = [*samples[:3], replace(samples[3], weight=0.5)]
    read = load_dataset(write_manifest(tmp_path / "weak.csv", weak, split="train"))
    assert read.weights.tolist() == [1, 1, 1, 0.5]
    plain = (tmp_path / "plain.csv").name
    assert "weight" not in write_manifest(tmp_path / plain, samples).read_text().splitlines()[0]
