"""Training compute in token passes, for comparing distillation and RL on the same student.

The unit is one token through the model once, forward ("a forward token pass"). A backward pass
costs two forwards (the usual 6N-per-token rule: 2N forward, 4N backward), so a token that is
trained (forward and backward) counts three. `Compute.total` is that sum, in forward-equivalent
token passes; the parts are kept so both can be reported. FLOPs per pass differ between models:
a teacher's passes and a student's are counted in the same unit but not the same cost, and the
table says which model ran them.

What is counted, for the code as it runs (r1lab/rollout, r1lab/train):

* generation (`generation_compute`): each prompt once (prefill; the group of samples of one
  prompt shares its K/V), each generated token once (the decode step that feeds it);
* SFT (`sft_compute`): every token of every step's examples, forward and backward (packed, no
  padding; the prompt part of an example is forwarded and back-propagated, only its loss is masked);
* one GRPO step (`grpo_step_compute`): the rollout (generation), then per update epoch one forward
  and backward over each prompt once (the group shares its prefix: `packed_shared_prefix_hidden`)
  and every completion token; no-grad forwards over the same tokens for the reference (beta > 0),
  the old policy (mu > 1 or several minibatches) and, every `kl_every` steps, the initial policy
  when it is not the reference.

Not counted: evaluation (both arms are evaluated the same way), padding, and the teacher's own
training (as the paper does not count R1's training against the distilled models).
"""

from __future__ import annotations

from dataclasses import dataclass

BACKWARD_COST = 2  # forward-equivalents of one backward pass over a token


@dataclass(frozen=True)
class Compute:
    forward: int = 0  # token passes forward only (generation, no-grad log-probs)
    trained: int = 0  # token passes forward and backward

    @property
    def total(self) -> int:
        """Forward-equivalent token passes: forward + (1 + BACKWARD_COST) x trained."""
        return self.forward + (1 + BACKWARD_COST) * self.trained

    def __add__(self, other: Compute) -> Compute:
        return Compute(self.forward + other.forward, self.trained + other.trained)

    def as_dict(self) -> dict:
        return {"forward_token_passes": self.forward, "trained_token_passes": self.trained, "total": self.total}


def generation_compute(prompt_tokens: list[int], completion_tokens: list[int]) -> Compute:
    """Sampling completions: each prompt's tokens once, each generated token once."""
    return Compute(forward=sum(prompt_tokens) + sum(completion_tokens))


def sft_compute(step_tokens: list[int]) -> Compute:
    """SFT: every token of each step's examples forward and backward (`tokens` of sft's metrics rows)."""
    return Compute(trained=sum(step_tokens))


def grpo_step_compute(prompt_tokens: list[int], completion_tokens: list[int], *, mu: int = 1,
                      num_minibatches: int = 1, reference: bool = False, kl_init: bool = False) -> Compute:
    """One GRPO step: `prompt_tokens` per question, `completion_tokens` per rollout (all groups).

    `reference`: beta > 0 (a no-grad reference forward); `kl_init`: this step measures the KL to a
    separate frozen initial policy (one more no-grad forward)."""
    tokens = sum(prompt_tokens) + sum(completion_tokens)  # one pass over the step's sequences
    no_grad = int(reference) + int(mu > 1 or num_minibatches > 1) + int(kl_init)
    return generation_compute(prompt_tokens, completion_tokens) + Compute(forward=no_grad * tokens,
                                                                          trained=mu * tokens)


def steps_for_budget(budget: int, per_step: int, done: int = 0) -> int:
    """More steps to spend `budget - done` at `per_step` each: rounded to the nearest step (at least 0)."""
    if per_step <= 0:
        raise ValueError(f"per_step must be > 0, got {per_step}")
    return max(0, round((budget - done) / per_step))
