"""Named GRPO-family presets: `--algo grpo | dr_grpo | dapo | bnpo | gspo | cispo`, chosen once at setup.

A preset picks the advantage function, the policy loss and the loss aggregation (functions from
`r1lab.algos`, so the hot loss never branches on a name) and the defaults of the fields it owns.
Any of those fields set explicitly wins over the preset; the resolved values are what config.yaml records.

Advantages; policy loss; aggregation; clip ε_low / ε_high; β; dynamic sampling; overlong shaping; from:

- grpo: (r - mean) / (std + 1e-4) per group; token ratio, clipped; per-sequence token mean, then
  mean; 0.2 / 0.2; 0.04; no; no; DeepSeekMath arXiv 2402.03300 (β: its 0.04; R1 used 0.001).
- dr_grpo: r - group mean; token ratio, clipped; token sum / max_new_tokens, then mean; 0.2 / 0.2;
  0; no; no; Dr. GRPO arXiv 2503.20783.
- dapo: (r - mean) / (std + 1e-4) per group; token ratio, clipped; token mean over the batch;
  0.2 / 0.28; 0; yes; the last 1/4 of max_new_tokens; DAPO arXiv 2503.14476.
- bnpo: (r - group mean) / (batch std + 1e-4); token ratio, clipped; token mean over the batch;
  0.2 / 0.2; 0.04; no; no; batch-level normalisation (BNPO arXiv 2506.02864 / REINFORCE++-baseline
  style).
- gspo: (r - mean) / (std + 1e-4) per group; sequence ratio (geometric mean of the token ratios),
  clipped per sequence; per-sequence token mean, then mean; 3e-4 / 4e-4; 0; no; no; GSPO arXiv
  2507.18071.
- cispo: (r - mean) / (std + 1e-4) per group; clipped stop-gradient importance weight × log-prob;
  token mean over the batch; 1 / 4 (the weight in [0, 5]); 0; no; no; CISPO, MiniMax-M1 arXiv
  2506.13585.

Departures: DAPO's overlong buffer was 4,096 of 20,480 tokens (1/5); ours is 1/4 of a much
shorter limit. "bnpo" here means the batch-std advantage with token-mean aggregation; BNPO's
paper normalises with an adaptive Beta distribution, which is not implemented, and TRL's
loss_type "bnpo" names only the aggregation.

gspo: the paper's objective, 1/G Σ_i min(s_i A_i, clip(s_i) A_i) with the group-normalised
advantage and no KL term; the per-sequence token mean of the per-token form is exactly that.
ε is the paper's 3e-4 / 4e-4 (TRL's recommended GSPO setting too): a sequence ratio is a mean of
log-ratios, so it stays far closer to 1 than a token ratio, and GRPO's 0.2 would almost never clip
it. Measured on the built-in model with 4 minibatches (steps 1-7, seed 0): sequence ratios within
0.78-1.15, and 8-27% of tokens in clipped sequences, the order the paper reports for GSPO (~15%);
grpo's token clip at 0.2 acted on 0.05-0.4% of tokens in the same setting.

cispo: MiniMax-M1's objective normalises by the batch's token count (token mean) and has no KL
term; advantages are GRPO's group-normalised ones. The weight's clip is [1 - 1, 1 + 4] = [0, 5]:
no lower bound, as in the paper, and TRL's cap `epsilon_high=5.0` (TRL clamps ρ itself at 5).
On the built-in model with 4 minibatches token ratios stayed below 5 in steps 1-7 (max 3.9), so
the cap seldom acts there: cispo differs from grpo mainly in keeping the gradient of the tokens
that grpo's clip drops, and in its token-mean aggregation.
Dynamic sampling is off for both new presets, so that the ablation compares their losses at the
same rollout compute as grpo (DAPO's dynamic sampling costs 2-3x the generation here).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable

from torch import Tensor

from r1lab.algos import (
    batch_std_advantages,
    cispo_policy_loss,
    clipped_policy_loss,
    drgrpo_advantages,
    grpo_advantages,
    gspo_policy_loss,
    seq_mean_token_mean,
    seq_sum_constant,
    token_mean,
)

Advantages = Callable[[Tensor, int], tuple[Tensor, dict]]
# (logp, old_logp, advantages, mask, eps_low, eps_high) -> (per-token loss (N, T), metrics)
PolicyLoss = Callable[[Tensor, Tensor, Tensor, Tensor, float, float], tuple[Tensor, dict]]
Aggregate = Callable[[Tensor, Tensor], tuple[Tensor, dict]]


@dataclass(frozen=True)
class Preset:
    advantages: Advantages
    policy_loss: PolicyLoss
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

# aggregation -> the normaliser keyword it takes, computed from the mask of the WHOLE minibatch
# (all ranks' rows), so that each rank's share of the loss adds up to the one-process loss
_NORMALISERS: dict[str, Callable[[Tensor], dict]] = {
    "seq_mean_token_mean": lambda whole: {"num_seqs": max(whole.shape[0], 1)},
    "token_mean": lambda whole: {"num_tokens": whole.sum().clamp(min=1)},
    "seq_sum_constant": lambda whole: {"num_seqs": max(whole.shape[0], 1)},
}


def global_normaliser(aggregation: str) -> Callable[[Tensor], dict]:
    """whole-minibatch mask (n, T) -> the keyword arguments of AGGREGATIONS[aggregation]'s normaliser."""
    return _NORMALISERS[aggregation]


PRESETS: dict[str, Preset] = {
    "grpo": Preset(grpo_advantages, clipped_policy_loss, "seq_mean_token_mean", 0.2, None, 0.04, False, 0.0,
                   "DeepSeekMath arXiv 2402.03300"),
    "dr_grpo": Preset(drgrpo_advantages, clipped_policy_loss, "seq_sum_constant", 0.2, None, 0.0, False, 0.0,
                      "Dr. GRPO arXiv 2503.20783"),
    "dapo": Preset(grpo_advantages, clipped_policy_loss, "token_mean", 0.2, 0.28, 0.0, True, 0.25,
                   "DAPO arXiv 2503.14476"),
    "bnpo": Preset(batch_std_advantages, clipped_policy_loss, "token_mean", 0.2, None, 0.04, False, 0.0,
                   "batch-std normalisation"),
    "gspo": Preset(grpo_advantages, gspo_policy_loss, "seq_mean_token_mean", 3e-4, 4e-4, 0.0, False, 0.0,
                   "GSPO arXiv 2507.18071"),
    "cispo": Preset(grpo_advantages, cispo_policy_loss, "token_mean", 1.0, 4.0, 0.0, False, 0.0,
                    "CISPO, MiniMax-M1 arXiv 2506.13585"),
}
