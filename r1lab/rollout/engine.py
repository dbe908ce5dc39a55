"""Rollout engine: sample G completions for each of P prompts.

Two paths, chosen per call and logged once per path on `r1lab.rollout`:

* "lean" (Llama / Qwen2, see `r1lab.models.forward.supports`): prompts are left-padded
  and prefilled ONCE each into a preallocated static cache: a long prompt's K/V is kept
  once and its G rows attend to it through one GEMM per (prompt, KV head); a short one's
  is copied into its G rows (`decode.StaticKVCache`; `decode.decode_step` also fuses
  q/k/v and gate/up into one matmul each). Each decode step runs only the live rows: when
  rows stop (eos or a stop sequence) they are compacted out of the cache and the batch.
  Stop checks are
  tensor ops over all live rows (no per-row Python), and the only host sync per step
  is "did any row stop?". Compaction only drops rows; what a live row attends to and
  computes is unchanged.
* "hf-generate" (anything else): `model.generate` with an equivalent config, a
  per-row stop-sequence criterion, and the same post-processing of stops.

Sampling (`sample_next`) is a pure function: temperature 0 is greedy, otherwise
softmax(logits / T) restricted to the top-p nucleus (the smallest prefix of the sorted
distribution whose mass reaches top_p; the top token is always kept), renormalised, drawn
by inverse CDF (one uniform per row). Draws come from the caller's `torch.Generator`, so
rollouts are reproducible. If the generator lives on another device than the model (CPU
generator, GPU model), a device generator is seeded from it once per call.

Per-prompt seeds (`seeds=`, what the trainer passes): the lean path then draws row r's uniform for
token t from a table filled per prompt by that prompt's own generator, so a row's samples depend
only on its prompt, its seed and the model, not on which other prompts share the batch. That makes
a data-parallel rollout (each rank its shard of the prompts) sample exactly the rows one process
would. The HF fallback seeds `generate` once from the first seed: reproducible, but its rows
depend on the batch they share.

Row i*G + j of the result is sample j of prompt i.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn

from r1lab.models import forward as fw
from r1lab.rollout import decode as dec

logger = logging.getLogger("r1lab.rollout")
_LOGGED: set[str] = set()


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 128
    stop_sequences: tuple[tuple[int, ...], ...] = ()  # token-id sequences that end a row; eos always stops


class Rollout(NamedTuple):
    prompt_ids: list[list[int]]  # P prompts, unpadded
    group_size: int  # G; row i*G + j is sample j of prompt i
    completion_ids: Tensor  # (N, T) long, right-padded with pad_token_id
    completion_mask: Tensor  # (N, T) bool, True on generated tokens incl. the final stop token
    lengths: Tensor  # (N,) long
    truncated: Tensor  # (N,) bool: hit max_new_tokens without a stop
    engine: str  # "lean", "hf-generate" or "vllm"
    logprobs: Tensor | None = None  # (N, T) float: the sampler's own log-probs (vllm), 0 where masked


# --------------------------------------------------------------------------- sampling


def sample_next(logits: Tensor, temperature: float, top_p: float, generator: torch.Generator | None = None,
                u: Tensor | None = None) -> Tensor:
    """Draw one token per row. logits (B, V) -> (B,) long.

    Inverse-CDF draw: one uniform per row against the cumulative (nucleus) distribution, a
    handful of cheap ops where `torch.multinomial` draws B x V exponentials. `u` (B, 1) in
    [0, 1): use these uniforms instead of drawing from `generator`."""
    if temperature <= 0.0:
        return logits.argmax(-1)  # (B,)
    scaled = logits.float()
    if temperature != 1.0:
        scaled = scaled / temperature  # (B, V)
    if top_p >= 1.0:
        return _inverse_cdf(torch.softmax(scaled, dim=-1), generator, u)  # (B,)
    sorted_logits, order = scaled.sort(dim=-1, descending=True)  # (B, V)
    probs = torch.softmax(sorted_logits, dim=-1)  # (B, V)
    mass_before = probs.cumsum(-1) - probs  # (B, V): mass of strictly higher-ranked tokens
    outside = mass_before >= top_p  # (B, V)
    outside[:, 0] = False
    choice = _inverse_cdf(probs.masked_fill_(outside, 0.0), generator, u)  # (B,)
    return order.gather(-1, choice[:, None]).squeeze(1)  # (B,)


def _inverse_cdf(probs: Tensor, generator: torch.Generator | None, u: Tensor | None = None) -> Tensor:
    """probs (B, V) >= 0, unnormalised -> (B,) index i with probability probs[i] / sum(probs)."""
    if u is None:
        u = torch.rand((probs.shape[0], 1), generator=generator, device=probs.device, dtype=probs.dtype)  # (B, 1)
    return inverse_cdf_at(probs, u.to(probs.dtype))


def inverse_cdf_at(probs: Tensor, u: Tensor) -> Tensor:
    """probs (B, V) >= 0, unnormalised; u (B, 1) in [0, 1) -> (B,) the token whose cumulative
    interval [cdf[i-1], cdf[i]) holds u * total. A zero-probability token has an empty interval
    and is never drawn. The point is capped just below the total, so that a rounding up to the
    total cannot point past the last positive token. Non-finite probabilities (a diverged
    policy) still give an id inside the vocabulary, for the trainer's divergence check to see."""
    cdf = probs.cumsum(-1)  # (B, V)
    total = cdf[:, -1:]  # (B, 1)
    point = torch.minimum(u * total, torch.nextafter(total, torch.zeros_like(total)))  # (B, 1), < total
    return torch.searchsorted(cdf, point, right=True).squeeze(1).clamp_(max=probs.shape[-1] - 1)  # (B,)


