import pytest
import torch

from r1lab.algos import overlong_penalty


def test_hand_worked():
    # max_len 20, cache 4: safe up to 16, then (16 - L) / 4 down to -1 at 20, -1 beyond
    L = torch.tensor([10, 16, 17, 18, 19, 20, 21, 25])
    p, m = overlong_penalty(L, max_len=20, cache_len=4)
    # 17 -> -1/4, 18 -> -2/4, 19 -> -3/4, 20 -> -4/4
    torch.testing.assert_close(p, torch.tensor([0.0, 0.0, -0.25, -0.5, -0.75, -1.0, -1.0, -1.0]))
    # mean = -(0.25 + 0.5 + 0.75 + 1 + 1 + 1) / 8 = -4.5 / 8 = -0.5625
    exp = {"overlong_penalty_mean": -0.5625, "frac_penalized": 6 / 8, "frac_over_max": 2 / 8}
    assert m == pytest.approx(exp)


def test_zero_cache_is_hard_step_and_full_cache_is_linear():
    p, _ = overlong_penalty(torch.tensor([0, 19, 20, 21]), max_len=20, cache_len=0)
    torch.testing.assert_close(p, torch.tensor([0.0, 0.0, 0.0, -1.0]))
    # cache = max_len: -L / 20 from the start: 0, -0.5, -1, -1
    p, _ = overlong_penalty(torch.tensor([0, 10, 20, 30]), max_len=20, cache_len=20)
    torch.testing.assert_close(p, torch.tensor([0.0, -0.5, -1.0, -1.0]))


def _ref(length, max_len, cache_len):
    if length <= max_len - cache_len:
        return 0.0
    if length <= max_len:
        return ((max_len - cache_len) - length) / cache_len
    return -1.0


@pytest.mark.parametrize("seed", range(5))
def test_matches_loop_reference(seed):
    g = torch.Generator().manual_seed(seed)
    max_len, cache_len = [(64, 16), (100, 1), (50, 50), (30, 0), (4096, 1024)][seed]
    L = torch.randint(0, int(max_len * 1.3) + 2, (200,), generator=g)
    p, m = overlong_penalty(L, max_len, cache_len)
    ref = torch.tensor([_ref(int(x), max_len, cache_len) for x in L])
    torch.testing.assert_close(p, ref, atol=1e-6, rtol=0)
    assert m["overlong_penalty_mean"] == pytest.approx(float(ref.mean()), abs=1e-6)
    assert ((p >= -1) & (p <= 0)).all()


def test_float_lengths_and_edges():
    p, _ = overlong_penalty(torch.tensor([17.0, 18.5], dtype=torch.float64), 20, 4)
    assert p.dtype == torch.float64
    torch.testing.assert_close(p, torch.tensor([-0.25, -0.625], dtype=torch.float64))
    p, m = overlong_penalty(torch.zeros(0, dtype=torch.long), 20, 4)
    assert p.numel() == 0 and m["overlong_penalty_mean"] == 0.0
    for bad in [(0, 0), (20, 21), (20, -1)]:
        with pytest.raises(ValueError):
            overlong_penalty(torch.tensor([1]), *bad)
