"""The quality benchmark's charts: the seed's efficiency-quality scatter (inference time against ROUGE-Lsum,
peak memory as the marker's size), ROUGE and BLEU per variant, perplexity against evaluation length, and
the training loss of both studies. Titles and units come from the rows' declaration (rows/quality.py).
"""

from __future__ import annotations

from attnbench.report.charts import Chart, pyplot, save, variant_colours
from attnbench.rows import VARIANT
from attnbench.rows.quality import FINETUNE_STEP_ROWS, LM_STEP_ROWS, PPL_ROWS, SUMMARY_ROWS

SCORES = ("rouge1", "rouge2", "rougeL", "rougeLsum", "bleu")
MEASURED = ("ok", "invalid")


def _measured(rows: list[dict], kind: str, *keys: str) -> list[dict]:
    return [r for r in rows if r.get("kind") == kind and r.get("status") in MEASURED
            and all(isinstance(r.get(k), (int, float)) for k in keys)]


def efficiency_scatter(rows: list[dict], out_dir: str, prefix: str) -> Chart | None:
    plt = pyplot()
    points = _measured(rows, SUMMARY_ROWS.name, "ms_per_sample", "rougeLsum")
    if not points:
        return None
    colour = variant_colours(r[VARIANT] for r in points)
    memory = [r.get("peak_memory_mb") or 0.0 for r in points]
    biggest = max(memory) or 1.0
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for r, mb in zip(points, memory):
        ax.scatter(r["ms_per_sample"], r["rougeLsum"], s=60 + 600 * mb / biggest, color=colour[r[VARIANT]],
                   alpha=0.7, edgecolors="black" if r["status"] == "ok" else "red", label=r[VARIANT])
        ax.annotate(f"{r[VARIANT]}\n{mb:.3g} MB", (r["ms_per_sample"], r["rougeLsum"]), fontsize=7,
                    xytext=(6, 6), textcoords="offset points")
    ax.set_xlabel(SUMMARY_ROWS.column("ms_per_sample").label)
    ax.set_ylabel("ROUGE-Lsum")
    ax.set_title("efficiency against quality: left is faster, up is better; marker size: peak memory", fontsize=9)
    ax.grid(True, alpha=0.3)
    return Chart("inference time per sample against ROUGE-Lsum; marker area: peak memory of a generation",
                 save(fig, out_dir, f"{prefix}_efficiency_quality.png"))


def score_bars(rows: list[dict], out_dir: str, prefix: str) -> Chart | None:
    plt = pyplot()
    done = _measured(rows, SUMMARY_ROWS.name, "rouge1")
    if not done:
        return None
    names = [r[VARIANT] for r in done]
    colour = variant_colours(names)
    fig, axes = plt.subplots(1, len(SCORES), figsize=(3.2 * len(SCORES), 3.4), squeeze=False)
    for ax, key in zip(axes[0], SCORES):
        column = SUMMARY_ROWS.column(key)
        ax.bar(range(len(done)), [r.get(key) or 0.0 for r in done], color=[colour[n] for n in names],
               hatch=None)
        ax.set_xticks(range(len(done)), names, rotation=45, ha="right", fontsize=7)
        ax.set_title(f"{column.heading}: higher is better", fontsize=9)
    return Chart("ROUGE-1, ROUGE-2, ROUGE-L, ROUGE-Lsum and BLEU per variant (of the generated tokens only)",
                 save(fig, out_dir, f"{prefix}_scores.png"))


def perplexity_lines(rows: list[dict], out_dir: str, prefix: str) -> Chart | None:
    plt = pyplot()
    ppl = [r for r in rows if r.get("kind") == PPL_ROWS.name]
    measured = _measured(rows, PPL_ROWS.name, "perplexity", "eval_len")
    if not measured:
        return None
    names = list(dict.fromkeys(r[VARIANT] for r in ppl))
    colour = variant_colours(names)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for name in names:
        mine = sorted((r for r in measured if r[VARIANT] == name), key=lambda r: r["eval_len"])
        refused = [r["eval_len"] for r in ppl if r[VARIANT] == name and r not in mine]
        label = name + (f" (cannot run {', '.join(map(str, refused))})" if refused else "")
        ax.plot([r["eval_len"] for r in mine], [r["perplexity"] for r in mine], marker="o", color=colour[name],
                label=label)
    train_len = next((r.get("train_len") for r in ppl if r.get("train_len")), None)
    if train_len:
        ax.axvline(train_len, color="gray", linestyle=":", linewidth=1)
        ax.annotate("trained at L", (train_len, ax.get_ylim()[1]), fontsize=7, ha="left", va="top")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("evaluation length (tokens)")
    ax.set_ylabel(PPL_ROWS.column("perplexity").label)
    ax.set_title("perplexity on held-out text against evaluation length: flat past L is extrapolation", fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    return Chart("held-out perplexity at each evaluation length (the same predictions, more context); learned "
                 "positions stop at their table", save(fig, out_dir, f"{prefix}_perplexity.png"))


def loss_curves(rows: list[dict], out_dir: str, prefix: str) -> Chart | None:
    plt = pyplot()
    kinds = [(rk, [r for r in rows if r.get("kind") == rk.name]) for rk in (LM_STEP_ROWS, FINETUNE_STEP_ROWS)]
    kinds = [(rk, mine) for rk, mine in kinds if mine]
    if not kinds:
        return None
    colour = variant_colours(r[VARIANT] for _, mine in kinds for r in mine)
    fig, axes = plt.subplots(1, len(kinds), figsize=(6 * len(kinds), 3.6), squeeze=False)
    for ax, (rk, mine) in zip(axes[0], kinds):
        for name in dict.fromkeys(r[VARIANT] for r in mine):
            steps = [r for r in mine if r[VARIANT] == name]
            ax.plot([r["step"] for r in steps], [r.get("loss") for r in steps], marker="o", ms=2,
                    color=colour[name], label=name)
        ax.set_xlabel("step")
        ax.set_ylabel(rk.column("loss").label)
        ax.set_title(rk.title, fontsize=9)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    return Chart("training loss per step: the language model at L, and summarization fine-tuning",
                 save(fig, out_dir, f"{prefix}_loss.png"))


def plot_quality_rows(rows: list[dict], out_dir: str, prefix: str = "quality") -> list[Chart]:
    charts = [draw(rows, str(out_dir), prefix) for draw in (efficiency_scatter, score_bars, perplexity_lines,
                                                            loss_curves)]
    return [c for c in charts if c is not None]
