"""A stored run as TensorBoard event files in <out_dir>/tensorboard/<run name>/.

Why torch's SummaryWriter: torch is already here and it writes the format TensorBoard reads; it needs
the `tensorboard` package, which viewing needs anyway. Where only tensorboardX is installed (lighter:
protobuf only) it is used instead, with the same calls. Named tensorboard_log so it never shadows
the package.

What is written: scalars = every point at its step, stamped with the row's wall time, plus
summary/<variant>/<field> at step 0; a Custom Scalars layout that overlays the variants of each
metric on one chart; the config as text and as HParams; text summaries as a table; the plots as
images. Logging the same run again goes to a new directory (<name>-2, ...), never into the old one.
"""

from __future__ import annotations

import json
import os

from attnbench.integrations._common import RunData, missing, plot_name

OPTIONS = ()


def require():
    """(SummaryWriter, hparams) from torch.utils.tensorboard, else from tensorboardX."""
    try:
        from torch.utils.tensorboard import SummaryWriter
        from torch.utils.tensorboard.summary import hparams
    except ImportError as exc:
        try:
            from tensorboardX import SummaryWriter
            from tensorboardX.summary import hparams
        except ImportError:
            raise missing("tensorboard", "tensorboard", exc) from exc
    return SummaryWriter, hparams


def _new_dir(root: str, name: str) -> str:
    path, n = os.path.join(root, name), 1
    while os.path.exists(path):
        n += 1
        path = os.path.join(root, f"{name}-{n}")
    return path


def log(data: RunData, out_dir: str, options: dict) -> str:
    """Write the event file; returns its directory (give its parent to `tensorboard --logdir`)."""
    import matplotlib.image as mpimg

    SummaryWriter, hparams = require()
    logdir = _new_dir(os.path.join(os.path.abspath(out_dir), "tensorboard"), data.name)
    writer = SummaryWriter(log_dir=logdir)
    try:
        for point in data.points:
            for tag, value in point.metrics.items():
                writer.add_scalar(tag, value, point.step, walltime=point.wall_time)
        for tag, value in data.numeric_summary().items():
            writer.add_scalar(tag, value, 0)
        metrics = sorted({tag.split("/", 1)[0] for p in data.points for tag in p.metrics})
        if metrics:
            writer.add_custom_scalars({"attnbench (all variants)": {
                m: ["Multiline", [f"^{m}/"]] for m in metrics}})
        writer.add_text("config", "```\n" + json.dumps(data.tracker_config, indent=2, default=str) + "\n```")
        text = data.text_summary()
        if text:
            writer.add_text("summary", "| field | value |\n|---|---|\n" + "\n".join(
                f"| {k} | {v.replace('|', '/')} |" for k, v in text.items()))
        file_writer = writer._get_file_writer()  # add_hparams would open a second run directory
        for summary in hparams(data.params, data.numeric_summary()):
            file_writer.add_summary(summary)
        for path in data.plots:
            writer.add_image(f"plots/{plot_name(data, path)}", mpimg.imread(path), 0, dataformats="HWC")
    finally:
        writer.close()
    return logdir
