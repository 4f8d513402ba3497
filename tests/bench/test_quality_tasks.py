"""The quality benchmark's tasks: the loss sees only summary tokens; generation returns only what it
generated, greedy or beam; padding to fixed widths changes no logit; only generated text is scored;
perplexity past learned positions is refused."""

from contextlib import nullcontext
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from attnbench.data import IGNORE_INDEX, ByteTokenizer
from attnbench.data.summaries import Pair
from attnbench.models import build_model, use_attention
from attnbench.tasks.extrapolation import learned_positions, past_positions
from attnbench.tasks.generate import Decoding, beam_search, generate, greedy, next_log_probs
from attnbench.tasks.lm import model_loss
from attnbench.tasks.summarize import PROMPT_END, Summarization, encode_pair, summary_batches

CPU, NO_AUTOCAST = torch.device("cpu"), nullcontext()
TOK = ByteTokenizer()


def tiny(**kw):
    return build_model("gpt2-tiny", seed=0, n_positions=64, vocab_size=258, **kw)


def test_the_loss_is_on_the_summary_tokens_only():
    prompt, target = encode_pair(TOK, Pair("def f(): return 1", "Return one."), seq_len=48, max_new_tokens=16)
    assert TOK.decode(prompt) == "def f(): return 1" + PROMPT_END
    assert TOK.decode(target[:-1]) == " Return one." and target[-1] == TOK.eos_token_id
    batch = summary_batches([(prompt, target)], TOK.pad_token_id, 48, 1)[0]
    labelled = (batch.labels[0] != IGNORE_INDEX).nonzero().flatten().tolist()
    assert labelled == list(range(len(prompt) - 1, len(prompt) - 1 + len(target)))  # predicting target tokens
    assert batch.labels[0, labelled].tolist() == target and batch.attention_mask is None
    model = tiny()
    with torch.no_grad():
        logits = model(input_ids=batch.input_ids).logits[0]
        manual = F.cross_entropy(logits[labelled], torch.tensor(target))
        assert model_loss(model, batch.input_ids, None, batch.labels, NO_AUTOCAST) == pytest.approx(manual.item())


def test_right_padding_without_a_mask_is_the_masked_loss():
    """Causal attention: the real positions never see the padding after them, so no mask is needed."""
    encoded = [encode_pair(TOK, Pair("a" * n, "summary text"), 40, 12) for n in (3, 20)]
    batch = summary_batches(encoded, TOK.pad_token_id, 40, 2)[0]
    mask = (batch.input_ids != TOK.pad_token_id).long()
    model = tiny()
    use_attention(model, "eager")
    with torch.no_grad():
        unmasked = model_loss(model, batch.input_ids, None, batch.labels, NO_AUTOCAST)
        masked = model_loss(model, batch.input_ids, mask, batch.labels, NO_AUTOCAST)
    assert unmasked.item() == pytest.approx(masked.item(), rel=1e-6)


def test_padding_to_a_bucket_changes_no_logit():
    model = tiny().eval()
    use_attention(model, "alibi")
    seq = torch.randint(0, 256, (13,)).tolist()
    exact = next_log_probs(model, [seq], Decoding(4, 256, 257, bucket=1), CPU, NO_AUTOCAST)
    padded = next_log_probs(model, [seq], Decoding(4, 256, 257, bucket=32), CPU, NO_AUTOCAST)
    torch.testing.assert_close(exact, padded, rtol=1e-5, atol=1e-5)
    assert Decoding(4, 256, 257, bucket=32, length_limit=40).width(35) == 40  # never past the positions


class Chain:
    """A model over 5 tokens whose next-token probabilities depend on the last real token only (a Markov
    chain read at position n - 1): what greedy and beam search choose can be worked out by hand."""

    EOS, PAD = 4, 0
    P = {0: {1: 0.6, 2: 0.4}, 1: {3: 0.4, 1: 0.3, 4: 0.3}, 2: {4: 1.0}, 3: {3: 0.55, 4: 0.45}}

    def __call__(self, input_ids, use_cache=False):
        B, W = input_ids.shape
        logits = torch.full((B, W, 5), -30.0)
        for b in range(B):
            for s in range(W):
                for token, p in self.P.get(int(input_ids[b, s]), {4: 1.0}).items():
                    logits[b, s, token] = torch.tensor(p).log()
        return SimpleNamespace(logits=logits)


