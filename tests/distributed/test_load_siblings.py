"""A distributed run's other ranks are the run, not load: the machine-load note leaves them out (a
2-rank CPU run said "other processes used 50% of the 2 cores (python3 ...)" of its own sibling)."""

import os
import signal
import subprocess
import sys
import time

from attnbench.measure import load

SPIN = "import time\nend = time.time() + 30\nwhile time.time() < end:\n    pass\n"


def _stranger() -> int:
    """The pid of a busy process that is not this one's child (as another rank is not): started by a shell
    that exits at once, so it is nobody's child here."""
    shell = subprocess.run(["sh", "-c", f'{sys.executable} -c "{SPIN}" >/dev/null 2>&1 & echo $!'],
                           capture_output=True, text=True, check=True)
    pid = int(shell.stdout.strip())
    time.sleep(0.3)  # spinning by now
    return pid


def test_a_sibling_rank_is_not_another_process():
    sibling = _stranger()
    try:
        alone = load.cpu_load(0.5)
        with_it = load.cpu_load(0.5, siblings={sibling})
    finally:
        os.kill(sibling, signal.SIGKILL)
    assert [t for t in alone["cpu_top_others"] if f"({sibling})" in t], alone  # a stranger unless said otherwise
    assert not [t for t in with_it["cpu_top_others"] if f"({sibling})" in t]
    assert with_it["cpu_own_pct"] > alone["cpu_own_pct"] + 20  # counted as the run's own
