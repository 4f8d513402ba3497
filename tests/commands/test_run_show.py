"""What `attnbench run` shows at the end: charts drawn once, a kernel table that is never empty."""

import json

from attnbench.cli import main
from attnbench.report import kernel_plots, train_plots


def test_charts_are_drawn_once_and_the_report_keeps_its_copies(tiny_suite, tmp_path, monkeypatch, capsys):
    calls = []
    for module, name in ((kernel_plots, "plot_kernel_rows"), (train_plots, "plot_train_rows")):
        draw = getattr(module, name)
        monkeypatch.setattr(module, name,
                            lambda *a, _draw=draw, _name=name, **k: calls.append(_name) or _draw(*a, **k))
    plots, report = tmp_path / "plots", tmp_path / "report"
    assert main(["run", "--device", "cpu", "--db", str(tmp_path / "r.db"), "--plots", str(plots),
                 "--report", str(report)]) == 0
    assert sorted(calls) == ["plot_kernel_rows", "plot_train_rows"]
    drawn = sorted(p.name for p in plots.glob("*.png"))
    assert drawn and drawn == sorted(p.name for p in report.glob("*.png"))  # the report folder moves whole
    out = capsys.readouterr().out
    assert all(f"plot: {plots / name}" in out for name in drawn)
    markdown = next(report.glob("*.md")).read_text()
    assert all(f"]({name})" in markdown for name in drawn)


def test_kernel_table_shows_a_measured_mode_without_fwd_bwd(tiny_suite, tmp_path, capsys):
    preset = tmp_path / "fwd.json"
    preset.write_text(json.dumps({"kernel": {"modes": ["fwd"]}}))
    assert main(["run", "--preset", str(preset), "--device", "cpu", "--db", str(tmp_path / "r.db"),
                 "--plots", str(tmp_path / "p"), "--report", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    table = out[out.index("kernel run 1"):out.index("train run")]
    assert "forward+backward" not in table and "sdpa" in table and " fwd " in table, table
