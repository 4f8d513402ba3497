"""The report as a Markdown summary: the same tables and marks as the HTML, charts as PNG files beside it.

Why both: the Markdown pastes into an issue, a pull request or docs/benchmarks/ and diffs well; the
HTML is the one to open and read. Cell text is backslash-escaped so a name like `a|b` or `<b>` stays
text and cannot break the table or become markup.
"""

from __future__ import annotations

import os
import re

from attnbench.report.report_data import Report
from attnbench.report.tables import Table

BEST_MARK = "★"
# `_` inside a word (fwd_bwd, x86_64) is not emphasis in CommonMark, so only a word-edge `_` is escaped
_SPECIAL = re.compile(r"([\\`*\[\]<>|]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9]))")


def md_escape(text) -> str:
    return _SPECIAL.sub(lambda m: "\\" + m.group(0), " ".join(str(text).split()))


def _code(text: str) -> str:
    """A code span (no escaping needed inside), or escaped text when the text itself has a backtick."""
    text = " ".join(str(text).split())
    return md_escape(text) if "`" in text else f"`{text}`"


def render_table(table: Table) -> str:
    lines = [f"### {md_escape(table.title)}", "",
             "| " + " | ".join(md_escape(c.title) for c in table.columns) + " |",
             "|" + "|".join("---:" if c.numeric else "---" for c in table.columns) + "|"]
    for cells in table.rows:
        lines.append("| " + " | ".join(f"**{md_escape(c.text)} {BEST_MARK}**" if c.best else md_escape(c.text)
                                       for c in cells) + " |")
    if table.note:
        lines += ["", f"_{md_escape(table.note)}_"]
    return "\n".join(lines) + "\n"


def render_markdown(report: Report, relative_to: str | os.PathLike | None = None) -> str:
    """Charts are linked by path relative to `relative_to` (the Markdown file's folder)."""
    out = [f"# {md_escape(report.title)}", "", f"**{md_escape(report.question)}**", "",
           f"Generated {md_escape(report.generated_at)}"
           + (f" from {_code(report.source)}" if report.source else "") + ". "
           f"{BEST_MARK} marks the best value in its group.", ""]
    if report.verdict is not None and report.verdict.answers:
        model = f" for {md_escape(report.verdict.model)}" if report.verdict.model else ""
        out += [f"## Verdict: which attention to use{model}", ""] + [f"- {md_escape(a)}" for a in report.verdict.answers]
        out += [""] + [f"- _{md_escape(c)}_" for c in report.verdict.caveats] + ([""] if report.verdict.caveats else [])
        out += [render_table(t) for t in report.verdict_tables]
    out += ["## What ran", ""]
    for r in report.runs:
        out.append(f"- **{md_escape(r.kind)} run {r.run_id}** ({md_escape(r.status)}): "
                   f"{md_escape(r.what_ran)}")
        if r.headline:
            out.append(f"  - {md_escape(r.headline)}")
    out += ["", "## Environment", ""]
    out += ["| field | value |", "|---|---|"] + [f"| {md_escape(k)} | {md_escape(v)} |"
                                               for k, v in report.environment] + [""]
    for r in report.runs:
        out += [f"## {md_escape(r.kind)} run {r.run_id} ({md_escape(r.status)}, {md_escape(r.when)})", "",
                md_escape(r.what_ran), ""]
        if r.headline:
            out += [f"**{md_escape(r.headline)}**", ""]
        if r.error:
            out += [f"error: {md_escape(r.error)}", ""]
        if r.command:
            out += [f"command: {_code(r.command)}", ""]
        tables = [render_table(t) for t in r.tables] or ["This run has no measurements.\n"]
        charts = []
        for chart in r.charts:
            path = os.path.relpath(chart.path, relative_to) if relative_to else chart.path
            charts += [f"![{md_escape(chart.title)}]({path.replace(os.sep, '/').replace(' ', '%20')})", ""]
        out += charts + tables if r.charts_first else tables + charts
    return "\n".join(out).rstrip() + "\n"
