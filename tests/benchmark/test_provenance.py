"""Result files say who computed them: the command, the commit and whether the tree held
more, the machine, the libraries, the load before and after, and the wall time."""

import json
import subprocess

from toontag.benchmark.provenance import LIBRARIES, git_commit, provenance
from toontag.benchmark.results import keep_record, read_records, write_result


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


def test_kept_records_carry_their_own_stamp_and_are_read_back_by_key(tmp_path):
    path = tmp_path / "records.jsonl"
    keep_record(path, {"key": "a", "f1": 0.9}, device="CPU")
    keep_record(path, {"key": "b", "f1": 0.8})
    done = read_records(path, "key")
    assert list(done) == ["a", "b"] and done["a"]["device"] == "CPU"
    assert done["a"]["commit"] and done["b"]["finished"]
    assert read_records(tmp_path / "none.jsonl", "key") == {}
