"""The role-tagged template: exact text, so every tokenizer and every run sees the same documents."""

import pytest

from attnbench.data.template import format_conversation, format_conversations
from attnbench.errors import AttnbenchError


def test_exact_text_for_a_small_conversation():
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "And 3+3?\n"},
        {"role": "assistant", "content": "6"},
    ]
    assert format_conversation(messages) == (
        "<|system|>\nBe brief.\n"
        "<|user|>\nWhat is 2+2?\n"
        "<|assistant|>\n4\n"
        "<|user|>\nAnd 3+3?\n\n"
        "<|assistant|>\n6\n"
        "<|end|>\n"
    )


def test_many_and_unknown_role():
    assert format_conversations([[{"role": "user", "content": "a"}]] * 2) == ["<|user|>\na\n<|end|>\n"] * 2
    with pytest.raises(AttnbenchError, match="role 'tool'.*valid roles: system, user, assistant"):
        format_conversation([{"role": "tool", "content": "x"}])
