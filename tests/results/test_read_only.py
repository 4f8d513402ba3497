"""A valid database on a read-only file system is read, not called damaged: read-only commands open it
read-only (immutable where SQLite cannot even make its WAL index there) and leave it byte-identical."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys

import pytest

from attnbench.cli import main


def _read_only_mount_works(folder) -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = f"mount --bind {folder} {folder} && mount -o remount,bind,ro {folder} && ! touch {folder}/probe"
    done = subprocess.run(["unshare", "-m", "sh", "-c", probe], capture_output=True, check=False)
    return done.returncode == 0


def test_results_and_report_read_a_database_on_a_read_only_file_system(tmp_path, capsys):
    data, out = tmp_path / "data", tmp_path / "out"
    data.mkdir()
    db = data / "r.db"
    assert main(["kernel", "--impl", "eager,sdpa", "--device", "cpu", "--batch-size", "1", "--seq-len", "32",
                 "--num-heads", "2", "--emb-dim", "32", "--repeats", "2", "--mode", "fwd", "--db", str(db)]) == 0
    capsys.readouterr()
    if not _read_only_mount_works(data):
        pytest.skip("cannot make a read-only bind mount here (needs unshare -m and mount)")
    before = {p.name: p.read_bytes() for p in data.iterdir()}
    python = shlex.quote(sys.executable)
    commands = [f"{python} -m attnbench results list --db {db}", f"{python} -m attnbench results show 1 --db {db}",
                f"{python} -m attnbench results verdict 1 --format json --db {db}",
                f"{python} -m attnbench report 1 --db {db} --out {out}"]
    script = f"mount --bind {data} {data} && mount -o remount,bind,ro {data} && " + " && ".join(commands)
    done = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "not a readable" not in done.stderr and "eager" in done.stdout and "kernel" in done.stdout
    assert any(out.glob("*.html"))
    assert {p.name: p.read_bytes() for p in data.iterdir()} == before  # untouched, nothing created beside it
