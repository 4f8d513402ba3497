from pathlib import Path

import pytest
import torch

from tests._workdir_guard import changed, snapshot

CHECKOUT = Path(__file__).resolve().parents[1]
_WATCHED: dict[Path, dict] = {}


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def pytest_sessionstart(session):
    for root in {CHECKOUT, Path.cwd().resolve()}:
        _WATCHED[root] = snapshot(root)


def pytest_sessionfinish(session, exitstatus):
    """Fail the session if a test wrote into the checkout or the starting directory (a report, a db...)."""
    touched = [f"{root / p}" for root, before in _WATCHED.items() for p in changed(before, snapshot(root))]
    if touched:
        print("\ntests wrote outside their temporary directories:\n  " + "\n  ".join(touched[:20]))
        session.exitstatus = 1


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def _in_a_temporary_directory(tmp_path_factory, monkeypatch):
    """Each test runs in an empty working directory of its own: default output paths land there."""
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
