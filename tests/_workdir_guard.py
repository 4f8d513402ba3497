"""No test writes outside its temporary directories: every test runs in a fresh working directory, and
the session fails if the checkout (or the directory pytest was started in) changed while it ran."""

from __future__ import annotations

import os
from pathlib import Path

IGNORED = {".git", ".pytest_cache", "__pycache__", ".fa4", ".whl", ".venv", "venv", ".ruff_cache", ".mypy_cache"}


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """{relative path: (size, mtime in ns)} of every file under root, ignored folders left out."""
    out = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in IGNORED and not d.endswith(".egg-info")]
        for name in files:
            path = Path(folder) / name
            try:
                st = path.stat()
            except OSError:
                continue
            out[str(path.relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return out


def changed(before: dict, after: dict) -> list[str]:
    """Paths created, removed or rewritten between two snapshots."""
    return sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
