import pytest

from attnbench.attention.flash_impl import use_flash_impl


@pytest.fixture(autouse=True)
def _fa2_behind_sdpa_flash_afterwards():
    """sdpa-fa4 routes SDPA's flash backend through FA4 process-wide: each test leaves PyTorch's FA2."""
    yield
    use_flash_impl(None)