def row_uniforms(seeds: Sequence[int], group: int, steps: int, device: torch.device) -> Tensor:
    """(P*G, steps) uniforms: rows i*G..i*G+G-1 drawn by prompt i's own generator, seeded seeds[i]."""
    rows = [torch.rand((group, steps), generator=torch.Generator().manual_seed(int(s))) for s in seeds]
    return torch.cat(rows).to(device)  # (N, M)


def _device_generator(generator: torch.Generator | None, device: torch.device) -> torch.Generator | None:
    if generator is None or generator.device.type == device.type:
        return generator
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    return torch.Generator(device=device).manual_seed(seed)


# --------------------------------------------------------------------------- stop detection


def _eos_tensor(eos_token_id: int | Sequence[int], device: torch.device) -> Tensor:
    ids = [eos_token_id] if isinstance(eos_token_id, int) else list(eos_token_id)
    return torch.tensor(ids, dtype=torch.long, device=device)  # (E,)


def _stop_table(stops: tuple[tuple[int, ...], ...], device: torch.device) -> tuple[Tensor, Tensor]:
    """Right-aligned stop sequences: ids (S, K) and valid (S, K) bool (K = longest stop, >= 1)."""
    stops = tuple(tuple(s) for s in stops if len(s) > 0)
    k = max((len(s) for s in stops), default=1)
    ids = torch.full((len(stops), k), -1, dtype=torch.long)  # (S, K)
    valid = torch.zeros((len(stops), k), dtype=torch.bool)  # (S, K)
    for i, s in enumerate(stops):
        ids[i, k - len(s):] = torch.tensor(s, dtype=torch.long)
        valid[i, k - len(s):] = True
    return ids.to(device), valid.to(device)


def _matches(window: Tensor, stop_ids: Tensor, stop_valid: Tensor) -> Tensor:
    """window (..., K) of the latest K tokens -> (...,) bool: ends with any stop sequence."""
    if stop_ids.shape[0] == 0:
        return torch.zeros(window.shape[:-1], dtype=torch.bool, device=window.device)
    hit = (window.unsqueeze(-2) == stop_ids) | ~stop_valid  # (..., S, K)
    return hit.all(-1).any(-1)  # (...,)


def _finish(
    prompts: list[list[int]], group: int, out: Tensor, lengths: Tensor, stopped: Tensor, pad_id: int, engine: str
) -> Rollout:
    """Trim out (N, M) to the longest row, pad after each row's end, build the mask."""
    t = int(lengths.max()) if lengths.numel() else 0
    mask = torch.arange(t, device=out.device) < lengths[:, None]  # (N, T)
    ids = out[:, :t].masked_fill(~mask, pad_id)  # (N, T)
    return Rollout(prompts, group, ids, mask, lengths, ~stopped, engine)


# --------------------------------------------------------------------------- lean path


class _StopTracker:
    """Per-row token history, stop detection and end bookkeeping for N rows x M steps."""

    def __init__(self, n: int, m: int, eos: Tensor, stops: tuple[tuple[int, ...], ...], device) -> None:
        self.eos = eos  # (E,)
        self.stop_ids, self.stop_valid = _stop_table(stops, device)  # (S, K)
        self.k = self.stop_ids.shape[1]
        # K-1 leading -1 columns so every stop window is in range and never matches the prompt
        self.hist = torch.full((n, self.k - 1 + m), -1, dtype=torch.long, device=device)  # (N, K-1+M)
        self.lengths = torch.full((n,), m, dtype=torch.long, device=device)  # (N,)
        self.stopped = torch.zeros(n, dtype=torch.bool, device=device)  # (N,)

    def push(self, live: Tensor, tok: Tensor, t: int) -> Tensor:
        """Record token t of the live rows (A,); return (A,) bool: this token ends the row."""
        self.hist[live, self.k - 1 + t] = tok
        done = torch.isin(tok, self.eos)  # (A,)
        if self.stop_ids.shape[0]:
            done |= _matches(self.hist[live, t: t + self.k], self.stop_ids, self.stop_valid)  # (A,)
        return done

    def end(self, rows: Tensor, t: int) -> None:
        self.lengths[rows] = t + 1
        self.stopped[rows] = True

    def tokens(self) -> Tensor:
        return self.hist[:, self.k - 1:]  # (N, M)


