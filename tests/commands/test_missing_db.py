"""Read-only commands given a mistyped --db: one error line naming the path, exit 2, nothing created."""

import pytest

from attnbench.cli import main
from attnbench.errors import AttnbenchError
from attnbench.results.store import ResultsStore


@pytest.mark.parametrize("argv", [
    ["results", "list"], ["results", "show"], ["results", "compare", "1", "2"], ["results", "export", "last"],
    ["report"], ["plots"], ["run", "--resume", "1"],
])
def test_a_reader_never_creates_the_database(argv, tmp_path, capsys):
    db = tmp_path / "typo" / "results.db"
    assert main([*argv, "--db", str(db)]) == 2
    err = capsys.readouterr().err.strip()
    assert f"no results database at {str(db)!r}" in err and err.count("\n") == 0, err
    assert not db.parent.exists()


def test_store_create_false_refuses_an_empty_file_untouched(tmp_path):
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    with pytest.raises(AttnbenchError, match="no results database"):
        ResultsStore(empty, create=False)
    assert empty.read_bytes() == b""
    with ResultsStore(tmp_path / "new.db") as store:  # writers still create it
        store.start_run("kernel", None, {}, {})
    with ResultsStore(tmp_path / "new.db", create=False) as store:
        assert [r["id"] for r in store.list_runs()] == [1]
