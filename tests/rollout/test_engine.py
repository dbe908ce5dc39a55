"""Rollout engine: greedy == HF generate, stops, compaction, sampler distribution, fallback."""

from __future__ import annotations

import logging
import math

import pytest
import torch

from r1lab.models import forward as fw
from r1lab.rollout import engine
from r1lab.rollout.engine import SamplingParams, generate, sample_next

PROMPTS = [[5, 6, 7, 8, 9, 10, 11], [12, 13], [14, 15, 16, 17]]  # ragged on purpose
NO_EOS = 10_000  # an id the model can never produce


def hf_greedy(model, prompts, group, max_new, eos) -> torch.Tensor:
    ids, mask = fw.left_pad(prompts, 0)
    ids, mask = ids.repeat_interleave(group, dim=0), mask.repeat_interleave(group, dim=0)
    out = model.generate(
        input_ids=ids, attention_mask=mask.long(), do_sample=False, max_new_tokens=max_new,
        eos_token_id=eos, pad_token_id=0,
    )
    return out[:, ids.shape[1]:]  # (N, <=max_new)


def first_stop(tokens: list[int], eos: int, stops: tuple[tuple[int, ...], ...]) -> int | None:
    """Reference stop rule, written the slow obvious way: length up to and incl. the stop, or None."""
    for e, tok in enumerate(tokens):
        if tok == eos or any(len(s) <= e + 1 and tuple(tokens[e + 1 - len(s): e + 1]) == s for s in stops):
            return e + 1
    return None


def check_rollout_shape(r, n: int, pad: int = 0) -> None:
    assert r.completion_ids.shape == r.completion_mask.shape and r.completion_ids.shape[0] == n
    assert r.completion_mask.sum(-1).tolist() == r.lengths.tolist()
    assert (r.completion_ids[~r.completion_mask] == pad).all()
    assert int(r.lengths.max()) == r.completion_ids.shape[1]


def test_greedy_matches_hf_generate(lean_model, decode_layout):
    group, m = 2, 16
    free = hf_greedy(lean_model, PROMPTS, 1, m, NO_EOS)
    eos = int(free[0, 4])  # a token the model really emits: row 0 stops by step 5
    ref = hf_greedy(lean_model, PROMPTS, group, m, eos)
    r = generate(lean_model, PROMPTS, group, SamplingParams(temperature=0.0, max_new_tokens=m),
                 eos_token_id=eos, pad_token_id=0)
    assert r.engine == "lean"
    check_rollout_shape(r, len(PROMPTS) * group)
    for i in range(r.completion_ids.shape[0]):
        n = int(r.lengths[i])
        assert r.completion_ids[i, :n].tolist() == ref[i, :n].tolist()
        assert bool(r.truncated[i]) == (int(ref[i, n - 1]) != eos)
        assert (ref[i, n:] == 0).all()  # HF also stopped there
    assert int(r.lengths[0]) <= 5 and not r.truncated[0]


def test_eos_and_stop_sequences_end_rows_with_stop_in_mask(lean_model):
    m = 20
    free = generate(lean_model, PROMPTS, 1, SamplingParams(temperature=0.0, max_new_tokens=m),
                    eos_token_id=NO_EOS, pad_token_id=0).completion_ids
    assert free.shape == (len(PROMPTS), m)
    stops = (tuple(free[0, 3:5].tolist()), (63, 62, 61))
    eos = int(free[1, 6])
    r = generate(lean_model, PROMPTS, 1, SamplingParams(temperature=0.0, max_new_tokens=m, stop_sequences=stops),
                 eos_token_id=eos, pad_token_id=0)
    check_rollout_shape(r, len(PROMPTS))
    for i in range(len(PROMPTS)):
        stop = first_stop(free[i].tolist(), eos, stops)
        want = stop or m
        assert int(r.lengths[i]) == want and bool(r.truncated[i]) == (stop is None)
        assert r.completion_ids[i, :want].tolist() == free[i, :want].tolist()  # incl. the stop token(s)
    assert int(r.lengths[0]) <= 5 and int(r.lengths[1]) <= 7


def test_compaction_gives_same_tokens_as_rows_run_alone(qwen2_model, decode_layout):
    m = 24
    free = generate(qwen2_model, PROMPTS, 1, SamplingParams(temperature=0.0, max_new_tokens=m),
                    eos_token_id=NO_EOS, pad_token_id=0).completion_ids
    eos = int(free[1, 2])  # row 1 ends early, so the batch is compacted
    params = SamplingParams(temperature=0.0, max_new_tokens=m, stop_sequences=(tuple(free[2, 9:11].tolist()),))
    batch = generate(qwen2_model, PROMPTS, 3, params, eos_token_id=eos, pad_token_id=0)
    assert len(set(batch.lengths.tolist())) > 1  # rows really finished at different steps
    for i, p in enumerate(PROMPTS):
        alone = generate(qwen2_model, [p], 1, params, eos_token_id=eos, pad_token_id=0)
        n = int(alone.lengths[0])
        for j in range(3):
            assert int(batch.lengths[i * 3 + j]) == n
            assert batch.completion_ids[i * 3 + j, :n].tolist() == alone.completion_ids[0, :n].tolist()


