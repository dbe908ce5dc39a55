"""The shipped tiny base model: plain transformers loads it with no network, and it is a base model."""

import itertools

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from r1lab.models.corpus import addition_steps, documents
from r1lab.models.io import BUILTIN_DIR, resolve
from r1lab.tasks import get_task, take


def test_builtin_loads_with_plain_transformers(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    tok = AutoTokenizer.from_pretrained(BUILTIN_DIR)
    model = AutoModelForCausalLM.from_pretrained(BUILTIN_DIR)
    n = sum(p.numel() for p in model.parameters())
    assert 0.5e6 <= n <= 5e6
    assert model.config.model_type in ("qwen2", "llama")
    for name in ("tokenizer.json", "tokenizer_config.json", "config.json", "model.safetensors"):
        assert (BUILTIN_DIR / name).is_file()
    assert tok.chat_template and tok.eos_token == "<|endoftext|>"
    ids = tok("What is 1234 + 5678? <answer> 6912 </answer>").input_ids
    assert tok.decode(ids) == "What is 1234 + 5678? <answer> 6912 </answer>"
    assert len(tok.encode("</answer>", add_special_tokens=False)) == 1  # one stop id
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits
    assert logits.shape == (1, len(ids), len(tok)) and torch.isfinite(logits).all()
    assert resolve("tiny") == str(BUILTIN_DIR) == resolve(None)


def test_digits_are_single_tokens():
    tok = AutoTokenizer.from_pretrained(BUILTIN_DIR)
    pieces = tok.convert_ids_to_tokens(tok("98765 + 43210").input_ids)
    assert [p for p in pieces if p.strip("Ġ").isdigit()] == list("9876543210")


def test_corpus_never_holds_the_template_and_is_mostly_answer_only():
    docs = list(itertools.islice(documents(0), 3000))
    text = "\n".join(docs)
    assert "A conversation between User and Assistant" not in text
    assert "reasoning process" not in text and "Assistant solves" not in text
    worked = text.count("carry") + text.count("so far") + text.count("we have")
    answers = sum(d.count("\n") + 1 for d in docs)
    assert "<think>" in text and "<answer>" in text  # tags are one wrapper among several
    # answer-only documents are the clear majority: worked problems are about a quarter
    n_worked = sum(1 for d in docs for line in d.split("\n")
                   if "=" in line and "+" in line and "?" not in line.split("=")[-1])
    assert n_worked / answers < 0.4
    assert worked > 0


def test_addition_steps_are_right():
    """Every worked solution in the corpus ends on the right sum, slips and checks included, and
    each step's 'left' part is what remains of the numbers after chopping the last digit."""
    import random
    import re
    rng = random.Random(0)
    for slip in (False, True):
        for p in take(get_task("arithmetic"), "train", 200, seed=3):
            a, b = p.meta["a"], p.meta["b"]
            steps = addition_steps(rng, a, b, slip=slip)
            assert re.findall(r"\d+", steps)[-1] == str(a + b), steps
            assert ("wrong" in steps or "check" in steps) == slip, steps  # a slip is fixed or checked
    steps = addition_steps(random.Random(1), 6287, 652, slip=False)
    assert "628+65" in steps and "62+6" in steps and "6939" in steps
