"""The HTML report and Markdown summary: self-contained, a table per run, best values marked, text escaped."""

from __future__ import annotations

import base64
import re

import pytest

from attnbench import cli
from attnbench.errors import AttnbenchError
from attnbench.report.html import render_html
from attnbench.report.markdown import render_markdown
from attnbench.report.report_data import build, kernel_table, train_tables
from attnbench.report.write import write_report
from tests.report.conftest import (
    GPU_ENV,
    KERNEL_CONFIG,
    N_KERNEL_CHARTS,
    N_TRAIN_CHARTS,
    kernel_rows,
    train_rows,
)

ATTR = re.compile(r"""\b(src|href)\s*=\s*["']([^"']*)["']""", re.I)


def _section(html: str, run_id: int) -> str:
    start = html.index(f'<section id="run-{run_id}">')
    return html[start:html.index("</section>", start)]


def _cell(table, match: dict, column: str):
    """The cell of `column` in the row whose text cells equal `match` (by column title)."""
    titles = [c.title for c in table.columns]
    for row in table.rows:
        if all(row[titles.index(k)].text == v for k, v in match.items()):
            return row[titles.index(column)]
    raise AssertionError(f"no row {match}")


def test_writes_html_markdown_and_charts_beside_them(written):
    html_path, md_path, kernel_id, train_id = written
    assert html_path.suffix == ".html" and md_path.suffix == ".md" and html_path.parent == md_path.parent
    assert html_path.name == f"report_runs_{kernel_id}_{train_id}.html"
    pngs = sorted(html_path.parent.glob("*.png"))
    assert len(pngs) == N_KERNEL_CHARTS + N_TRAIN_CHARTS
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in pngs)


def test_html_is_self_contained(written):
    html = written[0].read_text(encoding="utf-8")
    assert "<script" not in html.lower() and "<link" not in html.lower() and "@import" not in html
    assert "url(" not in html  # no CSS fetches (fonts, backgrounds)
    attrs = ATTR.findall(html)
    imgs = re.findall(r"<img\b[^>]*>", html)
    assert len(imgs) == N_KERNEL_CHARTS + N_TRAIN_CHARTS
    for name, value in attrs:
        assert not value.lower().startswith(("http:", "https:", "//", "file:")), (name, value[:80])
        if name.lower() == "src":
            assert value.startswith("data:image/png;base64,")
            assert base64.b64decode(value.split(",", 1)[1]).startswith(b"\x89PNG")
        else:
            assert value.startswith("#")  # in-page links only
    for img in imgs:
        assert 'src="data:image/png;base64,' in img and 'alt="' in img


def test_html_has_header_environment_and_a_table_per_run(written):
    html, _, kernel_id, train_id = written[0].read_text(encoding="utf-8"), *written[1:]
    assert "Which attention implementation should this model use on this GPU (NVIDIA H100 80GB HBM3)?" in html
    assert '<meta charset="utf-8">' in html and "<style>" in html
    for text in ("GPU: NVIDIA H100 80GB HBM3", "2.7.0", "12.8", "90800", "3.3.0", "5.0.0",
                 "0123456789abcdef0123456789abcdef01234567", "matmul ceiling", "700 TFLOP/s"):
        assert text in html, text
    ran = html[html.index("<h2>What ran</h2>"):html.index("<h2>Environment</h2>")]
    assert f"kernel run {kernel_id}" in ran and f"train run {train_id}" in ran
    assert "4 variants (eager, sdpa, flex, linear)" in ran and "in gpt2" in ran
    kernel, train = _section(html, kernel_id), _section(html, train_id)
    assert kernel.count('<table class="results">') == 1
    assert train.count('<table class="results">') == 2  # per variant, per-step means
    for section in (kernel, train):
        assert 'best"' in section and "<h3>" in section
    for status in ("invalid", "oom", "unsupported"):
        assert f'<tr class="st-{status}' in kernel
    assert '<tr class="st-oom' in train  # the mla variant
    assert "CUDA out of memory. Tried to allocate 2.00 GiB" in kernel  # a reason
    assert "linear kernel" in kernel  # a backend
    assert kernel.count("<img") == N_KERNEL_CHARTS and train.count("<img") == N_TRAIN_CHARTS
    assert "energy per training token" in train


