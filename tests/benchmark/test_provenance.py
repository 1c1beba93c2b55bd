"""Result files say who computed them: the command, the commit and whether the tree held
more, the machine, the libraries, the load before and after, and the wall time."""

import json
import os
import subprocess

from toontag.benchmark.provenance import LIBRARIES, git_commit, provenance
from toontag.benchmark.results import keep_record, read_records, rerender_markdown, write_result


def git(repo, *args):
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def test_the_commit_is_dirty_with_untracked_code_but_not_with_new_results(tmp_path):
    git(tmp_path, "init", "-q")
    (tmp_path / "a.py").write_text("x = 1\n")
    git(tmp_path, "add", "a.py")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    clean = git_commit(tmp_path)
    assert len(clean) == 40 and not clean.endswith("+dirty")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "new.json").write_text("{}")
    assert git_commit(tmp_path) == clean  # result files being written are not code
    (tmp_path / "new_benchmark.py").write_text("print(1)\n")  # untracked code
    assert git_commit(tmp_path) == clean + "+dirty"


def test_provenance_records_command_commit_machine_libraries_load_and_wall_time():
    p = provenance(wall_seconds=12.34, load_before=[1.0, 2.0, 3.0])
    assert {
        "command",
        "git_commit",
        "clean",
        "machine",
        "versions",
        "load_average_before",
        "load_average_after",
        "wall_seconds",
        "finished",
    } <= set(p)
    assert p["clean"] == (not p["git_commit"].endswith("+dirty"))
    assert {"cpu", "cpu_cores", "platform", "python", "torch"} <= set(p["machine"])
    assert set(p["versions"]) == {"python", *LIBRARIES}
    assert set(LIBRARIES) >= {"torch", "timm", "lightning", "onnxruntime", "scikit-learn", "av"}
    assert p["versions"]["numpy"] and p["versions"]["scikit-learn"]
    assert p["load_average_before"] == [1.0, 2.0, 3.0] and p["wall_seconds"] == 12.3
    after = p["load_average_after"]
    assert len(after) == 3 and all(v >= 0 for v in after)


def test_a_figure_computed_on_a_busy_machine_says_so(monkeypatch, tmp_path):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(os, "getloadavg", lambda: (3.1, 2.0, 1.0))  # above half of 2 cores
    busy = provenance(wall_seconds=1.0, load_before=[0.5, 0.5, 0.5])
    assert busy["busy"] is True
    assert busy["load_note"] == (
        "Computed on a busy machine: 1-minute load 0.50 before / 3.10 after on 2 cores; "
        "timings are upper bounds"
    )
    write_result(tmp_path / "r", {"seconds": 9.0}, "# R", wall_seconds=1.0, load_before=[0.5] * 3)
    assert f"**{busy['load_note']}.**" in (tmp_path / "r.md").read_text()
    assert json.loads((tmp_path / "r.json").read_text())["busy"] is True
    # A re-rendering's load is not the figures' load: no warning under it.
    write_result(tmp_path / "r", {"seconds": 9.0}, "# R", wall_seconds=0.1, rendered=True)
    assert json.loads((tmp_path / "r.json").read_text())["busy"] is True
    assert "busy machine" not in (tmp_path / "r.md").read_text()
    # Busy before the run counts as much as after it.
    monkeypatch.setattr(os, "getloadavg", lambda: (0.4, 2.0, 2.0))
    assert provenance(wall_seconds=1.0, load_before=[1.2, 1.0, 1.0])["busy"] is True


def test_a_figure_computed_on_a_quiet_machine_carries_no_note(monkeypatch, tmp_path):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(os, "getloadavg", lambda: (1.0, 3.0, 3.0))  # exactly half: not above
    quiet = provenance(wall_seconds=1.0, load_before=[0.2, 0.2, 0.2])
    assert quiet["busy"] is False and quiet["load_note"] is None
    write_result(tmp_path / "r", {"seconds": 9.0}, "# R", wall_seconds=1.0, load_before=[0.2] * 3)
    assert "busy machine" not in (tmp_path / "r.md").read_text()


def test_provenance_defaults_to_the_process_start():
    p = provenance()
    assert len(p["load_average_before"]) == 3 and p["wall_seconds"] >= 0


def test_a_result_is_stamped_and_a_re_rendering_says_so(tmp_path):
    write_result(tmp_path / "r", {"figure": 0.5}, "# R", wall_seconds=3.0)
    stamped = json.loads((tmp_path / "r.json").read_text())
    assert stamped["figure"] == 0.5 and stamped["wall_seconds"] == 3.0
    assert "rendered_only" not in stamped and stamped["load_average_after"]
    footer = (tmp_path / "r.md").read_text()
    assert footer.startswith("# R\n\n---\nComputed by: `") and "Load average (1 min): " in footer
    write_result(tmp_path / "r", {"figure": 0.5}, "# R", wall_seconds=0.1, rendered=True)
    assert json.loads((tmp_path / "r.json").read_text())["rendered_only"] is True
    assert "Re-rendered (figures computed by the runs named" in (tmp_path / "r.md").read_text()


def test_markdown_rendered_anew_keeps_the_runs_json_and_footer_and_says_who_rendered(tmp_path):
    write_result(tmp_path / "run", {"figure": 0.5}, "# Old", wall_seconds=600.0)
    computed = json.loads((tmp_path / "run.json").read_text())
    rerender_markdown(tmp_path / "again", computed, "# New table")
    assert json.loads((tmp_path / "again.json").read_text()) == computed
    text = (tmp_path / "again.md").read_text()
    assert text.startswith("# New table\n") and f"Commit: `{computed['git_commit']}`" in text
    assert f"Finished: {computed['finished']}, wall time 600.0 s" in text
    assert text.rstrip().splitlines()[-1].startswith("Markdown re-rendered from the run's JSON")


def test_kept_records_carry_their_own_stamp_and_are_read_back_by_key(tmp_path):
    path = tmp_path / "records.jsonl"
    keep_record(path, {"key": "a", "f1": 0.9}, device="CPU")
    keep_record(path, {"key": "b", "f1": 0.8})
    done = read_records(path, "key")
    assert list(done) == ["a", "b"] and done["a"]["device"] == "CPU"
    assert done["a"]["commit"] and done["b"]["finished"]
    assert read_records(tmp_path / "none.jsonl", "key") == {}


def test_records_carry_the_commit_their_process_started_at(tmp_path, monkeypatch):
    from toontag.benchmark import results

    results.started_commit.cache_clear()
    commits = iter(["a" * 40, "b" * 40])
    monkeypatch.setattr(results, "git_commit", lambda: next(commits))
    results.read_records(tmp_path / "records.jsonl", "key")  # as a benchmark starts
    kept = results.keep_record(tmp_path / "records.jsonl", {"key": "x"})  # after a commit
    assert kept["commit"] == "a" * 40
    results.started_commit.cache_clear()
