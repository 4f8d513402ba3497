"""The report in a real browser: headless Chromium renders it offline, charts visible, no script errors.

Why a browser: string checks cannot see a page that parses into nothing, images that do not decode, or a
layout that hides the charts. Needs Debian's `chromium` (apt-get install -y chromium); skipped without it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.report.conftest import N_KERNEL_CHARTS, N_TRAIN_CHARTS


def _find_chromium() -> str | None:
    for candidate in (os.environ.get("ATTNBENCH_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


CHROMIUM = _find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="headless browser test needs Chromium at /usr/bin/chromium (apt-get install -y chromium) "
           "or ATTNBENCH_CHROMIUM=/path/to/chromium")

WIDTH, HEIGHT = 1280, 2000
# matplotlib's first two default line colours (tab:blue, tab:orange): on the page they come only from charts
CHART_COLORS = np.array([[31, 119, 180], [255, 127, 14]]) / 255.0


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile{len(list(tmp_path.glob('profile*')))}"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage", "--hide-scrollbars", "--host-resolver-rules=MAP * ~NOTFOUND",
           f"--user-data-dir={profile}", *args]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False,
                              env={**os.environ, "HOME": str(tmp_path)})
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"chromium did not finish in 30 s: {' '.join(cmd)}\n{exc.stderr}")
    assert done.returncode == 0, f"chromium exited {done.returncode}:\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def page(written, tmp_path_factory):
    """(report html path, screenshot RGB array, dumped DOM, browser log) from two Chromium runs."""
    html_path = written[0]
    tmp = tmp_path_factory.mktemp("browser")
    url = html_path.resolve().as_uri()
    shot = tmp / "report.png"
    _chromium(tmp, f"--screenshot={shot}", f"--window-size={WIDTH},{HEIGHT}", url)
    assert shot.is_file(), "chromium wrote no screenshot"
    from matplotlib.image import imread

    pixels = imread(shot)[..., :3].astype(np.float64)
    dumped = _chromium(tmp, "--enable-logging=stderr", "--v=0", "--dump-dom", url)
    return html_path, pixels, dumped.stdout, dumped.stderr


def test_screenshot_is_not_blank_and_shows_charts(page):
    _, pixels, _, _ = page
    assert pixels.shape[0] >= HEIGHT * 0.9 and pixels.shape[1] >= WIDTH * 0.9, pixels.shape
    # a blank page has variance 0, this report about 0.015
    assert pixels.var() > 0.003, "the page rendered (almost) uniformly: blank?"
    non_white = (pixels < 0.9).any(axis=2)
    assert non_white.mean() > 0.02, "almost every pixel is white"
    # the charts: pixels in matplotlib's line colours, in a band below the header
    near = np.abs(pixels[:, :, None, :] - CHART_COLORS[None, None]).max(axis=3) < 0.06
    chart_rows = np.nonzero(near.any(axis=2).any(axis=1))[0]
    assert near.any(axis=2).sum() > 200, "no chart lines visible in the first screen"
    band = pixels[chart_rows.min():chart_rows.max() + 1]
    assert (band < 0.9).any(axis=2).mean() > 0.03, "the chart area is (almost) white"


def test_page_has_no_script_errors_and_every_chart_in_the_dom(page):
    html_path, _, dom, log = page
    assert "Uncaught" not in log, log[-3000:]
    assert "net::ERR_" not in log and "Failed to load resource" not in log, "the page fetched something"
    assert dom.lstrip().lower().startswith("<!doctype html>") or "<html" in dom[:200].lower()
    imgs = re.findall(r"<img\b[^>]*>", dom)
    charts = sorted(html_path.parent.glob("*.png"))
    assert len(imgs) == len(charts) == N_KERNEL_CHARTS + N_TRAIN_CHARTS
    assert all('src="data:image/png;base64,' in img for img in imgs)
    assert dom.count('<table class="results">') == 3  # the browser kept every table: kernel + two training
    assert "<script" not in dom.lower()
