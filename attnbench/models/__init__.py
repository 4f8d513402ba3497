"""Model families (GPT-2, BERT) behind one use_attention(model, variant): any registered attention
variant inside a Hugging Face model."""

from attnbench.models.attention_bridge import AttentionHandle  # noqa: F401
from attnbench.models.bert import BERT_SIZES, build_bert  # noqa: F401
from attnbench.models.family import (  # noqa: F401
    ModelFamily,
    all_families,
    build_model,
    declare,
    family_of,
    family_of_size,
    get_family,
)
from attnbench.models.gpt2 import GPT2_SIZES, build_gpt2, gpt2_config  # noqa: F401
from attnbench.models.install import use_attention  # noqa: F401
