"""Named GRPO-family presets: `--algo grpo | dr_grpo | dapo | bnpo`, chosen once at setup.

A preset picks the advantage function and the loss aggregation (functions from `r1lab.algos`,
so the hot loss never branches on a name) and the defaults of the fields it owns. Any of those
fields set explicitly wins over the preset; the resolved values are what config.yaml records.

Advantages; aggregation; clip ε_low / ε_high; β; dynamic sampling; overlong shaping; from:

- grpo: (r - mean) / (std + 1e-4) per group; per-sequence token mean, then mean; 0.2 / 0.2; 0.04;
  no; no; DeepSeekMath arXiv 2402.03300 (β: its 0.04; R1 used 0.001).
- dr_grpo: r - group mean; token sum / max_new_tokens, then mean; 0.2 / 0.2; 0; no; no;
  Dr. GRPO arXiv 2503.20783.
- dapo: (r - mean) / (std + 1e-4) per group; token mean over the batch; 0.2 / 0.28; 0; yes;
  the last 1/4 of max_new_tokens; DAPO arXiv 2503.14476.
- bnpo: (r - group mean) / (batch std + 1e-4); token mean over the batch; 0.2 / 0.2; 0.04; no; no;
  batch-level normalisation (BNPO arXiv 2506.02864 / REINFORCE++-baseline style).

Departures: DAPO's overlong buffer was 4,096 of 20,480 tokens (1/5); ours is 1/4 of a much
shorter limit. "bnpo" here means the batch-std advantage with token-mean aggregation; BNPO's
paper normalises with an adaptive Beta distribution, which is not implemented, and TRL's
loss_type "bnpo" names only the aggregation.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable

from torch import Tensor

from r1lab.algos import (
    batch_std_advantages,
    drgrpo_advantages,
    grpo_advantages,
    seq_mean_token_mean,
    seq_sum_constant,
    token_mean,
)

Advantages = Callable[[Tensor, int], tuple[Tensor, dict]]
Aggregate = Callable[[Tensor, Tensor], tuple[Tensor, dict]]


@dataclass(frozen=True)
class Preset:
    advantages: Advantages
    aggregation: str  # a key of AGGREGATIONS
    epsilon: float
    epsilon_high: float | None  # None: the same as epsilon (a symmetric clip)
    beta: float
    dynamic_sampling: bool
    overlong_fraction: float  # overlong buffer as a fraction of max_new_tokens (0: off)
    paper: str


AGGREGATIONS: dict[str, Callable[[int], Aggregate]] = {
    "seq_mean_token_mean": lambda max_new_tokens: seq_mean_token_mean,
    "token_mean": lambda max_new_tokens: token_mean,
    "seq_sum_constant": lambda max_new_tokens: partial(seq_sum_constant, constant=float(max_new_tokens)),
}

PRESETS: dict[str, Preset] = {
    "grpo": Preset(grpo_advantages, "seq_mean_token_mean", 0.2, None, 0.04, False, 0.0,
                   "DeepSeekMath arXiv 2402.03300"),
    "dr_grpo": Preset(drgrpo_advantages, "seq_sum_constant", 0.2, None, 0.0, False, 0.0, "Dr. GRPO arXiv 2503.20783"),
    "dapo": Preset(grpo_advantages, "token_mean", 0.2, 0.28, 0.0, True, 0.25, "DAPO arXiv 2503.14476"),
    "bnpo": Preset(batch_std_advantages, "token_mean", 0.2, None, 0.04, False, 0.0, "batch-std normalisation"),
}
