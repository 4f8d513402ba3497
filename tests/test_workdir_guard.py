"""The guard that keeps tests inside their temporary directories can see a write."""

from pathlib import Path

from tests._workdir_guard import changed, snapshot


def test_a_new_or_rewritten_file_is_seen_and_ignored_folders_are_not(tmp_path):
    (tmp_path / "kept.txt").write_text("a")
    (tmp_path / ".git").mkdir()
    before = snapshot(tmp_path)
    (tmp_path / "attnbench-results").mkdir()
    (tmp_path / "attnbench-results" / "report.html").write_text("x")
    (tmp_path / "kept.txt").write_text("bb")
    (tmp_path / ".git" / "index").write_text("ignored")
    assert changed(before, snapshot(tmp_path)) == ["attnbench-results/report.html", "kept.txt"]


def test_tests_run_in_an_empty_directory_of_their_own():
    assert not any(Path.cwd().iterdir())
    assert Path.cwd().resolve() != Path(__file__).resolve().parents[1]