def test_sampling_is_reproducible_and_uses_the_generator(lean_model):
    params = SamplingParams(temperature=1.0, top_p=0.9, max_new_tokens=12)

    def run(seed: int):
        return generate(lean_model, PROMPTS, 4, params, eos_token_id=3, pad_token_id=0,
                        generator=torch.Generator().manual_seed(seed))

    a, b, c = run(0), run(0), run(1)
    assert torch.equal(a.completion_ids, b.completion_ids) and torch.equal(a.lengths, b.lengths)
    assert not torch.equal(a.completion_ids, c.completion_ids)
    assert not a.completion_ids.is_inference()  # usable under autograd by the trainer


def test_max_new_tokens_and_truncation(qwen2_model):
    r = generate(qwen2_model, PROMPTS, 2, SamplingParams(temperature=0.0, max_new_tokens=3),
                 eos_token_id=NO_EOS, pad_token_id=0)
    assert r.completion_ids.shape == (6, 3) and r.truncated.all() and (r.lengths == 3).all()
    r = generate(qwen2_model, PROMPTS, 2, SamplingParams(temperature=0.0, max_new_tokens=1),
                 eos_token_id=NO_EOS, pad_token_id=0)
    assert r.completion_ids.shape == (6, 1) and r.truncated.all()


# ----------------------------------------------------------------------------- sampler


def nucleus(logits: list[float], temperature: float, top_p: float) -> list[float]:
    """Reference renormalised nucleus distribution, in plain Python."""
    z = [x / temperature for x in logits]
    mx = max(z)
    e = [math.exp(x - mx) for x in z]
    probs = [x / sum(e) for x in e]
    keep, mass = set(), 0.0
    for i in sorted(range(len(probs)), key=lambda i: -probs[i]):
        if mass >= top_p:
            break
        keep.add(i)
        mass += probs[i]
    total = sum(probs[i] for i in keep)
    return [probs[i] / total if i in keep else 0.0 for i in range(len(probs))]


def chi2_critical(df: int, z: float = 3.0902) -> float:
    """Upper critical value of chi-square(df) at p = 1e-3 (z = N(0,1) quantile), by the
    Wilson-Hilferty approximation; slightly conservative for small df (df=1: 11.2 vs 10.83)."""
    c = 2.0 / (9.0 * df)
    return df * (1.0 - c + z * math.sqrt(c)) ** 3


def chi_square(counts: list[int], probs: list[float]) -> tuple[float, int]:
    """Pearson statistic and degrees of freedom; cells expecting < 5 draws are pooled."""
    total = sum(counts)
    cells, pool_obs, pool_exp = [], 0, 0.0
    for c, p in zip(counts, probs, strict=True):
        if total * p >= 5:
            cells.append((c, total * p))
        else:
            pool_obs, pool_exp = pool_obs + c, pool_exp + total * p
    if pool_exp > 0:
        cells.append((pool_obs, pool_exp))
    return sum((o - e) ** 2 / e for o, e in cells), len(cells) - 1


@pytest.mark.parametrize("temperature,top_p", [(1.0, 1.0), (0.7, 1.0), (1.3, 0.8), (0.8, 0.6)])
def test_sample_next_draws_from_renormalised_nucleus(temperature, top_p):
    logits = [2.0, 1.5, 0.9, 0.3, -0.4, -1.0, -2.2]
    want = nucleus(logits, temperature, top_p)
    draws = 40_000
    batch = torch.tensor(logits).expand(draws, -1)  # (draws, V)
    got = sample_next(batch, temperature, top_p, torch.Generator().manual_seed(123))
    counts = torch.bincount(got, minlength=len(logits)).tolist()
    assert all(counts[i] == 0 for i in range(len(logits)) if want[i] == 0)
    support = [i for i, p in enumerate(want) if p > 0]
    chi2, df = chi_square([counts[i] for i in support], [want[i] for i in support])
    assert chi2 < chi2_critical(df), (chi2, counts, want)


def test_generate_first_token_follows_model_distribution(qwen2_model):
    """End to end: G draws of the first token == the model's tempered nucleus distribution."""
    draws, temperature, top_p = 20_000, 0.8, 0.9
    with torch.no_grad():
        logits = qwen2_model(input_ids=torch.tensor([PROMPTS[0]])).logits[0, -1].tolist()
    want = nucleus(logits, temperature, top_p)
    r = generate(qwen2_model, [PROMPTS[0]], draws, SamplingParams(temperature, top_p, max_new_tokens=1),
                 eos_token_id=NO_EOS, pad_token_id=0, generator=torch.Generator().manual_seed(7))
    counts = torch.bincount(r.completion_ids[:, 0], minlength=len(want)).tolist()
    assert all(c == 0 for c, p in zip(counts, want, strict=True) if p == 0)
    support = [i for i, p in enumerate(want) if p > 0]
    assert len(support) > 3
    chi2, df = chi_square([counts[i] for i in support], [want[i] for i in support])
    assert chi2 < chi2_critical(df), (chi2, df)


