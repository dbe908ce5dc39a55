"""Colocated vLLM rollouts (`--rollout vllm`), behind the same interface as r1lab's own engine.

A rollout backend has `generate(model, prompts, group_size, params, *, eos_token_id, pad_token_id,
seeds) -> Rollout` and `sync(model)`, called after every optimizer step. `LocalEngine`
(rollout/engine.py) reads the policy's weights directly, so its `sync` does nothing; `VLLMEngine`
holds a `vllm.LLM` in the trainer's own process (TRL's "colocate" mode) and:

* takes `gpu_memory_utilization` of the GPU (weights + KV cache); the trainer has the rest;
* with `sleep`, puts the engine to sleep after each rollout (level 1: weights offloaded to CPU,
  KV cache freed) so the update has the memory, and wakes it before the next;
* pushes the policy's weights after every optimizer step, one parameter at a time through the
  model runner's `load_weights([(name, tensor)])`; under FSDP2 each parameter is gathered
  (`full_tensor()`) just before it is pushed, so no rank ever holds a second full copy;
* returns the sampler's own per-token log-probs (`logprobs_mode="processed_logprobs"`: after
  temperature, what the trainer's log-probs at that temperature compare with) in
  `Rollout.logprobs`; the trainer corrects with truncated importance sampling
  (`r1lab.algos.tis`) and logs the mismatch every step.

Seeds: vLLM takes one seed per request, so each prompt's G samples come from its own seed, as in
the lean engine (but not the same draws: a different sampler). Stops: eos ids go in
`stop_token_ids`, the stop sequences as strings (`stop`, kept in the output), so vLLM stops on the
text, where the lean engine matches token ids; a row that vLLM ended is never "truncated".

Not tested here: no machine this project has used had vllm installed (it needs a CUDA GPU and its
wheels pin their own torch). `check_available` turns its absence into a one-line error.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence

import torch
from torch import nn

from r1lab.errors import UserError
from r1lab.rollout.engine import Rollout, SamplingParams, _eos_tensor, _finish, _first_stops, _stop_table


def check_available(device: str) -> None:
    """One-line errors for what `--rollout vllm` needs and this machine lacks."""
    if not _installed("vllm"):
        raise UserError("rollout vllm needs the vllm package, which is not installed (pip install vllm, on a "
                        "machine with a CUDA GPU; see docs/scaling.md), or use rollout lean")
    if device != "cuda" or not torch.cuda.is_available():
        raise UserError(f"rollout vllm needs a CUDA GPU (device {device!r}"
                        f"{'' if torch.cuda.is_available() else ', and no GPU is visible'}); use rollout lean")


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a broken or blocked install counts as missing
        return False


class VLLMEngine:
    name = "vllm"

    def __init__(self, model_path: str, tokenizer, dtype: str, memory: float, sleep: bool, seed: int,
                 external_launcher: bool = False):
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # the engine in this process: push by reference
        from vllm import LLM
        self.tok, self.sleep, self.sleeping, self.stale = tokenizer, sleep, False, False
        self.llm = LLM(model=model_path, dtype=dtype, gpu_memory_utilization=memory, enable_sleep_mode=sleep,
                       seed=seed, logprobs_mode="processed_logprobs",
                       distributed_executor_backend="external_launcher" if external_launcher else None)

    def sync(self, model: nn.Module) -> None:
        """The policy changed: push it before the next rollout (pushed at once unless asleep)."""
        self.stale = True
        if not self.sleeping:
            self._push(model)

    def generate(self, model: nn.Module, prompts: list[list[int]], group_size: int, params: SamplingParams, *,
                 eos_token_id: int | Sequence[int], pad_token_id: int, seeds: Sequence[int]) -> Rollout:
        from vllm import SamplingParams as VSP
        if self.sleeping:
            self.llm.wake_up()
            self.sleeping = False
        if self.stale:
            self._push(model)
        eos = [eos_token_id] if isinstance(eos_token_id, int) else list(eos_token_id)
        stops = [self.tok.decode(list(s)) for s in params.stop_sequences]
        per_prompt = [VSP(n=group_size, temperature=params.temperature, top_p=params.top_p,
                          max_tokens=params.max_new_tokens, logprobs=0, seed=int(s), stop_token_ids=eos,
                          stop=stops, include_stop_str_in_output=True) for s in seeds]
        outs = self.llm.generate([{"prompt_token_ids": p} for p in prompts], per_prompt, use_tqdm=False)
        rows = [(list(c.token_ids), _sampled_logprobs(c), c.finish_reason) for o in outs for c in o.outputs]
        ro = to_rollout(prompts, group_size, rows, params, eos, pad_token_id, model_device(model))
        if self.sleep:
            self.llm.sleep(level=1)
            self.sleeping = True
        return ro

    @torch.no_grad()
    def _push(self, model: nn.Module) -> None:
        target = _runner_model(self.llm)
        for name, p in model.named_parameters():
            full = p.full_tensor() if hasattr(p, "full_tensor") else p.detach()  # FSDP2: gather this one
            target.load_weights([(name, full)])
            del full
        self.stale = False


def model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _sampled_logprobs(completion) -> list[float]:
    """vLLM's per-token log-prob dicts (logprobs=0: the sampled token only) -> floats."""
    return [step[tok].logprob for tok, step in zip(completion.token_ids, completion.logprobs or [], strict=False)]


