"""Training data: conversations (hub, local file, offline sample) -> text -> tokens -> fixed batches.

    convs = load_conversations("sample")                # or "tulu", or a .jsonl/.parquet path
    texts = format_conversations(convs)
    tokenizer, tokenizer_name = load_tokenizer()         # GPT-2 if cached locally, else byte-level
    data = make_batches(texts, tokenizer, seq_len=256, batch_size=8, seed=0)
    for batch in data.train: ...                         # batch.input_ids, batch.labels: [B, S]
"""

from attnbench.data.batches import IGNORE_INDEX, Batch, Split, TokenBatches, make_batches  # noqa: F401
from attnbench.data.conversations import (  # noqa: F401
    TULU,
    Conversations,
    DataWarning,
    load_conversations,
    sample_conversations,
)
from attnbench.data.template import END, TAGS, format_conversation, format_conversations  # noqa: F401
from attnbench.data.tokenizer import FALLBACK_NAME, ByteTokenizer, load_tokenizer  # noqa: F401
