"""Dynamic sampling bookkeeping: which groups carry signal, and merging groups across rollouts."""


import torch

from r1lab.rollout.engine import Rollout
from r1lab.tasks import Problem
from r1lab.train.batch import Batch, merge, refill

G = 2


def _batch(tag: str, rewards: list[float], width: int) -> Batch:
    """P = len(rewards) / G groups; group i's completion tokens are all 10*(i+1) + len(tag)."""
    P = len(rewards) // G
    ids = torch.zeros(P * G, width, dtype=torch.long)  # (N, width)
    mask = torch.zeros(P * G, width, dtype=torch.bool)  # (N, width)
    for r in range(P * G):
        n = 1 + r % width
        ids[r, :n], mask[r, :n] = 10 * (r // G + 1) + len(tag), True
    ro = Rollout([[r] for r in range(P)], G, ids, mask, mask.sum(-1), torch.zeros(P * G, dtype=torch.bool), "lean")
    t = torch.tensor(rewards)  # (N,)
    return Batch(ro, [Problem(f"{tag}{i}", "0", "t") for i in range(P)], [f"{tag}{r}" for r in range(P * G)],
                 t, t.clone(), t.clone(), reward_failures=1)


def test_merge_takes_the_picked_groups_and_pads_to_the_widest():
    a, b = _batch("a", [0, 1, 0, 0], width=2), _batch("bb", [1, 1, 0, 1], width=4)
    m = merge([a, b], [(1, 1), (0, 0)], pad_id=-1)
    assert [p.question for p in m.problems] == ["bb1", "a0"]
    assert m.texts == ["bb2", "bb3", "a0", "a1"]
    assert m.rewards.tolist() == [0, 1, 0, 1]
    assert m.rollout.completion_ids.shape == (4, 4)
    assert m.rollout.completion_ids[2].tolist() == [11, 0, -1, -1]  # a group 0: width 2, padded to 4
    assert m.rollout.completion_mask[2].tolist() == [True, False, False, False]
    assert m.rollout.prompt_ids == [[1], [0]] and m.reward_failures == 2


def test_refill_keeps_signal_and_tops_up_after_the_limit():
    first = _batch("a", [0, 0, 1, 0, 1, 1], width=3)  # groups: none, yes, none
    extras = iter([_batch("b", [0, 1, 0, 0, 0, 0], width=3), _batch("c", [0, 0, 0, 0, 0, 0], width=3)])
    merged, stats = refill(first, lambda: next(extras), max_rounds=2, pad_id=0)
    # a1 (informative), b0 (informative) then c has none: 2 rounds, still one short -> a0 tops up
    assert [p.question for p in merged.problems] == ["a1", "b0", "a0"]
    assert stats == {"resample_rounds": 2, "groups_short": 1, "reward_failures": 3}


def test_refill_stops_resampling_at_max_rounds():
    first = _batch("a", [0, 0, 0, 0], width=2)
    calls = []
    merged, stats = refill(first, lambda: calls.append(1) or _batch("b", [0, 0, 0, 0], width=2), 1, 0)
    assert len(calls) == 1 and stats["resample_rounds"] == 1 and stats["groups_short"] == 2
    assert [p.question for p in merged.problems] == ["a0", "a1"]
