"""The shipped tiny-small student: tiny's family and tokenizer at a sixth of the size, and a base
model that learned the corpus's worked format (recipes/tiny-small.yaml)."""

import torch

from r1lab.models.io import BUILTIN_DIR, BUILTINS, is_builtin, load, load_tokenizer, resolve


def test_tiny_small_is_a_smaller_member_of_tinys_family():
    assert resolve("tiny-small") == str(BUILTINS["tiny-small"]) and is_builtin("tiny-small")
    small, tok = load("tiny-small")
    big, _ = load("tiny")
    n_small, n_big = (sum(p.numel() for p in m.parameters()) for m in (small, big))
    assert type(small) is type(big) and n_small < n_big / 4
    assert (small.config.hidden_size, small.config.num_hidden_layers) == (64, 2)
    assert (BUILTINS["tiny-small"] / "tokenizer.json").read_text() == (BUILTIN_DIR / "tokenizer.json").read_text()
    text = "User: What is 734 + 778? Assistant: <think> 4+8=12 </think> <answer> 1512 </answer>"
    assert tok(text).input_ids == load_tokenizer("tiny")(text).input_ids


def test_tiny_small_continues_a_worked_sum_in_the_corpus_format():
    model, tok = load("tiny-small")
    ids = tok("Compute 6287 + 652. 7+2=9, so far 9, left 628+65.", return_tensors="pt").input_ids
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=24, do_sample=False, pad_token_id=tok.eos_token_id)
    text = tok.decode(out[0, ids.shape[1]:])
    assert text.startswith(" 8+5=13, so far 39, carry 1, left"), text  # the next column, carried
