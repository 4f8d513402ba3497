"""attnbench: which attention should this model use on this GPU? Answered by measurement."""

from attnbench.attention.registry import (  # noqa: F401
    Attention,
    AttentionSpec,
    get_attention,
    list_attention,
    load_plugin,
    register,
)
from attnbench.errors import AttnbenchError, UnsupportedError  # noqa: F401

__version__ = "0.1.0"
