"""Benchmark: seconds per GRPO step, r1lab's `GRPO.step` against TRL's `GRPOTrainer`, one process.

Needs TRL, which is an optional extra kept out of the core dependencies; install it in a
venv of its own (see docs/benchmarks.md):

    python3 -m venv .venv-bench && .venv-bench/bin/pip install torch==2.13.0
    .venv-bench/bin/pip install -e ".[bench]"
    .venv-bench/bin/python bench/bench_trl.py               # 3 warm-up + 8 timed steps each
    .venv-bench/bin/python bench/bench_trl.py --natural-eos # eos can be sampled: ragged lengths
    .venv-bench/bin/python bench/bench_trl.py --template-tokens  # ~20-token prompts instead of ~435

Both trainers get the same random-init Qwen2 (hidden 128, 4 layers, vocab 50, built and saved
locally, see _grpo_setup.py), the same R1-Zero prompts of the same arithmetic problems in the
same order (character tokens: about 435 per prompt; with --template-tokens the template's fixed
text is one token each side, about 20), and the same settings:

    8 prompts x G = 8 completions per step, at most 64 new tokens, temperature 1.0, top-p 1.0,
    no top-k, beta 0.04 (k3 KL against a frozen reference copy), epsilon 0.2, mu / num_iterations 1,
    one optimizer step per rollout, AdamW lr 2e-4 with 5 linear warm-up steps then constant,
    weight decay 0, grad-norm clip 1.0, per-token loss averaged per completion then over
    completions (TRL loss_type="grpo"), group-std advantages, fp32, no gradient checkpointing
    (TRL defaults to bf16 and gradient checkpointing: both are turned off here), no vLLM,
    no logging, no checkpoints, same torch thread count.

The reward is the same function for both: r1lab's rule reward (accuracy by the "number"
verifier + format), called by TRL as a reward function. By default eos is never sampled (the
model has no logit for it), so every completion is exactly 64 tokens in both trainers and the
two do the same work; the mean completion length of each is printed to show it.

What cannot match: r1lab also stops a row at the stop sequence "</answer>" (9 character tokens,
which a random model practically never emits: see the printed mean lengths); TRL's model runs
HF's SDPA attention, r1lab its own forward (same maths). TRL generates with `model.generate`
on the 64 prompt copies; r1lab prefills each prompt once and shares it (that is the method
being compared, not a setting).

The steps are interleaved: after each TRL step (a TrainerCallback) one r1lab step runs, so
background load hits both alike. Warm-up steps are excluded; the median step is reported, in
wall-clock and in process CPU time (steadier on a machine loaded by other work).
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import tempfile
import time

try:
    import trl
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, TrainerCallback
    from trl import GRPOConfig as TRLConfig
    from trl import GRPOTrainer
except ImportError as e:  # one clear line, no traceback
    sys.exit(f"bench_trl.py needs TRL ({e.name} is missing): pip install -e \".[bench]\" in a separate venv, "
             "see docs/benchmarks.md")

import torch
from _grpo_setup import build_model, char_tokenizer, problems, save

from r1lab.tasks import r1_zero_prompt
from r1lab.train.config import GRPOConfig
from r1lab.train.grpo import GRPO
from r1lab.verifiers.rewards import rule_rewards

VERIFIER = "number"


def rule_reward(prompts, completions, answer, **kwargs) -> list[float]:
    """TRL reward function: r1lab's own accuracy + format rule reward."""
    rewards, _, _, _ = rule_rewards(list(completions), list(answer), VERIFIER)
    return [float(r) for r in rewards]


