"""The vLLM rollout backend where vLLM cannot run (no package, no GPU): `--rollout vllm` is a
one-line error naming what is missing, before any work; and the pure conversion of vLLM's
completions into a Rollout. The engine itself needs vllm and a CUDA GPU (docs/scaling.md)."""

import importlib.util
import math

import pytest
import torch

from r1lab.errors import UserError
from r1lab.rollout.engine import SamplingParams
from r1lab.rollout.vllm import check_available, to_rollout
from tests.helpers import assert_user_error, r1lab

pytestmark = pytest.mark.skipif(importlib.util.find_spec("vllm") is not None and torch.cuda.is_available(),
                                reason="vllm and a GPU are present: the backend can run here")


def test_rollout_vllm_without_vllm_is_one_line_naming_what_is_missing(tmp_path):
    res = r1lab("train", "--rollout", "vllm", "--output-dir", tmp_path / "run")
    missing = "vllm package" if importlib.util.find_spec("vllm") is None else "CUDA GPU"
    assert_user_error(res, "rollout vllm needs", missing)
    assert not (tmp_path / "run").exists()  # refused before the run directory or any compute
    with pytest.raises(UserError, match="vllm package|CUDA GPU"):
        check_available("cpu")


def test_to_rollout_cuts_at_stops_and_keeps_the_sampler_logprobs():
    params = SamplingParams(max_new_tokens=5, stop_sequences=((7, 8),))
    rows = [([4, 7, 8, 9], [-0.1, -0.2, -0.3, -0.4], "stop"),  # stop sequence 7 8: 3 tokens
            ([4, 5, 6, 4, 5], [-1.0] * 5, "length"),  # ran to max_tokens: truncated
            ([2], [-0.5], "stop"),  # eos (2)
            ([5, 5], [-0.7, -0.7], "stop")]  # vLLM stopped on a stop string we do not see in ids
    ro = to_rollout([[1, 2], [3]], 2, rows, params, [2], 0, torch.device("cpu"))
    assert ro.lengths.tolist() == [3, 5, 1, 2] and ro.truncated.tolist() == [False, True, False, False]
    assert ro.completion_ids[0].tolist() == [4, 7, 8, 0, 0] and ro.engine == "vllm"
    assert torch.allclose(ro.logprobs[0], torch.tensor([-0.1, -0.2, -0.3, 0.0, 0.0]))
    assert (ro.logprobs[~ro.completion_mask] == 0).all() and math.isclose(float(ro.logprobs[1].sum()), -5.0)
