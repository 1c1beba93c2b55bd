"""Result files say which code computed them: the commit, and whether the tree held more."""

import subprocess

from toontag.benchmark.provenance import git_commit


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