def test_kernel_best_marks_per_shape_causal_and_mode():
    table = kernel_table(kernel_rows())
    group = {"S": "64", "causal": "no", "mode": "forward"}
    assert _cell(table, {**group, "variant": "sdpa"}, "median ms").best
    assert not _cell(table, {**group, "variant": "eager"}, "median ms").best
    assert _cell(table, {**group, "variant": "linear"}, "peak MB").best  # lowest memory
    assert _cell(table, {**group, "variant": "sdpa"}, "TFLOP/s").best  # linear counts fewer FLOPs
    # the invalid row is the fastest of its group, but only ok rows compete
    causal = {"S": "64", "causal": "yes", "mode": "forward"}
    assert not _cell(table, {**causal, "variant": "linear"}, "median ms").best
    assert _cell(table, {**causal, "variant": "sdpa"}, "median ms").best
    assert _cell(table, {**causal, "variant": "linear"}, "status").text == "invalid"
    # out of memory and unsupported rows keep their reason, show no numbers
    oom = {"S": "128", "causal": "yes", "mode": "forward + backward", "variant": "flex"}
    assert _cell(table, oom, "median ms").text == "-"
    assert "out of memory" in _cell(table, oom, "backend / reason").text
    marked = sum(c.best for row in table.rows for c in row)
    assert marked == 8 * 3  # 8 groups x (time, TFLOP/s, memory), no ties in these numbers
    assert "median ms" in [c.title for c in table.columns if c.better == "lower"]


def test_train_best_marks_lower_loss_higher_throughput():
    rows = [dict(r, kind=k) for k, r in train_rows()]
    per_variant, per_step = train_tables(rows)
    assert _cell(per_variant, {"variant": "sdpa"}, "tokens/s").best
    assert _cell(per_variant, {"variant": "sdpa"}, "energy/token J").best
    assert _cell(per_variant, {"variant": "eager"}, "val loss").best  # eager and sdpa tie
    assert _cell(per_variant, {"variant": "sdpa"}, "val loss").best
    assert not _cell(per_variant, {"variant": "gqa"}, "val loss").best
    assert _cell(per_variant, {"variant": "mla"}, "status").text == "oom"
    assert not any(c.best for c in per_variant.rows[-1])
    assert _cell(per_step, {"variant": "sdpa"}, "MFU").best
    assert _cell(per_step, {"variant": "sdpa"}, "train s").best
    assert _cell(per_step, {"variant": "gqa"}, "GPU mem MB").best  # the least memory in these rows
    assert not any(_cell(per_step, {"variant": v}, "GPU W").best for v in ("eager", "sdpa", "gqa"))  # all tie
    assert not _cell(per_step, {"variant": "gqa"}, "FLOPs/step").best  # the fewest, but not a contest


def test_text_from_rows_is_escaped():
    """Variant names come from plugins and reasons from exceptions: they must stay text in both formats."""
    rows = [dict(r, kind="kernel") for r in kernel_rows()]
    for r in rows:
        if r["impl"] == "eager":
            r["impl"] = "<b>evil</b>"
            r["backend"] = "<script>alert('x')</script> & more"
    info = {"id": 7, "kind": "kernel", "status": "failed", "config": KERNEL_CONFIG, "environment": GPU_ENV,
            "summary": {"error": "RuntimeError: <img src=x onerror=alert(1)>"},
            "command": "attnbench kernel --impl '<b>evil</b>'", "started_at": "2026-01-01T00:00:00"}
    report = build([(info, rows, [])])
    html = render_html(report)
    assert "<b>" not in html and "<script" not in html and "<img" not in html
    assert "&lt;b&gt;evil&lt;/b&gt;" in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; more" in html
    assert "onerror=alert(1)&gt;" in html
    md = render_markdown(report)
    assert "`attnbench kernel --impl '<b>evil</b>'`" in md  # a code span shows its text as it is
    prose = re.sub(r"`[^`]*`", "", md)
    assert re.search(r"(?<!\\)[<>]", prose) is None  # every < and > outside code is backslash-escaped
    assert r"\<b\>evil\</b\>" in md


