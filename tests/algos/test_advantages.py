import math

import pytest
import torch

from r1lab.algos import batch_std_advantages, drgrpo_advantages, grpo_advantages
from r1lab.algos.advantages import informative_groups

FNS = [grpo_advantages, drgrpo_advantages, batch_std_advantages]
NAN = float("nan")


def _ref(rewards, G, mode, eps=1e-4):
    """Slow loop reference. mode: 'grpo' | 'dr' | 'batch' (string branching is fine in a test)."""
    r = rewards.tolist()
    valid_all = [x for x in r if not math.isnan(x)]
    bm = sum(valid_all) / max(len(valid_all), 1)
    bstd = math.sqrt(sum((x - bm) ** 2 for x in valid_all) / max(len(valid_all) - 1, 1))
    out = []
    for p in range(len(r) // G):
        grp = r[p * G:(p + 1) * G]
        vals = [x for x in grp if not math.isnan(x)]
        if len(vals) < 2 or max(vals) == min(vals):
            out += [0.0] * G
            continue
        mean = sum(vals) / len(vals)
        std = math.sqrt(sum((x - mean) ** 2 for x in vals) / (len(vals) - 1))  # unbiased
        div = {"grpo": std + eps, "dr": 1.0, "batch": bstd + eps}[mode]
        out += [0.0 if math.isnan(x) else (x - mean) / div for x in grp]
    return torch.tensor(out, dtype=torch.float64)


def test_hand_worked_grpo():
    r = torch.tensor([1.0, 0, 0, 1, 1, 1, 1, 0])
    a, m = grpo_advantages(r, 4)
    # group 1: mean 0.5, deviations +-0.5, unbiased var = 4*0.25/3 = 1/3, std = 0.57735
    #   A = +-0.5 / (0.57735 + 1e-4) = +-0.86588
    # group 2: mean 0.75, deviations .25 .25 .25 -.75, var = (3*.0625 + .5625)/3 = .25, std = .5
    #   A = .25/.5001 = 0.49990, -.75/.5001 = -1.49970
    exp = [0.86588, -0.86588, -0.86588, 0.86588, 0.49990, 0.49990, 0.49990, -1.49970]
    torch.testing.assert_close(a, torch.tensor(exp), atol=1e-5, rtol=0)
    assert m["reward_mean"] == pytest.approx(5 / 8)
    assert m["frac_zero_std_groups"] == 0.0 and m["frac_reward_nan"] == 0.0


def test_hand_worked_drgrpo_and_batch_std():
    r = torch.tensor([1.0, 0, 0, 1, 1, 1, 1, 0])
    a, _ = drgrpo_advantages(r, 4)
    # r - group mean: group 1 mean 0.5, group 2 mean 0.75
    torch.testing.assert_close(a, torch.tensor([0.5, -0.5, -0.5, 0.5, 0.25, 0.25, 0.25, -0.75]))
    b, m = batch_std_advantages(r, 4)
    # batch mean 5/8 = .625; five 1s dev .375, three 0s dev -.625
    # sum sq = 5*.140625 + 3*.390625 = 1.875; /7 = .267857; std = .517549
    assert m["reward_std"] == pytest.approx(0.517549, abs=1e-6)
    torch.testing.assert_close(b, a / (0.517549 + 1e-4), atol=1e-5, rtol=0)


@pytest.mark.parametrize("fn", FNS)
def test_group_of_one_gives_zeros(fn):
    a, m = fn(torch.tensor([1.0, 0.0, 0.5]), 1)
    assert torch.equal(a, torch.zeros(3)) and m["frac_zero_std_groups"] == 1.0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("fn", FNS)
def test_all_equal_group_exact_zeros(fn, dtype):
    # in float64, mean(0.1, 0.1, 0.1) = 0.1 + 1.4e-17: a naive (r - mean) / (std + eps) gives ~1e-13, not 0
    r = torch.tensor([0.1, 0.1, 0.1, 0.7, 0.7, 0.7, 1.0, 0.0, 0.0], dtype=dtype)
    a, m = fn(r, 3)
    assert torch.equal(a[:6], torch.zeros(6, dtype=dtype))
    assert a[6] > 0 and a[7] < 0
    assert m["frac_zero_std_groups"] == pytest.approx(2 / 3)


def test_nan_rewards_excluded():
    r = torch.tensor([1.0, NAN, 0.0, NAN, NAN, NAN, NAN, NAN, 1.0, NAN, NAN, NAN])
    a, m = grpo_advantages(r, 4)
    # group 1 valid [1, 0]: mean .5, unbiased std sqrt(.5) = .70711, A = +-.5/.70721 = +-.70700
    torch.testing.assert_close(a[:4], torch.tensor([0.70700, 0.0, -0.70700, 0.0]), atol=1e-5, rtol=0)
    assert torch.equal(a[4:], torch.zeros(8))  # all-NaN group; group with one valid sample
    assert m["frac_reward_nan"] == pytest.approx(9 / 12)
    assert m["reward_mean"] == pytest.approx(2 / 3)
    assert all(math.isfinite(v) for v in m.values())
    for fn in FNS:
        out, met = fn(r, 4)
        assert torch.isfinite(out).all() and all(math.isfinite(v) for v in met.values())


@pytest.mark.parametrize("fn", FNS)
def test_all_nan_batch(fn):
    a, m = fn(torch.full((6,), NAN), 3)
    assert torch.equal(a, torch.zeros(6)) and all(math.isfinite(v) for v in m.values())


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("fn,mode", list(zip(FNS, ["grpo", "dr", "batch"], strict=True)))
def test_matches_loop_reference(seed, fn, mode):
    g = torch.Generator().manual_seed(seed)
    G = [1, 2, 4, 8, 16, 5][seed]
    P = 7
    r = torch.randint(0, 3, (P * G,), generator=g).double() / 2  # rewards in {0, .5, 1}: ties common
    r[torch.rand(P * G, generator=g) < 0.2] = NAN
    if G > 1:
        r[:G] = 0.3  # one all-equal group
    a, _ = fn(r, G)
    torch.testing.assert_close(a, _ref(r, G, mode), atol=1e-10, rtol=1e-10)


def test_integer_rewards_and_bad_shapes():
    a, _ = drgrpo_advantages(torch.tensor([1, 0, 1, 1]), 2)
    torch.testing.assert_close(a, torch.tensor([0.5, -0.5, 0.0, 0.0]))
    with pytest.raises(ValueError):
        grpo_advantages(torch.zeros(6), 4)
    with pytest.raises(ValueError):
        grpo_advantages(torch.zeros(2, 3), 3)


def test_informative_groups():
    nan = math.nan
    r = torch.tensor([0., 0., 1., 0., nan, 1., nan, nan, 2., 2., 0.5, nan])  # 6 groups of 2
    # group 1 differs; group 2 has one valid reward; 3 all NaN; 4 equal; 5 one valid
    assert informative_groups(r, 2).tolist() == [False, True, False, False, False, False]
    assert informative_groups(torch.tensor([0., 1., 1., 1., 3., 2.]), 3).tolist() == [True, True]
