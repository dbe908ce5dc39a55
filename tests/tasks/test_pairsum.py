"""The pair-search task (issue 15, design F) and its verifier: one right pair per problem."""

from itertools import combinations

import pytest

from r1lab.tasks import PairSum, get_task, take
from r1lab.verifiers import get_verifier, verify_pairsum


def test_every_problem_has_exactly_one_pair_and_difficulty_is_how_many_numbers():
    probs = take(get_task("pairsum"), "test", 300, seed=0)
    assert {p.meta["difficulty"] for p in probs} == {3, 4, 5, 6}
    for p in probs:
        nums, target = p.meta["numbers"], p.meta["target"]
        assert len(nums) == p.meta["difficulty"] == len(set(nums)) and max(nums) <= 15
        assert [x + y == target for x, y in combinations(nums, 2)].count(True) == 1
        assert p.question == f"Which two of {', '.join(map(str, nums))} add up to {target}?"
        assert verify_pairsum(f"<answer> {p.meta['solution']} </answer>", p.answer).score == 1.0
    assert get_task("pairsum").verifier == "pairsum" and isinstance(get_task("pairsum"), PairSum)


@pytest.mark.parametrize("answer, score", [
    ("12+4", 1.0), ("4 + 12", 1.0), ("12+4=16", 1.0), ("7+9", 0.0),  # 7+9 is 16, but 9 is not listed
    ("12+3", 0.0), ("8+8", 0.0), ("16", 0.0), ("12*4-32", 0.0), ("12+4+0", 0.0)])
def test_verifier_wants_two_listed_numbers_that_add_up(answer, score):
    reference = "[7, 3, 12, 4, 8] -> 16"
    grade = get_verifier("pairsum")(f"<think> x </think> <answer> {answer} </answer>", reference)
    assert grade.score == score
    assert verify_pairsum("12+4", reference).extracted is None  # no tag, no answer
    assert verify_pairsum("<answer>8+8</answer>", "[8, 8, 3] -> 16").score == 1.0  # two entries of the list
