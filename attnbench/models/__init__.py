"""Put any registered attention variant into a Hugging Face model (GPT-2 for now)."""

from attnbench.models.attention_bridge import AttentionHandle  # noqa: F401
from attnbench.models.gpt2 import GPT2_SIZES, build_gpt2, gpt2_config, use_attention  # noqa: F401