def test_markdown_has_the_tables_and_links_the_charts(written):
    md_path = written[1]
    md = md_path.read_text(encoding="utf-8")
    assert md.startswith("# attnbench report")
    headers = [line for line in md.splitlines() if line.startswith("| variant |")]
    assert len(headers) == 3  # kernel table, train per-variant, train per-step
    assert "| field | value |" in md and "NVIDIA H100 80GB HBM3" in md
    assert "★" in md and "| invalid |" in md and "| oom |" in md
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert len(links) == N_KERNEL_CHARTS + N_TRAIN_CHARTS
    assert all((md_path.parent / link).is_file() for link in links)
    # every table row has as many cells as its header
    for block in re.findall(r"(\| variant \|.*?)(?:\n\n|\Z)", md, re.S):
        lines = block.splitlines()
        widths = {len(re.findall(r"(?<!\\)\|", line)) for line in lines}
        assert len(widths) == 1, lines[:3]


def test_last_is_the_newest_run_and_unknown_ids_are_clear_errors(suite, tmp_path):
    store, kernel_id, train_id = suite
    html_path, _ = write_report(store, ["last"], tmp_path / "last")
    assert html_path.name == f"report_run{train_id}.html"
    assert f'<section id="run-{kernel_id}">' not in html_path.read_text(encoding="utf-8")
    with pytest.raises(AttnbenchError, match="no run with id 999"):
        write_report(store, [999], tmp_path / "x")
    with pytest.raises(AttnbenchError, match="not valid"):
        write_report(store, ["latest"], tmp_path / "x")
    with pytest.raises(AttnbenchError, match="no runs to report"):
        write_report(store, [], tmp_path / "x")
    html_path, _ = write_report(store, [str(kernel_id), kernel_id], tmp_path / "dup")  # the same run once
    assert html_path.name == f"report_run{kernel_id}.html"


def test_runs_without_rows_and_unknown_kinds(tmp_path):
    from attnbench.results.store import ResultsStore

    with ResultsStore(tmp_path / "r.db") as store:
        empty = store.start_run("kernel", "attnbench kernel", {}, {})
        store.finish_run(empty, "failed", {"error": "ValueError: boom"})
        with store.run("toy", "attnbench toy", {}, {"device": "cpu"}) as other:  # a kind nothing declares
            store.add_measurement(other, {"impl": "sdpa", "latency_ms": 1.5, "note": "x"}, kind="toy")
        html_path, _ = write_report(store, [empty, other], tmp_path / "out")
    html = html_path.read_text(encoding="utf-8")
    assert "This run has no measurements." in _section(html, empty)
    assert "ValueError: boom" in html and "<img" not in html
    assert "latency_ms" in _section(html, other) and "1.5" in _section(html, other)
    assert "CPU: " in html


def test_report_command(suite, tmp_path, capsys):
    store, kernel_id, train_id = suite
    out = tmp_path / "cmd"
    # default: last, the train run of a suite, which brings its kernel run along
    assert cli.main(["report", "--db", str(store.path), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    name = f"report_runs_{kernel_id}_{train_id}"
    assert f"report: {out / f'{name}.html'}" in printed
    assert f"summary: {out / f'{name}.md'}" in printed
    assert (out / f"{name}.md").is_file()
    assert cli.main(["report", str(kernel_id), "--db", str(store.path), "--out", str(out)]) == 0
    assert (out / f"report_run{kernel_id}.html").is_file()
    assert cli.main(["report", "42", "--db", str(store.path), "--out", str(out)]) == 2
    assert "no run with id 42" in capsys.readouterr().err