def to_rollout(prompts: list[list[int]], group: int, rows: list[tuple[list[int], list[float], str | None]],
               params: SamplingParams, eos: list[int], pad_id: int, device: torch.device) -> Rollout:
    """vLLM's completions (token ids, their sampling log-probs, finish reason), G per prompt in
    order, -> a Rollout with `logprobs`, cut at the first eos / stop sequence like the lean engine's."""
    n, t = len(rows), max((len(ids) for ids, _, _ in rows), default=0)
    gen = torch.full((n, max(t, 1)), pad_id, dtype=torch.long)  # (N, T)
    logp = torch.zeros((n, max(t, 1)), dtype=torch.float32)  # (N, T)
    for i, (ids, lps, _) in enumerate(rows):
        gen[i, :len(ids)] = torch.tensor(ids, dtype=torch.long)
        logp[i, :len(lps)] = torch.tensor(lps, dtype=torch.float32)
    got = torch.tensor([len(ids) for ids, _, _ in rows], dtype=torch.long)  # (N,)
    stop_ids, stop_valid = _stop_table(params.stop_sequences, torch.device("cpu"))
    lengths, stopped = _first_stops(gen, _eos_tensor(eos, torch.device("cpu")), stop_ids, stop_valid)  # (N,)
    lengths = torch.minimum(lengths, got)
    ended = torch.tensor([reason == "stop" for _, _, reason in rows], dtype=torch.bool)  # vLLM stopped the row
    out = _finish(prompts, group, gen, lengths, stopped | ended, pad_id, "vllm")
    width = out.completion_ids.shape[1]
    out = out._replace(logprobs=logp[:, :width].masked_fill(~out.completion_mask, 0.0))
    fields = ("completion_ids", "completion_mask", "lengths", "truncated", "logprobs")
    return out._replace(**{f: getattr(out, f).to(device) for f in fields})


def _runner_model(llm) -> nn.Module:
    """The nn.Module inside an in-process vLLM engine (V1 and V0 layouts)."""
    executor = llm.llm_engine.model_executor
    for path in ("driver_worker.worker.model_runner.model", "driver_worker.model_runner.model"):
        obj = executor
        try:
            for attr in path.split("."):
                obj = getattr(obj, attr)
            return obj
        except AttributeError:
            continue
    raise UserError("cannot reach the model inside vLLM to push weights (a vLLM version this code does not know; "
                    "VLLM_ENABLE_V1_MULTIPROCESSING=0 must keep the engine in this process)")
