"""The built-in tiny model's tokenizer: byte-level BPE trained on the synthetic corpus.

Digits are always single tokens (column arithmetic needs to see each digit), and the four
reasoning tags are whole tokens so that a stop at `</answer>` is one id. Saved in plain Hugging
Face format (tokenizer.json, special tokens, a chat template), so `AutoTokenizer` loads it.
"""

from __future__ import annotations

import itertools
import json

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

EOS = "<|endoftext|>"
TAGS = ["<think>", "</think>", "<answer>", "</answer>"]
# A plain "User: ... Assistant:" transcript, the style the corpus and the R1-Zero template share.
CHAT_TEMPLATE = (
    "{% for m in messages %}{% if m['role'] == 'user' %}User: {{ m['content'] }} "
    "{% elif m['role'] == 'assistant' %}Assistant: {{ m['content'] }}" + EOS + "\n"
    "{% else %}{{ m['content'] }}\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}Assistant:{% endif %}"
)


def train_tokenizer(texts, vocab_size: int = 512) -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOS] + TAGS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, pad_token=EOS,
                                   additional_special_tokens=None)
    fast.add_tokens(TAGS)  # ordinary (decoded) tokens that are never split
    fast.chat_template = CHAT_TEMPLATE
    fast.model_max_length = 1024
    return fast


TOKENIZER_DOCS = 20_000  # corpus documents a tokenizer (or its extension) is learnt on


def corpus_tokenizer(docs, n_docs: int = TOKENIZER_DOCS, vocab_size: int = 512) -> PreTrainedTokenizerFast:
    return train_tokenizer(itertools.islice(docs, n_docs), vocab_size)


# ----- extending a trained tokenizer with a new script ------------------------------------------

def extend_tokenizer(tok: PreTrainedTokenizerFast, texts,
                     n: int) -> tuple[PreTrainedTokenizerFast, dict[int, list[int]]]:
    """Add up to `n` BPE merges, learnt on `texts`, whose tokens hold a non-ASCII byte (a new script's
    letters and words), after the tokenizer's own merges. A text of ASCII characters only is tokenized
    exactly as before; a word of the new script takes a token or two instead of two bytes per letter.
    Returns the new tokenizer and, for each new token id, the old ids of its bytes (to initialise its
    embedding row). This is the vocabulary extension used to adapt a model to a new language."""
    state = json.loads(tok.backend_tokenizer.to_str())
    vocab, merges = state["model"]["vocab"], state["model"]["merges"]
    learner = train_tokenizer(texts, vocab_size=len(vocab) + 8 * n).backend_tokenizer
    learnt = json.loads(learner.to_str())["model"]["merges"]
    old_model, as_text = tok.backend_tokenizer.model, tok.backend_tokenizer.decoder  # byte-level pieces -> text
    pieces: dict[int, list[int]] = {}
    next_id = max(max(vocab.values()), *(a["id"] for a in state["added_tokens"])) + 1
    for a, b in learnt:
        if len(pieces) == n:
            break
        new = a + b
        if new in vocab or a not in vocab or b not in vocab or as_text.decode([new]).isascii():
            continue
        merges.append([a, b])
        vocab[new] = next_id
        pieces[next_id] = [t.id for t in old_model.tokenize(new)]
        next_id += 1
    fast = PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(json.dumps(state)), eos_token=EOS,
                                   pad_token=EOS)
    fast.chat_template = tok.chat_template
    fast.model_max_length = tok.model_max_length
    return fast, pieces
