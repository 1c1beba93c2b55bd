"""Label efficiency's table: a cell holds the runs of one device at one commit, and the
choice at a budget reads validation figures of the common sample only."""

from __future__ import annotations

from toontag.benchmark.efficiency import COMMON, choose, summarise, unchosen


def run(variant, policy, seed, val, test, *, device="CPU x86_64, 2 cores", commit="aaa", **more):
    return {
        "variant": variant,
        "policy": policy,
        "budget": 400,
        "seed": seed,
        "val_f1": val,
        "test_f1": test,
        "test_ci95": [test - 0.01, test + 0.01],
        "device": device,
        "commit": commit,
        **more,
    }


def test_a_cell_of_two_devices_or_commits_is_split():
    where = [("CPU x86_64, 2 cores", "aaa"), ("NVIDIA H200", "bbb"), ("NVIDIA H200", "bbb")]
    where += [("NVIDIA H200", "ccc")]
    records = [
        run(
            "finetune",
            "random",
            seed,
            0.9,
            0.90 + 0.02 * seed,
            device=d,
            commit=c,
            validation=COMMON,
        )
        for seed, (d, c) in enumerate(where)
    ]
    rows = summarise(records)
    assert [(r["ran_on"], r["commit"], r["seeds"], r["test_f1"]) for r in rows] == [
        ("CPU", "aaa", 1, 0.90),
        ("H200", "bbb", 2, 0.93),
        ("H200", "ccc", 1, 0.96),
    ]
    assert choose(rows, seeds=2) == {400: rows[1]}  # the one cell with every seed
    assert unchosen(rows[0], 2) == "incomplete (1 of 2 seeds), not used for choice"


def test_the_choice_reads_the_common_validation_sample_only():
    own = [run("finetune", "random", s, 0.99, 0.90) for s in (0, 1)]  # own frames: higher
    common = [run("finetune", "active", s, 0.91, 0.93, validation=COMMON) for s in (0, 1)]
    head = [run("head", "active", s, 0.92, 0.85, validation=COMMON) for s in (0, 1)]
    rows = summarise(own + common + head)
    by = {(r["variant"], r["policy"]): r for r in rows}
    assert by["finetune", "random"]["val_f1"] is None
    assert by["finetune", "random"]["own_val_f1"] == 0.99
    chosen = choose(rows, seeds=2)
    assert chosen[400] is by["head", "active"] and by["head", "active"]["chosen"]
    assert not by["finetune", "random"]["chosen"]
    assert unchosen(by["finetune", "random"], 2).startswith("validated on its own frames")
    assert choose(summarise(own), seeds=2) == {}  # runs of before: nothing chosen


def test_a_cell_says_how_long_its_runs_took_and_the_load_beside_them():
    times = [(300.0, 1.2), (420.5, 3.4), (351.0, None)]
    records = [
        run("finetune", "random", seed, 0.9, 0.9, validation=COMMON, seconds=s, load=load)
        for seed, (s, load) in enumerate(times)
    ]
    [row] = summarise(records)
    assert row["seconds"] == [300.0, 420.5] and row["load_max"] == 3.4
    [untimed] = summarise([run("head", "random", 0, 0.8, 0.8, validation=COMMON)])
    assert "seconds" not in untimed