def test_sampler_never_draws_zero_probability_tokens():
    probs = torch.tensor([[0.0, 2.0, 0.0, 0.0], [1.0, 0.0, 3.0, 0.0]]).repeat(5000, 1)  # unnormalised
    got = engine._inverse_cdf(probs, torch.Generator().manual_seed(0)).view(5000, 2)
    assert (got[:, 0] == 1).all() and set(got[:, 1].tolist()) == {0, 2}
    assert abs((got[:, 1] == 2).float().mean().item() - 0.75) < 0.03


def test_sampler_point_at_the_total_stays_on_the_last_positive_token():
    """u * total rounded up to the total must not point past the last positive token."""
    probs = torch.tensor([[1.0, 1.0, 0.0, 0.0], [0.0, 3.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    top = torch.ones((3, 1))  # beyond torch.rand's range: the worst rounding case
    assert engine.inverse_cdf_at(probs, top).tolist() == [1, 1, 3]
    assert engine.inverse_cdf_at(probs, torch.zeros((3, 1))).tolist() == [0, 1, 0]
    nan = torch.full((2, 4), float("nan"))  # a diverged policy: still an id in the vocabulary
    assert all(0 <= i < 4 for i in engine.inverse_cdf_at(nan, torch.full((2, 1), 0.5)).tolist())


def test_sample_next_greedy_and_tiny_top_p():
    logits = torch.randn(5, 11, generator=torch.Generator().manual_seed(0))
    assert torch.equal(sample_next(logits, 0.0, 1.0, None), logits.argmax(-1))
    assert torch.equal(sample_next(logits, 1.0, 1e-6, torch.Generator().manual_seed(0)), logits.argmax(-1))


# ----------------------------------------------------------------------------- fallback


def test_fallback_on_unsupported_architecture(gpt2_model, caplog):
    assert not fw.supports(gpt2_model)
    m = 10
    engine._LOGGED.discard("hf-generate")
    with caplog.at_level(logging.INFO, logger="r1lab.rollout"):
        free = generate(gpt2_model, PROMPTS, 2, SamplingParams(temperature=0.0, max_new_tokens=m),
                        eos_token_id=NO_EOS, pad_token_id=0)
    assert free.engine == "hf-generate" and "hf-generate" in caplog.text
    # independent check: plain greedy loop on each unpadded prompt
    for i, p in enumerate(PROMPTS):
        seq = list(p)
        with torch.no_grad():
            for _ in range(m):
                seq.append(int(gpt2_model(input_ids=torch.tensor([seq])).logits[0, -1].argmax()))
        assert free.completion_ids[2 * i].tolist() == seq[len(p):] == free.completion_ids[2 * i + 1].tolist()
    stops = (tuple(free.completion_ids[0, 2:4].tolist()),)
    eos = int(free.completion_ids[2, 5])
    r = generate(gpt2_model, PROMPTS, 2, SamplingParams(temperature=0.0, max_new_tokens=m, stop_sequences=stops),
                 eos_token_id=eos, pad_token_id=0)
    check_rollout_shape(r, 6)
    for i in range(6):
        stop = first_stop(free.completion_ids[i].tolist(), eos, stops)
        want = stop or m
        assert int(r.lengths[i]) == want and bool(r.truncated[i]) == (stop is None)
        assert r.completion_ids[i, :want].tolist() == free.completion_ids[i, :want].tolist()
    sampled = [generate(gpt2_model, PROMPTS, 2, SamplingParams(max_new_tokens=m), eos_token_id=NO_EOS,
                        pad_token_id=0, generator=torch.Generator().manual_seed(5)) for _ in range(2)]
    assert torch.equal(sampled[0].completion_ids, sampled[1].completion_ids)


def test_per_prompt_seeds_make_rows_independent_of_the_batch(lean_model):
    """With one seed per prompt a row's samples depend on its prompt and seed only: a batch split
    in two (as data-parallel ranks split it) samples exactly the rows of the whole batch."""
    params = SamplingParams(temperature=1.0, top_p=0.9, max_new_tokens=10)
    prompts, seeds = PROMPTS + [[18, 19, 20]], [11, 12, 13, 14]
    kw = dict(eos_token_id=3, pad_token_id=0)
    whole = generate(lean_model, prompts, 3, params, seeds=seeds, **kw)
    parts = [generate(lean_model, prompts[a:b], 3, params, seeds=seeds[a:b], **kw) for a, b in ((0, 2), (2, 4))]
    rows = [r for p in parts for r, n in zip(p.completion_ids.tolist(), p.lengths.tolist(), strict=True)
            for r in [r[:n]]]
    assert rows == [r[:n] for r, n in zip(whole.completion_ids.tolist(), whole.lengths.tolist(), strict=True)]
    other = generate(lean_model, prompts, 3, params, seeds=[11, 12, 13, 99], **kw)
    assert torch.equal(other.completion_ids[:9], whole.completion_ids[:9])  # prompts 0-2 kept their seeds
    assert not torch.equal(other.completion_ids[9:], whole.completion_ids[9:])