def _drawn(uniforms: Tensor | None, live: Tensor, t: int) -> Tensor | None:
    """The live rows' uniforms for token t (A, 1), or None: draw from the generator."""
    return None if uniforms is None else uniforms[live, t, None]


def _lean_generate(
    model: nn.Module, prompts: list[list[int]], group: int, params: SamplingParams,
    eos: Tensor, pad_id: int, generator: torch.Generator | None, uniforms: Tensor | None = None,
) -> Rollout:
    device = model.lm_head.weight.device
    n, m = len(prompts) * group, params.max_new_tokens
    ids, pmask = fw.left_pad(prompts, pad_id, device)  # (P, Lp)
    if m <= 0:
        empty = torch.zeros(n, dtype=torch.long, device=device)  # (N,)
        return _finish(prompts, group, empty[:, None], empty, empty.bool(), pad_id, "lean")
    stops = _StopTracker(n, m, eos, params.stop_sequences, device)

    logits, kvs = dec.prefill(model, ids, pmask)  # (P, V), one pass per prompt
    cache = dec.StaticKVCache(model, kvs, pmask, group, ids.shape[1] + max(m - 1, 1))  # prompt K/V shared or copied
    del kvs
    live = torch.arange(n, device=device)  # (A,) original row of each live row
    pos = pmask.long().sum(-1).repeat_interleave(group)  # (A,) RoPE position of the next token
    tok = sample_next(logits.repeat_interleave(group, dim=0), params.temperature, params.top_p, generator,
                      _drawn(uniforms, live, 0))  # (A,)
    for t in range(m):
        done = stops.push(live, tok, t)  # (A,)
        if t == m - 1:
            stops.end(live[done], t)
            break
        if bool(done.any()):  # the one host sync per step
            stops.end(live[done], t)
            keep = (~done).nonzero().squeeze(1)  # (A',)
            if keep.numel() == 0:
                break
            live, tok, pos = live[keep], tok[keep], pos[keep]
            cache.compact(keep)
        logits = dec.decode_step(model, cache, tok, pos)  # (A, V)
        pos = pos + 1
        tok = sample_next(logits, params.temperature, params.top_p, generator, _drawn(uniforms, live, t + 1))  # (A,)
    return _finish(prompts, group, stops.tokens(), stops.lengths, stops.stopped, pad_id, "lean")


# --------------------------------------------------------------------------- HF fallback


class _StopOnSequences:
    """HF StoppingCriteria-compatible: per-row True once the generated tail matches a stop."""

    def __init__(self, prompt_len: int, stop_ids: Tensor, stop_valid: Tensor) -> None:
        self.prompt_len, self.stop_ids, self.stop_valid = prompt_len, stop_ids, stop_valid

    def __call__(self, input_ids: Tensor, scores: Tensor | None = None, **kwargs) -> Tensor:
        k = self.stop_ids.shape[1]
        gen = input_ids[:, self.prompt_len:]  # (N, t)
        pad = torch.full((gen.shape[0], k), -1, dtype=gen.dtype, device=gen.device)  # (N, K)
        window = torch.cat((pad, gen), dim=1)[:, -k:]  # (N, K)
        return _matches(window, self.stop_ids.to(gen.device), self.stop_valid.to(gen.device))


def _first_stops(gen: Tensor, eos: Tensor, stop_ids: Tensor, stop_valid: Tensor) -> tuple[Tensor, Tensor]:
    """gen (N, T) -> lengths (N,) up to and incl. the first stop, stopped (N,) bool."""
    n, t = gen.shape
    k = stop_ids.shape[1]
    padded = torch.cat((gen.new_full((n, k - 1), -1), gen), dim=1)  # (N, K-1+T)
    ends = torch.isin(gen, eos) | _matches(padded.unfold(1, k, 1), stop_ids, stop_valid)  # (N, T)
    stopped = ends.any(-1)  # (N,)
    first = ends.long().argmax(-1)  # (N,)
    lengths = torch.where(stopped, first + 1, torch.full_like(first, t))  # (N,)
    return lengths, stopped


