"""The continuous-batching row cache: HF's logits, and a row's logits bit-identical whatever shares its step."""

from __future__ import annotations

import random

import pytest
import torch

from r1lab.rollout import decode as dec
from r1lab.rollout.slots import SlotKVCache, decode_rows, fill_order


def _prefill(model, prompt: list[int]):
    ids = torch.tensor([prompt])
    return dec.prefill(model, ids, torch.ones_like(ids, dtype=torch.bool))


def _alone(model, prompt: list[int], forced: list[int], slots: int) -> torch.Tensor:
    """Logits (1 + len(forced), V) of one row decoding `forced` by itself."""
    cache = SlotKVCache(model, 1, slots)
    logits, kvs = _prefill(model, prompt)
    cache.add(kvs, 1)
    return torch.cat([logits] + [decode_rows(cache, torch.tensor([t])) for t in forced])


def _assert_rows_match_alone(model, prompts: list[list[int]], forced: list[list[int]], slots: int) -> None:
    """Prompt i joins at step 3i with n = 1 + i % 3 rows; rows leave when their forced tokens
    run out and are moved around when others leave. Each row's logits at every step must equal,
    bit for bit, those it gets decoding alone."""
    alone = [_alone(model, p, f, slots) for p, f in zip(prompts, forced, strict=True)]
    cache, live, got, step = SlotKVCache(model, 24, slots), [], {}, 0  # live: [prompt, sample, tokens fed]
    while len(got) < len(prompts) or live:
        for i in [i for i in range(len(prompts)) if i not in got and 3 * i <= step]:
            logits, kvs = _prefill(model, prompts[i])
            n = 1 + i % 3
            cache.add(kvs, n)
            got[i] = [[logits[0]] for _ in range(n)]
            live += [[i, j, 0] for j in range(n)]
        if live:
            out = decode_rows(cache, torch.tensor([forced[i][t] for i, _, t in live]))
            for r, row in enumerate(live):
                got[row[0]][row[1]].append(out[r])
                row[2] += 1
            done = {r for r, (i, _, t) in enumerate(live) if t == len(forced[i])}
            order = fill_order(len(live), done)
            cache.reorder(order)
            live = [live[r] for r in order]
        step += 1
    for i, samples in got.items():
        for rows in samples:
            assert torch.equal(torch.stack(rows), alone[i]), f"prompt {i}"


@pytest.fixture(params=["qwen2", "llama", "llama-bias-mha"])
def model(request, make_tiny):
    return make_tiny(request.param)


@torch.inference_mode()
def test_decode_rows_matches_hf_forward(model):
    prompt, forced = [5, 6, 7, 8, 9], [10, 11, 12, 13, 14, 15]
    hf = model(torch.tensor([prompt + forced])).logits[0, len(prompt) - 1:]  # (1 + 6, V)
    torch.testing.assert_close(_alone(model, prompt, forced, 160), hf, rtol=1e-4, atol=1e-4)


@torch.inference_mode()
def test_a_row_is_bit_identical_whatever_else_runs_beside_it(model):
    """Rows join at different steps (n = 1..3 per prompt, prompts of 2..90 tokens), leave at
    different steps, and are moved around when others leave: each row's logits at every step
    equal, bit for bit, those it gets decoding alone."""
    rng = random.Random(0)
    prompts = [[rng.randrange(1, 60) for _ in range(rng.randint(2, 90))] for _ in range(10)]
    forced = [[rng.randrange(1, 60) for _ in range(rng.randint(5, 60))] for _ in prompts]
    _assert_rows_match_alone(model, prompts, forced, 160)


@pytest.mark.parametrize("name", ["qwen2", "llama-bias-mha"])
@torch.inference_mode()
def test_a_short_row_is_bit_identical_beside_long_ones(name, make_tiny):
    """Short rows share steps with rows of 300-700 tokens, so the keys attended reach several
    hundred: the regime where P.V must be summed in fixed chunks (and MHA's single query padded)."""
    model = make_tiny(name, max_position_embeddings=1024)
    rng = random.Random(1)
    prompts = [[rng.randrange(1, 60) for _ in range(rng.choice([rng.randint(2, 40), rng.randint(300, 600)]))]
               for _ in range(8)]
    forced = [[rng.randrange(1, 60) for _ in range(rng.randint(20, 100))] for _ in prompts]
    _assert_rows_match_alone(model, prompts, forced, 768)


def test_fill_order_moves_only_the_last_rows_into_holes():
    assert fill_order(6, {1, 4}) == [0, 5, 2, 3]
    assert fill_order(4, {3}) == [0, 1, 2]
    assert fill_order(3, {0, 1, 2}) == []
    assert fill_order(5, {0}) == [4, 1, 2, 3]
