"""Shared set-up of the GRPO-step benchmarks (bench_trl.py, bench_scaling.py).

Everything is built locally (nothing from the hub):

* a character-level tokenizer whose vocabulary is the characters of the R1-Zero prompts of
  the arithmetic task (padded with a few spare characters) plus <pad> and <unk>: 50 ids, the
  issue's "vocab 50"; a prompt is then about 435 tokens. With `template_tokens=True` the
  template's fixed text around the question is one token each: prompts of about 20 tokens.
  <|endoftext|> is one more id, 50. With `eos_sampled=False` (default) the model's
  vocabulary stops BEFORE the eos id, so eos is never sampled and every
  completion runs to max_new_tokens: both trainers then do exactly the same amount of work.
  With `eos_sampled=True` the model has 51 logits and eos can end a row.
* a random-init Qwen2 (hidden 128, 4 layers, 4 heads / 2 KV heads, SwiGLU 512, tied
  embeddings), fp32, saved with its tokenizer to a directory (TRL loads its reference model
  from the policy's path).
* the arithmetic task's training problems, in a fixed order.
"""

from __future__ import annotations

import torch
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

from r1lab.tasks import get_task, r1_zero_prompt, take
from r1lab.tasks.templates import R1_ZERO

PAD, UNK, EOS = "<pad>", "<unk>", "<|endoftext|>"
BASE_VOCAB = 50  # ids 0..49: <pad>, <unk>, 48 characters; <|endoftext|> is id 50
TEMPLATE_PARTS = (R1_ZERO.split("{prompt}")[0], " Assistant:")  # the template's text around the question


def problems(n: int, seed: int = 0):
    return take(get_task("arithmetic"), "train", n, seed)


def char_tokenizer(sample_problems, template_tokens: bool = False) -> PreTrainedTokenizerFast:
    """One token per character. With `template_tokens`, the R1-Zero template's fixed text before
    and after the question is one token each (ids 48 and 49, in place of two spare characters),
    so a prompt is about 20 tokens instead of about 435."""
    text = "".join(r1_zero_prompt(p.question) + p.answer for p in sample_problems)
    chars = sorted(set(text) | set("0123456789"))
    spare = [c for c in "-*=()!%&;" if c not in chars]
    chars = (chars + spare)[: BASE_VOCAB - 2]
    if template_tokens:
        chars = chars[:-2] + list(TEMPLATE_PARTS)
    vocab = {PAD: 0, UNK: 1, **{c: i + 2 for i, c in enumerate(chars)}}
    vocab[EOS] = len(vocab)
    core = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
    core.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")  # one token per character
    core.decoder = decoders.Fuse()
    if template_tokens:  # matched whole before the split; they keep their ids from the vocabulary
        core.add_tokens([AddedToken(t, normalized=False) for t in TEMPLATE_PARTS])
    tok = PreTrainedTokenizerFast(tokenizer_object=core, eos_token=EOS, pad_token=PAD, unk_token=UNK)
    tok.model_max_length = 4096
    return tok


def build_model(tok: PreTrainedTokenizerFast, eos_sampled: bool = False, hidden: int = 128, layers: int = 4,
                seed: int = 0) -> Qwen2ForCausalLM:
    vocab = len(tok) if eos_sampled else tok.eos_token_id  # without eos: its id is past the last logit
    torch.manual_seed(seed)
    cfg = Qwen2Config(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=4,
                      num_key_value_heads=2, intermediate_size=4 * hidden, max_position_embeddings=4096,
                      tie_word_embeddings=True, pad_token_id=tok.pad_token_id, bos_token_id=None,
                      eos_token_id=tok.eos_token_id if eos_sampled else None)
    return Qwen2ForCausalLM(cfg).float()


def save(model, tok, path) -> None:
    model.save_pretrained(path)
    tok.save_pretrained(path)
