"""The shipped tiny-search base (recipes/tiny-search.yaml), the emergence run's starting point
(recipes/emergence.yaml): tiny's size, pretrained on pair search, and honestly a base model."""

import itertools
import json
import re
from pathlib import Path

import torch

from r1lab.config import load as load_config
from r1lab.models.base_config import BaseConfig
from r1lab.models.corpus import documents
from r1lab.models.io import BUILTINS, is_builtin, load, resolve
from r1lab.models.pretrain import corpus_mix
from r1lab.tasks import R1_ZERO
from r1lab.train.config import GRPOConfig

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def test_tiny_search_is_what_its_recipe_builds():
    assert resolve("tiny-search") == str(BUILTINS["tiny-search"]) and is_builtin("tiny-search")
    cfg = load_config(BaseConfig, RECIPES / "tiny-search.yaml")
    shipped = json.loads((BUILTINS["tiny-search"] / "config.json").read_text())
    assert (shipped["hidden_size"], shipped["num_hidden_layers"], shipped["num_attention_heads"],
            shipped["num_key_value_heads"], shipped["intermediate_size"], shipped["vocab_size"]) == (
        cfg.hidden_size, cfg.num_layers, cfg.num_heads, cfg.num_kv_heads, cfg.intermediate_size, cfg.vocab_size)
    mix = corpus_mix(cfg)
    assert (mix.pair_guess, mix.search_order, mix.pair_slip, mix.wrong_verdict) == (1.0, "anchored", 0.02, 0.0)
    run = load_config(GRPOConfig, RECIPES / "emergence.yaml")
    assert (run.model, run.task) == ("tiny-search", "pairsum")


def test_its_corpus_never_shows_the_r1_zero_template_and_searches_only_in_a_minority():
    docs = list(itertools.islice(documents(0, corpus_mix(load_config(BaseConfig, RECIPES / "tiny-search.yaml"))),
                                 2000))
    assert not any(R1_ZERO[:40] in d or ("<think> Take" in d and "A conversation" in d) for d in docs)
    pair_docs = sum("add up to" in d for d in docs)
    searches = sum(bool(re.search(r"\d+\+\d+=\d+\? ", d)) for d in docs)
    assert pair_docs > 1000 and 0.05 < searches / pair_docs < 0.25


def test_tiny_search_adds_a_tried_pair_and_reads_the_verdict_off_its_sum():
    model, tok = load("tiny-search")
    prefix = "Which two of 7, 3, 12, 4 add up to 16? <think> Take 7 with 3, 12, 4. 7+3=16? 7+3="
    ids = tok(prefix, return_tensors="pt").input_ids
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=160, do_sample=False, pad_token_id=tok.eos_token_id)
    text = tok.decode(out[0, ids.shape[1]:])
    assert text.startswith("10, off by 6, not 16, "), text  # the sum, the gap, the verdict
    assert " 7+12=16? 7+12=19, off by 3, not 16" in text, text  # then the next pair of the list
    tries = re.findall(r"(\d+)\+(\d+)=16\? \1\+\2=(\d+), off by (\d+), (yes|not 16)", "7+3=16? 7+3=" + text)
    assert len(tries) >= 3 and all(int(a) + int(b) == int(s) and abs(16 - int(s)) == int(gap)
                                   and (v == "yes") == (int(s) == 16) for a, b, s, gap, v in tries), text
