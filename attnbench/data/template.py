"""Conversations to training text, with a plain role-tagged template.

One conversation becomes:

    <|system|>
    You are a helpful assistant.
    <|user|>
    Hi!
    <|assistant|>
    Hello.
    <|end|>

that is, for each message `TAGS[role] + "\\n" + content + "\\n"`, then `END + "\\n"`. Content is kept
exactly as given (no stripping), so the text is a pure function of the messages.

Why this and not a tokenizer's chat template: GPT-2 has none, the byte-level fallback has none, and a
benchmark needs the same text whatever tokenizer ran. The tags are ordinary text, not special tokens
(GPT-2's only special token is <|endoftext|>, which the batcher puts between documents). The format
follows Tulu's own ("<|user|>\\n...\\n<|assistant|>\\n..."), with an explicit end tag.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from attnbench.errors import AttnbenchError

TAGS = {"system": "<|system|>", "user": "<|user|>", "assistant": "<|assistant|>"}
END = "<|end|>"


def format_conversation(messages: Iterable[Mapping[str, str]]) -> str:
    """One conversation (a list of {"role", "content"}) as role-tagged text ending in END and a newline."""
    parts = []
    for message in messages:
        role = message["role"]
        if role not in TAGS:
            raise AttnbenchError(f"message role {role!r} has no template tag; valid roles: {', '.join(TAGS)}")
        parts.append(f"{TAGS[role]}\n{message['content']}\n")
    parts.append(f"{END}\n")
    return "".join(parts)


def format_conversations(conversations: Iterable[Iterable[Mapping[str, str]]]) -> list[str]:
    """Each conversation (e.g. a `Conversations` object's) as one text document."""
    return [format_conversation(messages) for messages in conversations]