def _hf_generate(
    model: nn.Module, prompts: list[list[int]], group: int, params: SamplingParams,
    eos: Tensor, pad_id: int, generator: torch.Generator | None,
) -> Rollout:
    from transformers import GenerationConfig, StoppingCriteriaList

    device = next(model.parameters()).device
    ids, pmask = fw.left_pad(prompts, pad_id, device)  # (P, Lp)
    stop_ids, stop_valid = _stop_table(params.stop_sequences, device)  # (S, K)
    greedy = params.temperature <= 0.0
    if greedy and group > 1:  # HF refuses num_return_sequences > 1 without sampling: expand ourselves
        ids, pmask = ids.repeat_interleave(group, dim=0), pmask.repeat_interleave(group, dim=0)  # (N, Lp)
    # every knob set explicitly: unset (None) fields would be filled from the checkpoint's generation_config
    cfg = GenerationConfig(
        max_new_tokens=params.max_new_tokens, min_new_tokens=0, do_sample=not greedy, num_beams=1,
        num_return_sequences=1 if greedy else group, temperature=1.0 if greedy else params.temperature,
        top_p=1.0 if greedy else params.top_p, top_k=0, typical_p=1.0, epsilon_cutoff=0.0, eta_cutoff=0.0,
        repetition_penalty=1.0, no_repeat_ngram_size=0, eos_token_id=eos.tolist(), pad_token_id=pad_id,
    )
    criteria = StoppingCriteriaList([_StopOnSequences(ids.shape[1], stop_ids, stop_valid)])
    seed = None if generator is None else int(torch.randint(0, 2**62, (1,), generator=generator))
    was_training = model.training
    model.eval()
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            if seed is not None:
                torch.manual_seed(seed)
            out = model.generate(
                input_ids=ids, attention_mask=pmask.long(), generation_config=cfg, stopping_criteria=criteria
            )  # (N, Lp + T)
    finally:
        model.train(was_training)
    gen = out[:, ids.shape[1]:]  # (N, T)
    lengths, stopped = _first_stops(gen, eos, stop_ids, stop_valid)
    return _finish(prompts, group, gen, lengths, stopped, pad_id, "hf-generate")


# --------------------------------------------------------------------------- public API


def _log_once(engine: str) -> None:
    if engine not in _LOGGED:
        _LOGGED.add(engine)
        how = ("static-KV decode" if engine == "lean"
               else "transformers model.generate: architecture not supported by the lean path")
        logger.info("rollout engine: %s (%s)", engine, how)


def generate(
    model: nn.Module, prompts: list[list[int]], group_size: int, params: SamplingParams, *,
    eos_token_id: int | Sequence[int], pad_token_id: int, generator: torch.Generator | None = None,
    seeds: Sequence[int] | None = None,
) -> Rollout:
    """Sample `group_size` completions per prompt; see the module docstring for the paths.

    Runs under `torch.inference_mode()`; the returned tensors are ordinary tensors (on the
    model's device) that may be fed to autograd code. A list of eos ids is also accepted.
    `seeds` (one per prompt) replaces `generator`: see "Per-prompt seeds" above.
    """
    if group_size < 1:
        raise ValueError("group_size must be >= 1")
    if seeds is not None:
        if len(seeds) != len(prompts):
            raise ValueError(f"{len(seeds)} seeds for {len(prompts)} prompts")
        generator = torch.Generator().manual_seed(int(seeds[0])) if seeds else None
    lean = fw.supports(model)
    engine = "lean" if lean else "hf-generate"
    _log_once(engine)
    device = next(model.parameters()).device
    eos = _eos_tensor(eos_token_id, device)
    gen = _device_generator(generator, device)
    with torch.inference_mode():
        if lean:
            uniforms = None if seeds is None else row_uniforms(seeds, group_size, params.max_new_tokens, device)
            out = _lean_generate(model, prompts, group_size, params, eos, pad_token_id, gen, uniforms)
        else:
            out = _hf_generate(model, prompts, group_size, params, eos, pad_token_id, generator)
    # plain (non-inference) tensors, so the trainer can use them under autograd
    fields = ("completion_ids", "completion_mask", "lengths", "truncated")
    return out._replace(**{f: getattr(out, f).clone() for f in fields})


class LocalEngine:
    """r1lab's own engine as a rollout backend (the interface rollout/vllm.py's VLLMEngine shares):
    `generate` with per-prompt seeds, and `sync` after an optimizer step, a no-op here because
    the engine reads the policy's own weights."""

    name = "lean"

    def generate(self, model: nn.Module, prompts: list[list[int]], group_size: int, params: SamplingParams, *,
                 eos_token_id: int | Sequence[int], pad_token_id: int, seeds: Sequence[int]) -> Rollout:
        return generate(model, prompts, group_size, params, eos_token_id=eos_token_id, pad_token_id=pad_token_id,
                        seeds=seeds)

    def sync(self, model: nn.Module) -> None:
        pass
