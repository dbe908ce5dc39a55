"""The built-in tiny model's tokenizer: byte-level BPE trained on the synthetic corpus.

Digits are always single tokens (column arithmetic needs to see each digit), and the four
reasoning tags are whole tokens so that a stop at `</answer>` is one id. Saved in plain Hugging
Face format (tokenizer.json, special tokens, a chat template), so `AutoTokenizer` loads it.
"""

from __future__ import annotations

import itertools

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


def corpus_tokenizer(docs, n_docs: int = 20_000, vocab_size: int = 512) -> PreTrainedTokenizerFast:
    return train_tokenizer(itertools.islice(docs, n_docs), vocab_size)
