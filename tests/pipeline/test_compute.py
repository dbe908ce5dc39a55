"""Compute accounting of distillation and RL: hand-worked numbers and a token-by-token reference count."""

from collections import Counter

import pytest

from r1lab.pipeline.compute import (
    BACKWARD_COST,
    Compute,
    generation_compute,
    grpo_step_compute,
    sft_compute,
    steps_for_budget,
)

PROMPTS = [10, 20]  # two questions
COMPLETIONS = [5, 7, 3, 1]  # G = 2 rollouts each: P = 30 prompt tokens, C = 16 completion tokens


def test_hand_worked_numbers():
    assert BACKWARD_COST == 2
    assert generation_compute(PROMPTS, COMPLETIONS) == Compute(forward=46)  # 30 + 16, prompts once
    assert sft_compute([100, 50]) == Compute(trained=150) and sft_compute([100, 50]).total == 450
    plain = grpo_step_compute(PROMPTS, COMPLETIONS)  # rollout 46 forward + one update over 46 tokens
    assert plain == Compute(forward=46, trained=46) and plain.total == 46 + 3 * 46 == 184
    assert grpo_step_compute(PROMPTS, COMPLETIONS, reference=True).total == 184 + 46
    assert grpo_step_compute(PROMPTS, COMPLETIONS, kl_init=True).total == 184 + 46
    two_epochs = grpo_step_compute(PROMPTS, COMPLETIONS, mu=2)  # old-policy forward + two updates
    assert two_epochs == Compute(forward=92, trained=92) and two_epochs.total == 368
    assert grpo_step_compute(PROMPTS, COMPLETIONS, num_minibatches=2).total == 184 + 46
    assert (Compute(1, 2) + Compute(3, 4)).as_dict() == {"forward_token_passes": 4, "trained_token_passes": 6,
                                                         "total": 4 + 18}


def _reference_grpo(prompts, completions, mu, reference, kl_init, old):
    """Count passes token by token: (forward passes, backward passes) per token id."""
    fwd, bwd = Counter(), Counter()
    tokens = [("p", i, t) for i, n in enumerate(prompts) for t in range(n)]
    tokens += [("c", j, t) for j, n in enumerate(completions) for t in range(n)]
    for tok in tokens:
        fwd[tok] += 1  # generation: prefill once per prompt (its group shares it), one decode pass per new token
    for _ in range(int(reference) + int(old) + int(kl_init)):
        for tok in tokens:
            fwd[tok] += 1
    for _ in range(mu):
        for tok in tokens:
            fwd[tok] += 1
            bwd[tok] += 1
    return sum(fwd.values()) + BACKWARD_COST * sum(bwd.values())


@pytest.mark.parametrize("mu,reference,kl_init", [(1, False, False), (1, True, False), (2, True, True),
                                                  (3, False, True)])
def test_grpo_step_against_a_token_by_token_count(mu, reference, kl_init):
    got = grpo_step_compute(PROMPTS, COMPLETIONS, mu=mu, reference=reference, kl_init=kl_init).total
    assert got == _reference_grpo(PROMPTS, COMPLETIONS, mu, reference, kl_init, old=mu > 1)


def test_steps_for_a_budget():
    assert steps_for_budget(1000, 184) == 5  # 5.43 steps: 5 is 80 short, 6 would be 104 over
    assert steps_for_budget(1000, 184, done=900) == 1  # 0.54 of a step left: one more
    assert steps_for_budget(1000, 184, done=920) == 0  # 0.43 left: stopping is closer
    assert steps_for_budget(1000, 184, done=1200) == 0
    with pytest.raises(ValueError):
        steps_for_budget(1000, 0)
