"""The progress bar of a finished run ends full, at the number of rows really stored."""

from attnbench.commands import recording


def test_bar_ends_full_when_fewer_rows_came_than_planned(tmp_path, capsys):
    def body(on_row, on_progress):  # planned 5 rows; a variant stopped early, so 3 came
        for i in range(3):
            on_row({"impl": "x", "status": "ok", "step": i})

    run_id, rows = recording.record("train", {}, "cpu", str(tmp_path / "r.db"), total=5, body=body)
    err = capsys.readouterr().err
    assert len(rows) == 3
    final = [line for line in err.splitlines() if "done" in line][-1]
    assert "3/3" in final and "3/5" not in final, err
