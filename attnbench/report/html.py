"""The report as one self-contained HTML file: inline CSS, charts as base64 PNG data URIs, no scripts.

Why self-contained: a report is mailed, attached to an issue or opened on a cluster's login node with
no network, and must look the same there. Every piece of text comes from run records (variant names
from plugins, error messages, commands) and goes through html.escape.
"""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path

from attnbench.report.report_data import Report, RunReport
from attnbench.report.tables import Table

BEST_MARK = "★"

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d232b;
       margin: 0; background: #fff; }
main { max-width: 1440px; margin: 0 auto; padding: 1.5rem 2rem 3rem; }
header { border-bottom: 2px solid #2b4c7e; margin-bottom: 1rem; }
h1 { font-size: 1.6rem; margin: 0 0 .2rem; }
h2 { font-size: 1.3rem; margin: 2.2rem 0 .4rem; border-bottom: 1px solid #d0d7de; }
h3 { font-size: 1.05rem; margin: 1.4rem 0 .4rem; }
.question { font-size: 1.15rem; color: #2b4c7e; margin: .2rem 0 .6rem; }
.meta, .note { color: #57606a; font-size: .85rem; }
code { font: .85rem ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: #f3f4f6;
       padding: 0 .25rem; border-radius: 3px; word-break: break-all; }
ul.ran li { margin: .25rem 0; }
.headline { font-weight: 600; }
.error { color: #b42318; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: .3rem 0 .4rem; font-size: .82rem; }
th, td { padding: .2rem .5rem; border-bottom: 1px solid #e5e7eb; text-align: left; vertical-align: top; }
th { background: #f6f8fa; position: sticky; top: 0; white-space: nowrap; }
td { white-space: nowrap; }
td.wrap { white-space: normal; min-width: 10rem; max-width: 26rem; overflow-wrap: anywhere; }
p.filters label { margin-right: 1.2rem; }
body:has(#show-unsupported:not(:checked)) tr.st-unsupported { display: none; }
body:has(#show-failed:not(:checked)) tr.st-oom, body:has(#show-failed:not(:checked)) tr.st-error,
body:has(#show-failed:not(:checked)) tr.st-invalid { display: none; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.group td { border-top: 2px solid #8c959f; }
td.best { font-weight: 700; background: #dafbe1; }
td.best::after { content: " \\2605"; color: #1a7f37; }
table.env td:first-child { color: #57606a; white-space: nowrap; }
.badge { display: inline-block; padding: 0 .4rem; border-radius: 8px; font-size: .75rem;
         background: #e5e7eb; }
.st-ok .badge { background: #dafbe1; color: #116329; }
tr.st-invalid { background: #ffebe9; }
tr.st-invalid .badge, tr.st-error .badge, tr.st-failed .badge { background: #cf222e; color: #fff; }
tr.st-oom { background: #fff8c5; }
tr.st-oom .badge { background: #d4a72c; color: #fff; }
tr.st-unsupported, tr.st-incomplete, tr.st-running, tr.st-interrupted { color: #8c959f; font-style: italic; }
tr.st-error, tr.st-failed { background: #fff0f0; }
figure { margin: 1rem 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #e5e7eb; }
figcaption { color: #57606a; font-size: .85rem; }
nav a { margin-right: 1rem; }
section.verdict { background: #f6f8fa; border: 1px solid #d0d7de; border-radius: 6px; padding: .6rem 1.2rem 1rem; }
section.verdict h2 { margin-top: .4rem; border: none; }
ul.answers li { margin: .35rem 0; font-size: 1rem; }
ul.caveats li { color: #9a6700; }
details summary { cursor: pointer; color: #2b4c7e; margin: .6rem 0; }
"""


def _e(value) -> str:
    return escape(str(value), quote=True)


def render_table(table: Table, css: str = "results") -> str:
    head = "".join(f'<th title="{_e(c.better)} is better">{_e(c.title)}</th>' if c.better
                   else f"<th>{_e(c.title)}</th>" for c in table.columns)
    body = []
    for i, (cells, status) in enumerate(zip(table.rows, table.row_status)):
        classes = [f"st-{status}"] + (["group"] if i in table.group_starts and i else [])
        tds = []
        for col, cell in zip(table.columns, cells):
            cls = [name for name, on in (("num", col.numeric), ("wrap", col.wrap), ("best", cell.best)) if on]
            text = _e(cell.text)
            if col.title == "status":
                text = f'<span class="badge">{text}</span>'
            attr = f' class="{" ".join(cls)}"' if cls else ""
            title = ' title="best in its group"' if cell.best else ""
            tds.append(f"<td{attr}{title}>{text}</td>")
        body.append(f'<tr class="{" ".join(classes)}">{"".join(tds)}</tr>')
    note = f'<p class="note">{_e(table.note)}</p>' if table.note else ""
    return (f'<h3>{_e(table.title)}</h3>\n<div class="scroll"><table class="{css}">'
            f"<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(body)
            + "\n</tbody></table></div>\n" + note)


def data_uri(png_path: str | Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(png_path).read_bytes()).decode("ascii")


def _run_section(run: RunReport) -> str:
    state = ", ".join(x for x in (run.status, run.when) if x)
    parts = [f'<section id="run-{_e(run.run_id)}">',
             f'<h2>{_e(run.kind)} run {_e(run.run_id)} <span class="meta">({_e(state)})</span></h2>',
             f"<p>{_e(run.what_ran)}</p>"]
    if run.headline:
        parts.append(f'<p class="headline">{_e(run.headline)}</p>')
    if run.error:
        parts.append(f'<p class="error">error: {_e(run.error)}</p>')
    if run.command:
        parts.append(f'<p class="meta">command: <code>{_e(run.command)}</code></p>')
    charts = [f'<figure><img src="{data_uri(c.path)}" alt="{_e(c.title)}">'
              f"<figcaption>{_e(c.title)}</figcaption></figure>" for c in run.charts]
    tables = [render_table(t) for t in run.tables] or ['<p class="note">This run has no measurements.</p>']
    parts += charts + tables if run.charts_first else tables + charts
    parts.append("</section>")
    return "\n".join(parts)


def _verdict_section(report: Report) -> str:
    """The answer first: one line per question, what would make it less sure, and the rankings behind it."""
    v = report.verdict
    if v is None or not v.answers:
        return ""
    answers = "".join(f"<li>{_e(a)}</li>" for a in v.answers)
    caveats = "".join(f"<li>{_e(c)}</li>" for c in v.caveats)
    tables = "\n".join(render_table(t, "ranking") for t in report.verdict_tables)
    model = f" for {_e(v.model)}" if v.model else ""
    return (f'<section id="verdict" class="verdict">\n<h2>Verdict: which attention to use{model}</h2>\n'
            f'<ul class="answers">{answers}</ul>\n'
            + (f'<ul class="caveats">{caveats}</ul>\n' if caveats else "")
            + f'<p class="meta">Ranked on each benchmark\'s first key metric among the variants that passed '
              f"their accuracy check; baseline {_e(v.baseline)}; a tie is an overlap of the measured spreads.</p>\n"
            + (f"<details><summary>the ranking behind each answer ({len(report.verdict_tables)} workloads)"
               f"</summary>\n{tables}\n</details>\n" if tables else "")
            + "</section>\n")


def render_html(report: Report) -> str:
    """The page: header (the question, what ran), environment, then per run its charts and tables."""
    ran = "".join(f'<li><a href="#run-{_e(r.run_id)}">{_e(r.kind)} run {_e(r.run_id)}</a> '
                  f"({_e(r.status)}): {_e(r.what_ran)}"
                  + (f'<br><span class="headline">{_e(r.headline)}</span>' if r.headline else "") + "</li>"
                  for r in report.runs)
    env = "".join(f'<tr><td>{_e(k)}</td><td class="wrap">{_e(v)}</td></tr>' for k, v in report.environment)
    statuses = [s for r in report.runs for t in r.tables for s in t.row_status]
    unsupported = statuses.count("unsupported")
    failed = sum(statuses.count(s) for s in ("oom", "error", "invalid"))
    source = f" from <code>{_e(report.source)}</code>" if report.source else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(report.title)}</title>
<style>{CSS}</style>
</head>
<body>
<main>
<header>
<h1>{_e(report.title)}</h1>
<p class="question">{_e(report.question)}</p>
<p class="meta">Generated {_e(report.generated_at)}{source}. {BEST_MARK} and green: best in its group;
red rows: invalid (failed the accuracy check) or error; yellow: out of memory; grey: unsupported.</p>
<p class="filters meta">Rows shown: <label><input type="checkbox" id="show-unsupported"> unsupported ({unsupported})</label>
<label><input type="checkbox" id="show-failed" checked> out of memory, error, invalid ({failed})</label></p>
</header>
{_verdict_section(report)}<h2>What ran</h2>
<ul class="ran">{ran}</ul>
<h2>Environment</h2>
<table class="env"><tbody>{env}</tbody></table>
{''.join(_run_section(r) for r in report.runs)}
</main>
</body>
</html>
"""