class Interleave(TrainerCallback):
    """Times each TRL step (end of the previous step's callback -> this step's end) and runs one
    r1lab step after it."""

    def __init__(self, r1: GRPO, batches: list) -> None:
        self.r1, self.batches = r1, batches
        self.trl_s: list[float] = []
        self.r1_s: list[float] = []
        self.trl_cpu: list[float] = []
        self.r1_cpu: list[float] = []
        self.r1_len: list[float] = []
        self.trl_len: list[float] = []
        self.trainer = None  # set once the trainer exists: its per-step metrics give TRL's lengths
        self.mark = self.cpu_mark = 0.0

    def on_train_begin(self, args, state, control, **kwargs):
        self.mark, self.cpu_mark = time.perf_counter(), time.process_time()

    def on_step_end(self, args, state, control, **kwargs):
        self.trl_s.append(time.perf_counter() - self.mark)
        self.trl_cpu.append(time.process_time() - self.cpu_mark)
        self.trl_len.append(self.trainer._metrics["train"]["completions/mean_length"][-1])
        t0, c0 = time.perf_counter(), time.process_time()
        metrics, _ = self.r1.step(self.batches[len(self.r1_s)])
        self.r1_s.append(time.perf_counter() - t0)
        self.r1_cpu.append(time.process_time() - c0)
        self.r1_len.append(metrics["mean_length"])
        self.mark, self.cpu_mark = time.perf_counter(), time.process_time()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--group", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--beta", type=float, default=0.04)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--steps", type=int, default=8, help="timed steps per trainer")
    ap.add_argument("--warmup", type=int, default=3, help="untimed first steps per trainer")
    ap.add_argument("--natural-eos", action="store_true", help="let the model sample eos (ragged lengths)")
    ap.add_argument("--template-tokens", action="store_true",
                    help="the R1-Zero template's fixed text is one token each side: ~20-token prompts, not ~435")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch intra-op threads")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    total = args.warmup + args.steps

    probs = problems(args.prompts * total, args.seed)
    tok = char_tokenizer(problems(500, args.seed), template_tokens=args.template_tokens)
    model = build_model(tok, eos_sampled=args.natural_eos, seed=args.seed)
    n_params = sum(p.numel() for p in model.parameters())
    workdir = tempfile.mkdtemp(prefix="bench-trl-")
    save(model, tok, os.path.join(workdir, "init"))

    # r1lab: its own copy of the same initial weights
    cfg = GRPOConfig(algo="grpo", dynamic_sampling=False, prompts_per_step=args.prompts, group_size=args.group,
                     max_new_tokens=args.max_new_tokens,
                     beta=args.beta, temperature=1.0, top_p=1.0, lr=args.lr, warmup_steps=5, weight_decay=0.0,
                     epsilon=0.2, mu=1, num_minibatches=1, max_grad_norm=1.0, seed=args.seed)
    r1 = GRPO(cfg, copy.deepcopy(model), tok, VERIFIER)
    batches = [probs[i * args.prompts:(i + 1) * args.prompts] for i in range(total)]

    # TRL: policy loaded from the saved directory (its reference is loaded from the same path)
    policy = AutoModelForCausalLM.from_pretrained(os.path.join(workdir, "init"), dtype=torch.float32)
    data = Dataset.from_dict({"prompt": [r1_zero_prompt(p.question) for p in probs],
                              "answer": [p.answer for p in probs]})
    targs = TRLConfig(
        output_dir=os.path.join(workdir, "trl"), per_device_train_batch_size=args.prompts * args.group,
        gradient_accumulation_steps=1, num_generations=args.group, max_completion_length=args.max_new_tokens,
        temperature=1.0, top_p=1.0, top_k=0, beta=args.beta, num_iterations=1, epsilon=0.2, loss_type="grpo",
        scale_rewards="group", learning_rate=args.lr, lr_scheduler_type="constant_with_warmup", warmup_steps=5,
        weight_decay=0.0, max_grad_norm=1.0, max_steps=total, gradient_checkpointing=False, bf16=False,
        use_cpu=True, use_vllm=False, report_to="none", logging_strategy="no", save_strategy="no",
        disable_tqdm=True, log_completions=False, shuffle_dataset=False, dataloader_num_workers=0,
        seed=args.seed,
    )
    timer = Interleave(r1, batches)
    trainer = GRPOTrainer(model=policy, reward_funcs=rule_reward, args=targs, train_dataset=data,
                          processing_class=tok, callbacks=[timer])
    timer.trainer = trainer

    plen = [len(tok(r1_zero_prompt(p.question)).input_ids) for p in probs[:args.prompts]]
    print(f"model: Qwen2 hidden=128 layers=4 vocab={model.config.vocab_size} params={n_params:,} "
          f"| {args.prompts} prompts ({min(plen)}-{max(plen)} tokens) x G={args.group} "
          f"| max_new_tokens={args.max_new_tokens} | beta={args.beta} "
          f"| eos {'sampled' if args.natural_eos else 'never sampled'} "
          f"| threads={torch.get_num_threads()} | trl {trl.__version__}")
    trainer.train()

    res, cpu = {}, {}
    for name, secs, cpus, lens in (("TRL GRPOTrainer", timer.trl_s, timer.trl_cpu, timer.trl_len),
                                   ("r1lab GRPO", timer.r1_s, timer.r1_cpu, timer.r1_len)):
        timed = secs[args.warmup:]
        res[name], cpu[name] = statistics.median(timed), statistics.median(cpus[args.warmup:])
        mean_len = statistics.fmean(lens[args.warmup:]) if len(lens) > args.warmup else float("nan")
        print(f"{name:16s} {res[name]:7.3f} s/step  median of {len(timed)} "
              f"(min {min(timed):.3f}, max {max(timed):.3f}) "
              f"| process CPU {cpu[name]:.3f} s/step | mean completion length {mean_len:.1f}")
    print(f"speed-up r1lab / TRL: {res['TRL GRPOTrainer'] / res['r1lab GRPO']:.2f}x wall clock, "
          f"{cpu['TRL GRPOTrainer'] / cpu['r1lab GRPO']:.2f}x process CPU time")


if __name__ == "__main__":
    main()
