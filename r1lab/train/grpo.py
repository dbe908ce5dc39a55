"""R1-Zero GRPO: reinforcement learning straight from a base model with rule rewards.

`--algo` (r1lab/train/presets.py) picks the advantage function, the policy loss (token-clipped,
GSPO or CISPO), the loss aggregation and the clip range once, at construction; DAPO's dynamic
sampling is `r1lab/train/batch.py`. With the
default preset, grpo, the objective is the per-token form of GRPO (DeepSeekMath, arXiv 2402.03300, eq. 3), which is
what open implementations call "GRPO":

    L = 1/G Σ_i 1/|o_i| Σ_t [ -min(ρ_it A_i, clip(ρ_it, 1-ε, 1+ε) A_i) + β k3_it ]

- ρ_it = π_θ(o_it | q, o_i<t) / π_old(o_it | q, o_i<t), a per-token ratio.
- A_i = (r_i - mean_G r) / (std_G r + 1e-4) with the sample std, the same on every token of o_i.
- k3_it = π_ref/π_θ - log(π_ref/π_θ) - 1, per token, added to the loss (not to the reward).
- Aggregation: token mean within each completion, then mean over completions.
- r_i = accuracy + format (equal weights, both rules, no reward model); DeepSeek-R1's later
  stages add `language_weight` x the language-consistency reward and may ask for the readable
  format (`format_rule`, r1lab/verifiers/format.py).

Schedule (paper): one rollout per step, split into `num_minibatches` minibatches (by question,
so each question's group stays together), `mu` epochs over them, one optimizer step each.
Old log-probs are computed once per rollout; with mu = 1 and one minibatch the policy is its
own old policy (ρ = 1), so that forward pass is skipped. The reference model is a frozen copy of
the initial policy, replaced by the current policy every `ref_refresh_steps`; β = 0 loads none.

KL to the initial policy (`kl_init` in metrics.jsonl), for every preset and β: every `kl_every`
steps, the k3 estimate of KL(π_old || π_init) over the step's rollout tokens (sampled from π_old,
the policy before this step's update), from a no-grad forward of a frozen copy of the initial
policy; it never enters the loss. It is null on the steps in between, never 0 for "not measured"
(likewise `kl`, the in-loss KL to the reference, is null when β = 0). With β > 0 the reference is
that copy until its first refresh; after it, and always with β = 0, the copy is one more model in
memory (negligible here; for a large model set `kl_every 0`, which keeps no copy).

Several processes (`torchrun`, r1lab/train/dist.py): the step runs on the global batch on every
rank; `rollout` generates this rank's share of the questions and gathers the shards, `update`
trains on this rank's share of each minibatch with the whole minibatch's loss normaliser, and its
metrics are reduced over ranks. Sampling uses one seed per question drawn from the run's generator,
so any number of ranks samples the rows one process samples.
Rollout backends (`--rollout`): r1lab's engine, or colocated vLLM (rollout/vllm.py), whose own
sampling log-probs correct the update by truncated importance sampling (algos/tis.py).
Mixture-of-Experts policies (DeepSeek-V3 architecture) train through the HF forward; their
router load balance is logged per step (models/moe.py).

Defaults, and where they depart from the paper for a 1M-parameter model on 2 CPU cores:
G = 8 (paper 16), 8 questions per step (paper 32), lr 2e-4 (paper 3e-6: tiny models need
larger steps), ε = 0.2 (paper's R1-Zero: 10), β = 0.04 (DeepSeekMath; R1 uses 0.001), reference
refresh 400 (paper), rollout temperature 1.0 (paper), mu = 1 (paper).
Why β = 0.04 here: with β = 0.001, at lr 3e-4 (the default then; 2e-4 now, not re-measured),
one seed in three locked into the corpus's "working then <answer>" style without <think> tags
(accuracy 1.0, format 0.0): entropy fell to 0.01 within 25 steps and the tagged style was never
sampled again. The stronger pull to the reference kept it sampled long enough for the format
reward to win (same seed: format 0.99).
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Callable

import torch

from r1lab.algos import kl_k3, overlong_penalty, truncated_is_weights
from r1lab.errors import UserError
from r1lab.models import forward as fw
from r1lab.models import moe
from r1lab.rollout.engine import LocalEngine, Rollout, SamplingParams
from r1lab.rollout.text import decode_completions, encode_prompts, stop_sequences
from r1lab.tasks import Problem, r1_zero_prompt
from r1lab.train.batch import Batch, refill
from r1lab.train.behaviour import step_behaviour
from r1lab.train.config import GRPOConfig
from r1lab.train.dist import Dist
from r1lab.train.logprobs import completion_logprobs, hf_token_mask
from r1lab.train.optim import PolicyOptimizer
from r1lab.train.presets import AGGREGATIONS, PRESETS, global_normaliser
from r1lab.verifiers.format import FORMATS
from r1lab.verifiers.language import detect_language, language_reward
from r1lab.verifiers.rewards import RewardGuard, column_reward, load_reward_fn, rule_rewards


class TrainingStopped(UserError):
    """The run cannot usefully go on (the policy diverged); what it wrote so far is kept."""


class GRPO:
    """Owns the policy, the reference and the optimizer; `step()` runs one GRPO step."""

    def __init__(self, cfg: GRPOConfig, model, tokenizer, verifier: str, dist: Dist | None = None, engine=None):
        self.dist = dist or Dist(device=next(model.parameters()).device)
        model = self.dist.prepare(model, getattr(torch, cfg.dtype))  # FSDP: sharded in place; else as it is
        self.cfg, self.model, self.tok, self.verifier = cfg, model, tokenizer, verifier
        self.ref = self.dist.frozen_copy(model) if cfg.beta > 0 else None
        # the initial policy, for kl_init: the reference itself until its first refresh
        self.init = None if not cfg.kl_every else self.ref if self.ref is not None else self.dist.frozen_copy(model)
        preset = PRESETS[cfg.algo]  # chosen once: the loss below calls functions, never names
        self.advantages, self.policy_loss = preset.advantages, preset.policy_loss
        self.aggregate = AGGREGATIONS[preset.aggregation](cfg.max_new_tokens)
        self.normaliser = global_normaliser(preset.aggregation)  # the whole minibatch's count, over all ranks
        if cfg.activation_checkpointing and not fw.supports(model):
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        self.scorer = self.dist.scorer(model)  # the training forward (through DDP when distributed)
        self.engine = engine or LocalEngine()  # the rollout backend
        self.routers = moe.RouterStats(model) if moe.is_moe(model) else None
        self.opt = PolicyOptimizer(model, cfg.lr, cfg.weight_decay, cfg.warmup_steps)  # fp32 master weights if half
        self.params = SamplingParams(temperature=cfg.temperature, top_p=cfg.top_p,
                                     max_new_tokens=cfg.max_new_tokens,
                                     stop_sequences=stop_sequences(tokenizer))
        self.gen = torch.Generator().manual_seed(cfg.seed)  # global: the same on every rank
        self.extra_reward = load_reward_fn(cfg.reward_fn, cfg.reward_timeout) if cfg.reward_fn else None
        self.guard = RewardGuard()  # this run's reward calls: failures cost a sample, the first few are logged
        self.steps_done = 0
        self.nonfinite_streak = 0  # updates skipped in a row for a non-finite loss or gradient

    # ---- rollout and rewards -------------------------------------------------------------
    def rollout(self, problems: list[Problem]) -> Batch:
        """The global batch for `problems`: this rank rolls out and scores its share, then the
        shares are gathered (one process: all of them, nothing to gather)."""
        cfg = self.cfg
        seeds = torch.randint(0, 2**62, (len(problems),), generator=self.gen).tolist()  # one per question
        mine = self.dist.share(slice(0, len(problems)))
        problems, seeds = problems[mine], seeds[mine]
        prompts = encode_prompts(self.tok, [r1_zero_prompt(p.question) for p in problems])
        self.model.eval()
        try:
            with self.dist.full_weights(self.model):
                ro = self.engine.generate(self.model, prompts, cfg.group_size, self.params,
                                          eos_token_id=self.tok.eos_token_id, pad_token_id=self.tok.pad_token_id,
                                          seeds=seeds)
        except RuntimeError:
            if self._finite_logits(prompts[0]):
                raise  # not divergence: a bug, keep its traceback
            raise TrainingStopped(f"stopped at step {self.steps_done + 1}: the policy's logits are not finite "
                                  "(the weights diverged; lower lr or raise warmup_steps)") from None
        texts = decode_completions(self.tok, ro.completion_ids, ro.completion_mask)
        refs = [p.answer for p in problems for _ in range(cfg.group_size)]
        rewards, acc, fmt, failures = rule_rewards(texts, refs, self.verifier, cfg.accuracy_weight,
                                                   cfg.format_weight, self.guard, FORMATS[cfg.format_rule])
        parts = {"accuracy": cfg.accuracy_weight * acc, "format": cfg.format_weight * fmt}  # (N,) each
        if cfg.language_weight:  # R1's language-consistency reward, summed with the others
            targets = [detect_language(p.question) for p in problems for _ in range(cfg.group_size)]
            lang, lang_failures = column_reward(language_reward, texts, {"target": targets}, self.guard)  # (N,)
            rewards, failures = rewards + cfg.language_weight * lang, failures + lang_failures
            parts["language"] = cfg.language_weight * lang
        if self.extra_reward is not None:
            extra, extra_failures = column_reward(self.extra_reward, texts, {"answer": refs}, self.guard,  # (N,)
                                                  cfg.reward_timeout)
            rewards, failures, parts["extra"] = rewards + extra, failures + extra_failures, extra
        if cfg.overlong_buffer:
            penalty, _ = overlong_penalty(ro.lengths.cpu(), cfg.max_new_tokens, cfg.overlong_buffer)  # (N,)
            rewards, parts["overlong"] = rewards + penalty, penalty
        dev = ro.completion_ids.device  # rewards live beside the rollout (a GPU run: on the GPU)
        batch = Batch(ro, problems, texts, rewards.to(dev), acc.to(dev), fmt.to(dev), failures,
                      reward_parts={k: v.to(dev) for k, v in parts.items()})
        return self.dist.gather(batch, self.tok.pad_token_id)

    # ---- one GRPO step -------------------------------------------------------------------
    def step(self, problems: list[Problem],
             more: Callable[[int], list[Problem]] | None = None) -> tuple[dict, Batch]:
        """One step on `problems`; with dynamic sampling, `more(n)` supplies n further questions."""
        cfg, t0 = self.cfg, time.perf_counter()
        if self.dist.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.dist.device)  # the step's own peak: gpu_peak_gib
        fresh = batch = self.rollout(problems)
        sampling = {"resample_rounds": 0, "groups_short": 0, "reward_failures": fresh.reward_failures}
        if cfg.dynamic_sampling and more is not None:
            batch, sampling = refill(fresh, lambda: self.rollout(more(len(problems))),
                                     cfg.max_resample_rounds, self.tok.pad_token_id)
        rewards = batch.rewards  # (N,)
        if cfg.shuffle_rewards:  # the control run: same rollouts, rewards permuted across the step
            rewards = _shuffled(rewards, cfg.seed, self.steps_done)  # (N,)
        batch.advantages, adv_metrics = self.advantages(rewards, cfg.group_size)  # (N,)
        t_rollout = time.perf_counter() - t0
        behaviour, batch.notable = step_behaviour(fresh, self.verifier)
        stats = self.update(batch)
        seconds = time.perf_counter() - t0
        n_tokens = int(batch.rollout.lengths.sum())
        metrics = {  # reward, accuracy, length: over the fresh questions (dynamic sampling would bias them)
            "step": self.steps_done,
            "reward": _nanmean(fresh.rewards), "accuracy": _nanmean(fresh.accuracy),
            "format_rate": _nanmean(fresh.format), "mean_length": fresh.rollout.lengths.float().mean().item(),
            "truncated_rate": fresh.rollout.truncated.float().mean().item(),
            **_length_split(fresh),
            # None = not measured: kl needs beta > 0, kl_init is measured every kl_every steps
            "kl": mean(stats.get("kl_mean", [])),
            "kl_init": stats["kl_init"][0] if "kl_init" in stats else None,
            "clip_fraction": mean(stats["clip_frac"]),
            "clip_fraction_low": mean(stats["clip_frac_low"]), "clip_fraction_high": mean(stats["clip_frac_high"]),
            "frac_zero_std_groups": adv_metrics["frac_zero_std_groups"],
            "entropy": mean(stats["entropy"]), "grad_norm": mean(stats["grad_norm"]),
            "loss": mean(stats["loss"]), "lr": self.opt.last_lr(),
            "skipped_updates": int(sum(stats["skipped_update"])),
            "reward_failures": sampling["reward_failures"], "resample_rounds": sampling["resample_rounds"],
            "groups_short": sampling["groups_short"],
            "tokens_per_second": n_tokens / seconds, "rollout_seconds": t_rollout, "seconds": seconds,
            **behaviour,  # reward by component, lenient accuracy, styles, lengths, reflection, repetition
            **self._scale_metrics(stats),  # GPU memory, the sampler's log-prob mismatch (vllm), MoE load balance
        }
        return metrics, batch

    def _scale_metrics(self, stats: dict[str, list[float]]) -> dict:
        out = {}
        if self.dist.device.type == "cuda":
            out["gpu_peak_gib"] = torch.cuda.max_memory_allocated(self.dist.device) / 2**30
        if "mismatch_mean" in stats:  # a sampler with its own log-probs (vllm): the gap TIS corrects
            out.update(rollout_logprob_mismatch=mean(stats["mismatch_mean"]),
                       rollout_logprob_mismatch_max=max(stats["mismatch_max"]),
                       tis_weight_mean=mean(stats["tis_weight_mean"]), tis_capped_frac=mean(stats["tis_capped_frac"]))
        if self.routers is not None:
            counts = self.routers.take()  # (L, E) this rank's routed tokens
            counts = torch.tensor(self.dist.sum(counts.flatten().double().tolist())).view_as(counts).long()
            out.update(moe.balance_metrics(counts), moe_active_param_share=moe.active_param_share(self.model))
        return out

    def update(self, batch: Batch) -> dict[str, list[float]]:
        """The step's training part on a final batch (advantages set): reference and, when needed,
        old-policy log-probs, then `mu` epochs over `num_minibatches` minibatches, one optimizer
        step each; the schedule step and the reference refresh. Returns per-update stats."""
        cfg, ro, G = self.cfg, batch.rollout, self.cfg.group_size
        self.model.train()
        mbs = _minibatches(ro.completion_ids.shape[0] // G, cfg.num_minibatches)  # the global minibatches
        parts = [self.dist.share(q) for q in mbs]  # this rank's questions of each
        advantages = batch.advantages.to(ro.completion_ids.device)  # (N,)
        on_policy = cfg.mu == 1 and cfg.num_minibatches == 1
        old = None if on_policy else [self._logprobs(self.model, ro, q) for q in parts]
        ref = [self._logprobs(self.ref, ro, q) for q in parts] if self.ref is not None else None
        before = old or []  # the pre-update policy's log-probs, per minibatch (on-policy: filled below)
        stats: dict[str, list[float]] = {}
        for _ in range(cfg.mu):
            for k, (q, mine) in enumerate(zip(mbs, parts, strict=True)):
                rows = slice(mine.start * G, mine.stop * G)
                mask = ro.completion_mask[rows]  # (n, T)
                with self._routing(ro.prompt_ids[mine], mask):
                    logp, ent = self.scorer(ro.prompt_ids[mine], ro.completion_ids[rows], mask, G,
                                            temperature=cfg.temperature, with_entropy=True,
                                            checkpoint_layers=cfg.activation_checkpointing)
                if old is None:  # on-policy: one minibatch, one epoch, so this is the pre-update policy
                    before.append(logp.detach())  # (n, T)
                old_logp = before[k]  # (n, T)
                loss_tok, m = self.policy_loss(logp, old_logp, advantages[rows], mask,
                                               cfg.epsilon, cfg.epsilon_high)
                if ro.logprobs is not None:  # sampled by another engine: truncated importance sampling
                    weight, tm = truncated_is_weights(old_logp, ro.logprobs[rows], mask, cfg.tis_cap)  # (n, T)
                    loss_tok = loss_tok * weight
                    m.update(tm)
                if ref is not None:
                    kl_tok, km = kl_k3(logp, ref[k], mask)  # (n, T)
                    loss_tok = loss_tok + cfg.beta * kl_tok
                    m.update(km)
                loss, _ = self.aggregate(loss_tok, mask, **self.normaliser(ro.completion_mask[q.start * G:q.stop * G]))
                self.opt.zero_grad()
                (loss * self.dist.grad_scale).backward()  # DDP / FSDP average over ranks; the loss is their sum
                total = torch.tensor(self.dist.sum([loss.item()])[0])  # the global loss, for the finiteness check
                gnorm, finite = self.opt.clip_and_step(cfg.max_grad_norm, total)
                self.nonfinite_streak = 0 if finite else self.nonfinite_streak + 1
                n_tok = int(mask.sum())
                m.update(loss=loss.item(), entropy=(ent.detach() * mask).sum().item() / max(1, n_tok))
                m = self.dist.reduce(m, n_tok)  # over all ranks: sums, token-weighted means, extremes
                m.update(grad_norm=gnorm.item(), skipped_update=float(not finite))
                for key, v in m.items():
                    stats.setdefault(key, []).append(v)
        step = self.steps_done + 1
        if self.init is not None and step % cfg.kl_every == 0:
            init = ref if self.init is self.ref else [self._logprobs(self.init, ro, q) for q in parts]
            masks = [ro.completion_mask[q.start * G:q.stop * G] for q in parts]
            kl_sum, n_tok = self.dist.sum(_kl_to_initial(before, init, masks))
            stats["kl_init"] = [kl_sum / max(1.0, n_tok)]
        self.opt.schedule_step()
        self.engine.sync(self.model)  # a backend with its own copy of the weights gets the new ones
        self.steps_done = step
        if self.ref is not None and self.steps_done % cfg.ref_refresh_steps == 0:
            if self.init is self.ref:  # first refresh: the initial policy stays in self.init
                self.ref = self.dist.frozen_copy(self.model)
            else:
                self.ref.load_state_dict(self.model.state_dict())
        return stats

    def _routing(self, prompt_ids: list[list[int]], mask: torch.Tensor):
        """A MoE policy: count the routed tokens of this forward (its real tokens only)."""
        if self.routers is None:
            return contextlib.nullcontext()
        return self.routers.tracking(hf_token_mask(prompt_ids, mask, self.cfg.group_size))

    # ---- checkpoint state ----------------------------------------------------------------
    def save_state(self, out: Path | None) -> None:
        """Everything needed to continue exactly: policy (a from_pretrained directory), reference,
        optimizer, scheduler, the sampling generator and counters (global RNGs: the caller). All of
        it is global, so any number of ranks resumes it. Every rank calls this (FSDP gathers full
        tensors); rank 0 passes the directory, the others None."""
        d = self.dist
        d.write_model(self.model, self.tok, out)
        if self.ref is not None:
            d.save_weights(self.ref, out and out / "reference.safetensors")
        if self.init is not None and self.init is not self.ref:
            d.save_weights(self.init, out and out / "initial.safetensors")
        opt = d.optimizer_state(self.model, self.opt)
        if out is not None:
            torch.save({**opt, "generator": self.gen.get_state(), "steps_done": self.steps_done,
                        "nonfinite_streak": self.nonfinite_streak}, out / "trainer.pt")

    def load_state(self, path: Path) -> None:
        """Restore what `save_state` wrote; the policy weights were loaded with the model."""
        state = torch.load(path / "trainer.pt", weights_only=True)
        if self.ref is not None:
            self.dist.load_weights(self.ref, path / "reference.safetensors")
        if self.init is not None and (path / "initial.safetensors").is_file():
            if self.init is self.ref:  # saved after the reference's first refresh
                self.init = self.dist.frozen_copy(self.ref)
            self.dist.load_weights(self.init, path / "initial.safetensors")
        elif self.init is not self.ref:
            self.init = None  # a checkpoint from before kl_init: the initial policy is not in it
        self.dist.load_optimizer_state(self.model, self.opt, state)
        self.gen.set_state(state["generator"])
        self.steps_done, self.nonfinite_streak = state["steps_done"], state["nonfinite_streak"]

    @torch.no_grad()
    def _finite_logits(self, prompt: list[int]) -> bool:
        logits = self.model(torch.tensor([prompt], device=self.model.device)).logits  # (1, L, V)
        return bool(torch.isfinite(logits).all())

    def _logprobs(self, model, ro: Rollout, q: slice) -> torch.Tensor:
        """Log-probs without autograd (reference, or old policy when mu > 1), under inference mode
        (FSDP: no_grad; its all-gather buffers must stay ordinary tensors)."""
        G = self.cfg.group_size
        rows = slice(q.start * G, q.stop * G)
        with torch.no_grad() if self.dist.fsdp else torch.inference_mode():
            logp, _ = completion_logprobs(model, ro.prompt_ids[q], ro.completion_ids[rows],
                                          ro.completion_mask[rows], G, temperature=self.cfg.temperature)
        return logp.clone()  # (n, T): an ordinary tensor, usable in the loss's autograd graph


def set_threads(n: int) -> int:
    """n torch threads; 0: the cores shared among this machine's ranks (torchrun's LOCAL_WORLD_SIZE)."""
    n = n or max(1, (os.cpu_count() or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    torch.set_num_threads(n)
    return n


def _kl_to_initial(logp: list[torch.Tensor], init_logp: list[torch.Tensor],
                   masks: list[torch.Tensor]) -> list[float]:
    """k3 estimate of KL(pi_old || pi_init) over these rollout tokens (sampled from pi_old): [sum, token count]."""
    total = sum(kl_k3(lp, il, m)[0].sum() for lp, il, m in zip(logp, init_logp, masks, strict=True))  # ()
    return [float(total), float(sum(int(m.sum()) for m in masks))]


def _length_split(b: Batch) -> dict[str, float | None]:
    """Mean length of right and wrong rollouts, each split into finished and truncated at the cap."""
    lengths, right, cut = b.rollout.lengths, b.accuracy == 1, b.rollout.truncated  # (N,) each
    return {f"length_{name}_{end}": _masked_mean(lengths, keep & (cut if end == "truncated" else ~cut))
            for name, keep in (("correct", right), ("wrong", ~right)) for end in ("finished", "truncated")}


def _shuffled(rewards: torch.Tensor, seed: int, step: int) -> torch.Tensor:
    """The shuffled-reward control: the step's rewards permuted across all its responses, by a
    generator seeded from (seed, step), so a resumed run permutes alike and sampling is untouched."""
    gen = torch.Generator().manual_seed(seed * 1_000_003 + step)
    return rewards[torch.randperm(rewards.numel(), generator=gen)]  # (N,)


def _minibatches(n_questions: int, m: int) -> list[slice]:
    size = n_questions // m
    return [slice(i * size, (i + 1) * size) for i in range(m)]


def _masked_mean(x: torch.Tensor, keep: torch.Tensor) -> float | None:
    return x[keep].float().mean().item() if bool(keep.any()) else None


def mean(xs: list[float]) -> float | None:
    """The mean of `xs`; None when there is nothing to average."""
    return sum(xs) / len(xs) if xs else None


def _nanmean(t: torch.Tensor) -> float:
    v = t[~torch.isnan(t)]
    return v.mean().item() if v.numel() else float("nan")