def test_greedy_and_beam_search_return_only_the_generated_tokens():
    chain, prompt = Chain(), [1, 0]
    decoding = Decoding(6, Chain.EOS, Chain.PAD, bucket=4)
    assert greedy(chain, prompt, decoding, CPU, NO_AUTOCAST) == [1, 3, 3, 3, 3, 3]  # 0->1->3->3..., no eos
    beam = Decoding(6, Chain.EOS, Chain.PAD, num_beams=3, bucket=4)
    assert beam_search(chain, prompt, beam, CPU, NO_AUTOCAST) == [2]  # 0->2->eos: p 0.4, the best sequence
    assert generate(chain, prompt, beam, CPU, NO_AUTOCAST) == [2]


class Echo:
    """A 'model' that writes a fixed text (bytes), then the end token, whatever the prompt."""

    def __init__(self, text):
        self.ids = TOK.encode(text)
        self.config = SimpleNamespace()

    def eval(self):
        return self

    def train(self):
        return self

    def __call__(self, input_ids, attention_mask=None, use_cache=False):
        B, W = input_ids.shape
        logits = torch.zeros(B, W, 258)
        for s in range(W):  # the token after position s: the text's next byte, counted from the prompt's end
            step = s - (self.prompt_len - 1)
            token = self.ids[step] if 0 <= step < len(self.ids) else TOK.eos_token_id
            logits[:, s, token] = 10.0
        return SimpleNamespace(logits=logits)


def _task(reference: str, article: str):
    prompt, target = encode_pair(TOK, Pair(article, reference), 200, 40)
    batches = summary_batches([(prompt, target)], TOK.pad_token_id, 200, 1)
    return Summarization(batches, batches, [prompt], [reference], TOK, Decoding(40, TOK.eos_token_id, TOK.pad_token_id),
                         tokens_per_step=200), prompt


def test_only_the_generated_tokens_are_scored():
    """The seed decoded the article with the summary, so ROUGE scored the input: here an article that IS
    the reference, and a model that writes nothing, score 0; writing the reference scores 100."""
    reference = "Return the sum of two numbers."
    task, prompt = _task(reference, article=reference)
    silent = Echo("")
    silent.prompt_len = len(prompt)
    task.summary_loss = lambda *a, **k: 0.0
    scores = task.evaluate(silent, CPU, NO_AUTOCAST)
    assert scores["rouge1"] == 0.0 and scores["examples"][0]["prediction"] == "" and scores["generated_tokens"] == 0
    writer = Echo(" " + reference)
    writer.prompt_len = len(prompt)
    scores = task.evaluate(writer, CPU, NO_AUTOCAST)
    assert scores["rouge1"] == pytest.approx(100.0) and scores["rougeLsum"] == pytest.approx(100.0)
    assert scores["examples"][0]["prediction"] == reference and scores["bleu"] == pytest.approx(100.0)
    assert scores["generated_tokens"] == len(reference) + 1 and scores["ms_per_sample"] > 0
    assert "version:" in scores["bleu_signature"]


def test_learned_positions_end_at_their_table_and_alibi_has_none():
    model = tiny()
    assert learned_positions(model) == 64
    assert "has 64, and 128 tokens run past its table" in past_positions(128, 64)
    assert past_positions(64, 64) is None and past_positions(4096, None) is None
    use_attention(model, "alibi")
    assert learned_positions(model) is None
    with torch.no_grad():  # and it runs at 4 x its positions
        assert model(input_ids=torch.randint(0, 256, (1, 256)), use_cache=False).logits.shape == (1, 256, 258)
